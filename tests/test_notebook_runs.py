"""A notebook that trains with a progress bar passes nbval, twice; a raising one fails.

Progress bars write widget and carriage-return output that must neither break nbval
nor make two runs differ in what nbval compares. The notebook is executed once to
store its outputs; ``pytest --nbval-lax`` then re-executes it and compares the cell
marked ``# NBVAL_CHECK_OUTPUT``, the rounded final loss, with the stored output.
"""

import subprocess
import sys

import nbformat
from nbclient import NotebookClient

TRAIN = """\
import torch
import nodecourse as nc

nc.seed_everything(0)
x = torch.linspace(-1, 1, 32)[:, None]
model = torch.nn.Linear(1, 1)
history = nc.fit(model, lambda: ((model(x) - 2 * x) ** 2).mean(), epochs=50,
                 lr=0.1, progress=True)
"""
REPORT = """\
# NBVAL_CHECK_OUTPUT
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
    NotebookClient(
        nb, timeout=120, resources={"metadata": {"path": path.parent}}
    ).execute()
    nbformat.write(nb, path)
    return nb


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
    nb = _notebook(good, TRAIN, REPORT)
    train_output = str(nb.cells[0].outputs)
    assert "widget-view" in train_output or "it/s" in train_output, (
        f"the training cell showed no progress bar: {train_output[:300]}"
    )
    loss_text = nb.cells[1].outputs[0]["text"]
    for run in (1, 2):
        result = _nbval(good)
        assert result.returncode == 0, f"run {run}:\n{result.stdout}{result.stderr}"

    # The rounded loss is compared: a stored value that differs fails.
    nb.cells[1].outputs[0]["text"] = f"{float(loss_text) + 1:.3f}\n"
    wrong = tmp_path / "wrong.ipynb"
    nbformat.write(nb, wrong)
    result = _nbval(wrong)
    assert result.returncode != 0, result.stdout

    # A cell that raises fails the notebook.
    nb.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("deliberate")'))
    nb.cells[1].outputs[0]["text"] = loss_text
    bad = tmp_path / "broken.ipynb"
    nbformat.write(nb, bad)
    result = _nbval(bad)
    assert result.returncode != 0 and "deliberate" in result.stdout
