"""The whole repository, notebooks included, passes ruff's linter and formatter."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"]
)
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"`ruff {' '.join(command)}` failed (fix with `ruff check --fix .` and "
        f"`ruff format .`):\n{result.stdout}{result.stderr}"
    )
