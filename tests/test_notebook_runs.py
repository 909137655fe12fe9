"""A notebook that trains with a progress bar passes nbval, twice; a raising one fails.

Progress bars write widget and carriage-return output that must neither break nbval
nor make two runs differ in what nbval compares.
"""

import subprocess
import sys

import nbformat

TRAIN = """\
import torch
import nodecourse as nc

nc.seed_everything(0)
x = torch.linspace(-1, 1, 32)[:, None]
model = torch.nn.Linear(1, 1)
history = nc.fit(model, lambda: ((model(x) - 2 * x) ** 2).mean(), epochs=50,
                 lr=0.1, progress=True)
print(round(history.loss[-1], 3))
"""


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)


def _nbval(path):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--nbval-lax",
            "--nbval-current-env",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )


def test_progress_bar_notebook_passes_twice_and_an_error_fails(tmp_path):
    good = tmp_path / "train.ipynb"
    _notebook(good, TRAIN)
    for run in (1, 2):
        result = _nbval(good)
        assert result.returncode == 0, f"run {run}:\n{result.stdout}{result.stderr}"
    bad = tmp_path / "broken.ipynb"
    _notebook(bad, TRAIN, 'raise RuntimeError("deliberate")')
    result = _nbval(bad)
    assert result.returncode != 0 and "deliberate" in result.stdout
