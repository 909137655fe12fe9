"""The benchmark harness still writes its tables (tiny sizes; no timing is checked)."""

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location(
        "harness", ROOT / "benchmarks" / "harness.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_report_has_every_table_and_the_machine(harness, tmp_path):
    out = tmp_path / "RESULTS.md"
    assert harness.main(["--quick", "--output", str(out)]) == 0
    text = out.read_text()
    for heading in (
        "## Machine",
        "## 1. Book execution",
        "### Profile of the slowest notebook's heaviest cell",
        "## 2. Teaching solvers against torchdiffeq",
        "## 3. Adjoint against backpropagation",
        "## 4. SODE sweep",
        "## 5. GPU",
    ):
        assert heading in text, heading
    for key in ("| CPU |", "| torch |", "| torchdiffeq |", "| python |", "| CUDA |"):
        assert key in text, key
    assert "Quick mode" in text
    assert "| quick.ipynb |" in text
    # The solver table: three comparisons in two dtypes, and the exact solution.
    assert text.count("| nc.rk4 vs classic RK4") == 2
    assert "| torchdiffeq `rk4` (3/8 rule) |" in text
    # The adjoint table: three methods at each of the two quick step counts.
    assert text.count("| backprop | ") == 3  # two rows and the growth row
    if not torch.cuda.is_available():
        assert "not measured (no CUDA device on this machine)" in text


def test_sode_row_comes_from_run_or_says_not_available(harness, tmp_path):
    missing = harness.bench_sode(tmp_path / "sode_sweep.py", 1, harness.LoadWatch())
    assert "not available" in missing

    fake = tmp_path / "sode_sweep.py"
    fake.write_text(
        "def run(repeats=3):\n"
        "    return {'slice': 'riccati n=2', 'batched_s': 0.5,\n"
        "            'reference_s': 2.0, 'ratio': 4.0 * repeats}\n"
    )
    table = harness.bench_sode(fake, 2, harness.LoadWatch())
    assert "| riccati n=2 | 0.500 | 2.000 | 8.00 |" in table


def test_toc_notebooks_are_the_chapters_listed(harness):
    notebooks = harness.toc_notebooks()
    assert notebooks, "no chapter notebook found through _toc.yml"
    assert all(p.suffix == ".ipynb" and p.exists() for p in notebooks)
    assert sorted(notebooks) == sorted((ROOT / "chapters").glob("*.ipynb"))


def test_markdown_table_escapes_pipes(harness):
    table = harness.md_table(["a", "b"], [["x | y", 1]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x \\| y | 1 |"]
