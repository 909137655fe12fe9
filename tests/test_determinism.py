"""Every notebook seeds itself before it computes anything.

Together with one thread per process (the Makefile sets OMP_NUM_THREADS=1), a seed
set in the setup cell makes two executions of a notebook print the same numbers.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p
    for p in (ROOT / "chapters").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
SEED_CALL = re.compile(r"^\s*(?:nc\.|nodecourse\.)?seed_everything\(\s*\w+\s*\)", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_setup_cell_seeds_everything(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    # Code cells 0, 1, 2: the install cell, the imports cell, the setup cell.
    assert len(code) >= 3, f"{path.name}: fewer than three code cells"
    assert SEED_CALL.search(code[2]), (
        f"{path.name}: the setup cell (third code cell) must call "
        f"nc.seed_everything(SEED); it starts {code[2][:60]!r}"
    )
    before = "\n".join(code[:2])
    for call in ("torch.rand", "np.random", "torch.manual_seed", "random."):
        assert call not in before, f"{path.name}: {call} used before the seed is set"


def test_a_notebook_without_a_seed_is_caught(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in ("pass", "import torch", "x=1")]
    path = tmp_path / "unseeded.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssertionError, match="must call"):
        test_the_setup_cell_seeds_everything(path)
