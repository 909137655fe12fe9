# Build the nodecourse website and run its tests on a machine with only python3.
# `make book` and `make test` create (or reuse) the virtual environment in $(VENV)
# and install requirements.txt and the package; the install re-runs only when
# requirements.txt or pyproject.toml change.

VENV ?= .venv
PY = $(VENV)/bin/python
PYTHON3 ?= python3
STAMP = $(VENV)/.installed
WORKERS ?= 2
# The build treats Sphinx warnings as errors (after reporting them all); run
# `make book BOOK_FLAGS=` to see a page despite its warnings.
BOOK_FLAGS ?= -W --keep-going

# One thread per process: two torch processes with default threading on a
# 2-core machine run many times slower than single-threaded ones.
export OMP_NUM_THREADS = 1
export MKL_NUM_THREADS = 1
# Keep the package's progress bars out of built pages and logs.
export NODECOURSE_PROGRESS = 0
# MPLBACKEND is deliberately left unset: notebook kernels inherit it, and
# MPLBACKEND=Agg would replace the inline backend and drop every figure.
# Find the venv's `python3` kernel before any user-wide kernelspec of that name.
export JUPYTER_PATH = $(abspath $(VENV))/share/jupyter
# Silence debugpy's "frozen modules" warning at every kernel start.
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: install book test lint bench lab clean

# The one step that needs the network; `book` and `test` run offline after it.
install: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build --all $(BOOK_FLAGS) .

# The tests include the built website, checked in headless Chromium
# (tests/test_site.py), so `make test` builds the book first. Building it executes
# every notebook once and keeps the executed copies in $(EXECUTED); nbval then
# executes each copy again in a fresh kernel and compares every text output with
# the first execution's, so a notebook that prints different numbers on a second
# run fails. Cells whose output is a measured time are tagged nbval-ignore-output.
EXECUTED = _build/jupyter_execute/chapters
test: book
	$(PY) tests/executed_copies.py $(EXECUTED)
	$(PY) -m pytest tests $(EXECUTED) --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout=300 -n $(WORKERS) --dist loadscope

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Measure the course's speed and write benchmarks/RESULTS.md (about 3 minutes on
# 2 CPU cores; `make bench BENCH_FLAGS=--book-build` also times the whole build).
BENCH_FLAGS ?=
bench: $(STAMP)
	$(PY) benchmarks/harness.py $(BENCH_FLAGS)

# Open the chapters in JupyterLab, with the package's progress bars on
# (e.g. `make lab LAB_FLAGS=--no-browser`).
LAB_FLAGS ?=
lab: $(STAMP)
	env -u NODECOURSE_PROGRESS $(VENV)/bin/jupyter lab $(LAB_FLAGS) chapters

clean:
	rm -rf _build .pytest_cache .ruff_cache

$(PY):
	$(PYTHON3) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install -e .
	touch $@
