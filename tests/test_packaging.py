"""The package installs from a plain (non-editable) build, as Colab installs it."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_every_module(tmp_path):
    # Build from a copy, so that setuptools' build/ folder stays out of the repo.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "nodecourse",
        source / "nodecourse",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("nodecourse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        p.relative_to(ROOT).as_posix()
        for pattern in ("*.py", "*.json")  # modules, and the results chapters load
        for p in (ROOT / "nodecourse").rglob(pattern)
    }
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)}"


def test_dependencies_stay_loose_for_colab():
    # A pinned torch would replace Colab's preinstalled build on every install.
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in deps["dependencies"]:
        assert "==" not in dep and "<" not in dep, (
            f"pyproject.toml pins {dep!r}; keep the package's dependencies to lower "
            "bounds so that Colab reuses its own torch (pin in requirements.txt)"
        )
