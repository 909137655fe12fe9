"""Run the course's benchmarks and write ``benchmarks/RESULTS.md``.

Run from the repository root (``make bench`` does this with the course's venv)::

    python benchmarks/harness.py                 # about 10 minutes on 2 CPU cores
    python benchmarks/harness.py --book-build    # also time `jupyter-book build --all`
    python benchmarks/harness.py --quick --output /tmp/RESULTS.md  # tiny sizes

Five benchmarks, each a table in RESULTS.md:

1. book execution: each chapter notebook listed in ``_toc.yml`` executed from a fresh
   kernel (nbclient), its wall time and its three slowest cells; the slowest notebook's
   heaviest cell is then run again under cProfile;
2. the teaching solvers ``nc.rk4`` and ``nc.euler`` against torchdiffeq's fixed-grid
   methods with the same steps;
3. backpropagation through the solver against the adjoint (``adjoint_memory.py``);
4. the SODE sweep, batched against one at a time (``sode_sweep.py``, where it exists);
5. a batched Neural-ODE training step on the CPU and, where CUDA exists, on the GPU.

Every comparison is a ratio of two medians measured in the same process, the two
sides timed in alternation so that a change of load hits both. Nothing here asserts
a timing: budgets and targets are reported as held or missed. ``--quick`` runs every
code path on tiny sizes (and a two-cell notebook) to check that the tables are still
written; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib.metadata
import importlib.util
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
import yaml
from nbclient import NotebookClient
from torchdiffeq import odeint
from torchdiffeq._impl.rk_common import rk4_step_func
from torchdiffeq._impl.solvers import FixedGridODESolver

ROOT = Path(__file__).resolve().parent.parent
# Measure this checkout's package, here and in the notebook kernels started below,
# whatever copy of it the environment has installed.
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
)

import nodecourse as nc  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
NOTEBOOK_BUDGET_S = 90.0
BOOK_BUDGET_S = 12 * 60.0
SOLVER_TARGET = 1.1
NO_CUDA = "not measured (no CUDA device on this machine)"


# ---------------------------------------------------------------- helpers


def load_module(path: Path, name: str):
    """Import a benchmark script from its path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def md_table(headers, rows) -> str:
    """A Markdown table; cells are converted with ``str`` and ``|`` escaped."""

    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paired_medians(fns, repeats: int, device=None) -> list[float]:
    """Median seconds of each function, timed in alternation after one warm-up each."""
    device = torch.device("cpu") if device is None else device
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            gc.collect()
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


class LoadWatch:
    """The 1-minute load average, sampled at the start and after each benchmark."""

    def __init__(self):
        self.samples = []
        self.sample("start")

    def sample(self, where: str) -> None:
        if hasattr(os, "getloadavg"):
            self.samples.append((where, os.getloadavg()[0]))
        # Progress on stderr, so that a run of minutes shows where it is.
        print(f"bench: {where}", file=sys.stderr, flush=True)

    @property
    def peak(self) -> float | None:
        return max((v for _, v in self.samples), default=None)


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cuda = torch.cuda.is_available()
    return {
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPU": cpu,
        "CPU cores (os.cpu_count)": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchdiffeq": version("torchdiffeq"),
        "nbclient": version("nbclient"),
        "jupyter-book": version("jupyter-book"),
        "CUDA": torch.cuda.get_device_name(0) if cuda else "no CUDA device",
        "nodecourse measured": str(Path(nc.__file__).parent),
    }


# ---------------------------------------------------------------- 1. book


def toc_notebooks(toc: Path = ROOT / "_toc.yml") -> list[Path]:
    """The notebooks under chapters/ that ``_toc.yml`` lists, in its order."""
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(toc.read_text()))
    paths = [toc.parent / (f if f.endswith(".ipynb") else f + ".ipynb") for f in files]
    return [p for p in paths if p.parent.name == "chapters" and p.exists()]


def _cell_seconds(cell) -> float | None:
    timing = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return None
    start, end = (
        dt.datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
        for k in ("iopub.execute_input", "shell.execute_reply")
    )
    return (end - start).total_seconds()


def _first_line(source: str) -> str:
    line = next((s for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def execute_notebook(path: Path, timeout: int = 600) -> dict:
    """Execute a notebook from a fresh kernel, in its own folder; time it and its cells.

    Returns ``{"seconds", "cells"}`` with ``cells`` a list of
    ``(seconds, index, first line)``, slowest first. The wall time includes the
    kernel's start.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    cells = [
        (s, i, _first_line(cell.source))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (s := _cell_seconds(cell)) is not None
    ]
    cells.sort(reverse=True)
    return {"seconds": seconds, "cells": cells}


PROFILE_START = """\
import cProfile as _bench_cprofile
_bench_profile = _bench_cprofile.Profile()
_bench_profile.enable()
"""

PROFILE_END = """\
import io as _bench_io, pstats as _bench_pstats
_bench_out = _bench_io.StringIO()
_bench_pstats.Stats(_bench_profile, stream=_bench_out).sort_stats(
    "{sort}"
).print_stats({lines})
print(_bench_out.getvalue())
"""


def profile_cell(path: Path, index: int, lines: int = 40, timeout: int = 600) -> dict:
    """Run a notebook up to cell ``index`` in a fresh kernel, profiling that cell.

    The cells before it run unprofiled; the cell runs with cProfile started before
    its first line and stopped after its last. Returns the pstats listings sorted by
    cumulative and by internal time.
    """
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells[:index] if c.cell_type == "code"]
    # One cell: start the profiler, the cell's own code, stop it; so that the
    # kernel's work between cells (messages, polling) stays out of the profile.
    cells.append(
        nbformat.v4.new_code_cell(
            PROFILE_START + nb.cells[index].source + "\n_bench_profile.disable()\n"
        )
    )
    for sort in ("cumulative", "tottime"):
        source = PROFILE_END.format(sort=sort, lines=lines)
        cells.append(nbformat.v4.new_code_cell(source))
    nb.cells = cells
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()

    def text(cell):
        return "".join(o.get("text", "") for o in cell.outputs if o.get("text"))

    return {"cumulative": text(nb.cells[-2]), "tottime": text(nb.cells[-1])}


# Frames of the kernel's own machinery, around every cell; left out of the listing.
_KERNEL_FRAMES = (
    "ipykernel/",
    "IPython/",
    "asyncio/",
    "tornado/",
    "_contextvars",
    "'send' of 'coroutine'",
    "builtins.exec",
)


def _trim_profile(listing: str, rows: int) -> str:
    """The header and first ``rows`` entries of a pstats listing, paths shortened.

    The kernel's frames (ipykernel, IPython, asyncio) that wrap every cell are left
    out, so the listing starts at the cell's own code.
    """
    out, seen = [], 0
    for line in listing.splitlines():
        if any(frame in line for frame in _KERNEL_FRAMES):
            continue
        for prefix in (str(ROOT), sys.prefix, sys.base_prefix):
            line = line.replace(prefix + "/", "")
        line = line.replace("lib/python" + sys.version[:4] + "/site-packages/", "")
        if line.strip().startswith("ncalls"):
            seen = 1
            out.append(line)
            continue
        if seen and line.strip():
            out.append(line)
            seen += 1
            if seen > rows:
                break
        elif not seen and "function calls" in line:
            out.append(line.strip())
    return "\n".join(out)


def bench_book(notebooks, *, book_build: bool, profile: bool, load) -> str:
    rows, results = [], {}
    for path in notebooks:
        r = execute_notebook(path)
        results[path] = r
        load.sample(path.name)
        slow = "; ".join(f"#{i} {s:.1f} s `{line}`" for s, i, line in r["cells"][:3])
        rows.append(
            [
                path.name,
                f"{r['seconds']:.1f}",
                "holds" if r["seconds"] < NOTEBOOK_BUDGET_S else "MISSED",
                slow,
            ]
        )
    total = sum(r["seconds"] for r in results.values())
    over = [p.name for p, r in results.items() if r["seconds"] >= NOTEBOOK_BUDGET_S]
    if over:
        verdict = f"**missed** by {len(over)} of {len(rows)} ({', '.join(over)})"
    else:
        verdict = f"**holds** for all {len(rows)}"
    parts = [
        "Each notebook executed once from a fresh kernel (nbclient, kernel `python3`, "
        "working directory `chapters/`); wall time includes the kernel's start. Cell "
        "numbers count every cell of the notebook from 0, markdown included; a cell's "
        "time is the kernel's (execute_input to execute_reply).",
        "",
        md_table(
            [
                "notebook",
                "wall s",
                f"budget < {NOTEBOOK_BUDGET_S:.0f} s",
                "three slowest cells",
            ],
            rows,
        ),
        "",
        f"Budget of {NOTEBOOK_BUDGET_S:.0f} s per notebook: {verdict}. "
        f"Sum of the notebooks' execution: {total:.0f} s.",
    ]
    if book_build:
        seconds = build_book()
        load.sample("book build")
        verdict = "holds" if seconds < BOOK_BUDGET_S else "missed"
        parts.append(
            f"Whole book, `jupyter-book build --all`: {seconds:.0f} s; "
            f"budget {BOOK_BUDGET_S / 60:.0f} min **{verdict}**."
        )
    else:
        verdict = "within" if total < BOOK_BUDGET_S else "beyond"
        parts.append(
            "Whole book build: not run (pass `--book-build`, or `make bench "
            "BENCH_FLAGS=--book-build`; it executes every notebook again and takes "
            f"minutes). Its notebooks alone take {total:.0f} s, {verdict} the "
            f"{BOOK_BUDGET_S / 60:.0f}-minute budget; Sphinx adds the rest."
        )
    if profile and results:
        slowest = max(results, key=lambda p: results[p]["seconds"])
        seconds, index, line = results[slowest]["cells"][0]
        listing = profile_cell(slowest, index)
        load.sample("profile")
        parts += [
            "",
            f"### Profile of the slowest notebook's heaviest cell: "
            f"{slowest.name}, cell #{index} ({seconds:.1f} s, `{line}`)",
            "",
            "cProfile in a fresh kernel after the cells before it ran unprofiled "
            "(profiling slows Python-heavy code, so its times exceed the cell's). "
            "Sorted by cumulative time:",
            "",
            "```text",
            _trim_profile(listing["cumulative"], 15),
            "```",
            "",
            "Sorted by internal time:",
            "",
            "```text",
            _trim_profile(listing["tottime"], 10),
            "```",
        ]
    return "\n".join(parts)


def build_book() -> float:
    """Seconds of `jupyter-book build --all` of the repository (into its _build)."""
    jb = Path(sys.executable).parent / "jupyter-book"
    start = time.perf_counter()
    subprocess.run([str(jb), "build", "--all", str(ROOT)], check=True, cwd=ROOT)
    return time.perf_counter() - start


# ---------------------------------------------------------------- 2. solvers


class ClassicRK4(FixedGridODESolver):
    """torchdiffeq's classic RK4 step (``rk4_step_func``) on its fixed grid.

    torchdiffeq's method ``"rk4"`` steps with Kutta's 3/8 rule
    (``rk4_alt_step_func``); its classic fourth-order step is in the package but
    not registered as a method. This class makes it one, for the comparison.
    """

    order = 4

    def _step_func(self, func, t0, dt, t1, y0):
        f0 = func(t0, y0)
        return rk4_step_func(func, t0, dt, t1, y0, f0=f0), f0


@contextlib.contextmanager
def classic_rk4_registered(name: str = "classic_rk4"):
    """Register ``ClassicRK4`` as a torchdiffeq method for the duration."""
    solvers = sys.modules["torchdiffeq._impl.odeint"].SOLVERS
    solvers[name] = ClassicRK4
    try:
        yield name
    finally:
        del solvers[name]


def _grid(n_steps: int):
    def constructor(func, y0, t):  # n_steps equal steps from t[0] to t[-1]
        return torch.linspace(t[0], t[-1], n_steps + 1, dtype=t.dtype, device=t.device)

    return constructor


# (our solver, torchdiffeq method, what torchdiffeq's method is)
SOLVER_PAIRS = (
    ("rk4", "classic_rk4", "classic RK4 (`rk4_step_func`, same method)"),
    ("euler", "euler", "explicit Euler (same method)"),
    ("rk4", "rk4", "`rk4` = Kutta's 3/8 rule (a different RK4)"),
)


def bench_solvers(batch, dim, hidden, n_steps, repeats, load) -> str:
    ours_fn = {"rk4": nc.rk4, "euler": nc.euler}
    rows, ratios = [], []
    with classic_rk4_registered():
        for dtype in (torch.float32, torch.float64):
            nc.seed_everything(0)
            field = nc.MLPVectorField(dim, hidden=hidden).to(dtype)
            y0 = torch.randn(batch, dim, dtype=dtype)  # (B, n)
            ts = torch.tensor([0.0, 1.0], dtype=dtype)
            for ours, theirs, what in SOLVER_PAIRS:
                opts = {"grid_constructor": _grid(n_steps)}

                def solve_ours(ours=ours, field=field, y0=y0, ts=ts):
                    return ours_fn[ours](field, y0, ts, n_steps=n_steps).ys[-1]

                def solve_theirs(theirs=theirs, opts=opts, field=field, y0=y0, ts=ts):
                    return odeint(field, y0, ts, method=theirs, options=opts)[-1]

                with torch.no_grad():
                    a, b = solve_ours(), solve_theirs()
                diff = (a - b).abs().max().item()
                scale = torch.finfo(dtype).eps * a.abs().max().item()
                row = [
                    f"nc.{ours} vs {what}",
                    str(dtype).replace("torch.", ""),
                    f"{diff:.1e}",
                    f"{diff / scale:.1f}",
                ]
                if dtype == torch.float32:  # times in the course's dtype only

                    def backward(solve, field=field):
                        field.zero_grad(set_to_none=True)
                        (solve() ** 2).mean().backward()

                    with torch.no_grad():
                        t_solve = paired_medians([solve_ours, solve_theirs], repeats)
                    t_grad = paired_medians(
                        [lambda: backward(solve_ours), lambda: backward(solve_theirs)],
                        repeats,
                    )
                    for t in (t_solve, t_grad):
                        row.append(f"{t[0] * 1e3:.1f} / {t[1] * 1e3:.1f}")
                        row.append(f"{t[0] / t[1]:.2f}")
                        if theirs != "rk4":
                            ratios.append(t[0] / t[1])
                else:
                    row += ["", "", "", ""]
                rows.append(row)
    load.sample("solvers")
    worst = max(ratios)
    parts = [
        f"An MLP field (n = {dim}, width {hidden}, tanh), a batch of B = {batch} "
        f"initial states, {n_steps} equal steps on [0, 1]; our solver with "
        f"`n_steps={n_steps}`, torchdiffeq's `odeint` on the same grid "
        "(`grid_constructor`, the `linspace` of the same points). Times are medians "
        f"of {repeats} runs, the two solvers in alternation, in float32 (the "
        "course's dtype); 'solve' under `torch.no_grad()`, 'solve + backward' a "
        "backward pass of `mean(y(1)^2)` through the solver. Ratio = ours / "
        "torchdiffeq.",
        "",
        md_table(
            [
                "comparison",
                "dtype",
                "max abs diff",
                "in eps x max abs y",
                "solve ms (ours / td)",
                "ratio",
                "solve + backward ms",
                "ratio",
            ],
            rows,
        ),
        "",
        f"Target, ours no slower than {SOLVER_TARGET}x torchdiffeq on the same "
        f"method: **{'holds' if worst <= SOLVER_TARGET else 'missed'}** (worst "
        f"ratio {worst:.2f}).",
        "",
        "How to read the differences: torchdiffeq's method `\"rk4\"` is Kutta's 3/8 "
        "rule, not the classic RK4 that `nc.rk4` implements; both are of order 4 "
        "but their truncation errors differ, so against it the difference is of "
        "the size of the truncation error (it shrinks like dt^4 and does not "
        "depend on the dtype), not round-off: in float64 it is hundreds of eps or "
        "more, while in float32 it hides below float32's round-off. Against the "
        "same method (torchdiffeq's classic step `rk4_step_func`, which it ships "
        "but does not register as a method, registered here for the comparison; "
        "and Euler) the difference is round-off in both dtypes: a few units of eps "
        "times the size of the state, from the order in which the stages are "
        "summed. The table below checks all three against an exact solution: ours "
        "and torchdiffeq's classic RK4 agree to every digit shown, the 3/8 rule "
        "has a different error of the same order.",
        "",
        exact_solution_table(),
    ]
    return "\n".join(parts)


def exact_solution_table() -> str:
    """Errors against the exact solution of the logistic equation, and the orders.

    The equation is nonlinear on purpose: on a linear one every four-stage method
    of order 4 (the classic rule and the 3/8 rule alike) makes exactly the same
    step, the fourth-order Taylor polynomial of the exponential.
    """
    dtype = torch.float64
    y0 = torch.linspace(0.05, 0.95, 16, dtype=dtype)[:, None]  # (B, 1)
    t1 = 4.0
    ts = torch.tensor([0.0, t1], dtype=dtype)

    def field(t, y):  # logistic growth, dy/dt = y (1 - y)
        return y * (1 - y)

    exact = 1 / (1 + (1 / y0 - 1) * math.exp(-t1))  # (B, 1)
    solvers = {
        "nc.rk4": lambda m: nc.rk4(field, y0, ts, n_steps=m).ys[-1],
        "torchdiffeq classic RK4": lambda m: odeint(
            field, y0, ts, method="classic_rk4", options={"grid_constructor": _grid(m)}
        )[-1],
        "torchdiffeq `rk4` (3/8 rule)": lambda m: odeint(
            field, y0, ts, method="rk4", options={"grid_constructor": _grid(m)}
        )[-1],
        "nc.euler": lambda m: nc.euler(field, y0, ts, n_steps=m).ys[-1],
        "torchdiffeq `euler`": lambda m: odeint(
            field, y0, ts, method="euler", options={"grid_constructor": _grid(m)}
        )[-1],
    }
    steps = (10, 20)
    rows = []
    with classic_rk4_registered():
        for name, solve in solvers.items():
            errors = [(solve(m) - exact).abs().max().item() for m in steps]
            order = math.log(errors[0] / errors[1]) / math.log(steps[1] / steps[0])
            rows.append([name, *(f"{e:.3e}" for e in errors), f"{order:.2f}"])
    return "\n".join(
        [
            "Exact solution: the logistic equation dy/dt = y (1 - y) from 16 initial "
            f"values in [0.05, 0.95] to t = {t1:g}, y(t) = 1 / (1 + (1/y0 - 1) "
            "exp(-t)), float64; max abs error at the end.",
            "",
            md_table(
                ["solver", *(f"{m} steps" for m in steps), "measured order"], rows
            ),
        ]
    )


# ---------------------------------------------------------------- 3. adjoint


def bench_adjoint(steps, batch, dim, hidden, repeats, memory_repeats, load) -> str:
    module = load_module(BENCH_DIR / "adjoint_memory.py", "adjoint_memory")
    out = module.run(
        steps,
        batch=batch,
        dim=dim,
        hidden=hidden,
        repeats=repeats,
        memory_repeats=memory_repeats,
        device="cpu",
    )
    load.sample("adjoint")
    results, steps = out["results"], out["steps"]
    lo, hi = steps[0], steps[-1]
    rows = []
    for method in module.METHODS:
        for n_steps in steps:
            r = results[method, n_steps]
            base = results["backprop", n_steps]["time"]
            rows.append(
                [
                    method,
                    n_steps,
                    module.megabytes(r["peak"]),
                    module.megabytes(r["graph"]),
                    f"{r['time']:.3f}",
                    f"{r['time'] / base:.2f}",
                    f"{r['nfe'][0]}/{r['nfe'][1]}",
                ]
            )
    growth = [
        [
            method,
            f"{results[method, hi]['peak'] / results[method, lo]['peak']:.2f}x",
            f"{results[method, hi]['time'] / results[method, lo]['time']:.1f}x",
        ]
        for method in module.METHODS
    ]
    return "\n".join(
        [
            f"`benchmarks/adjoint_memory.py` (its `run()`), on the CPU: one forward "
            f"and backward pass of mean(z(1)^2) through an MLP field (B = {batch}, "
            f"n = {dim}, width {hidden}, float32), fixed RK4 steps on [0, 1]. Peak: "
            f"{out['memory method']}, median of {memory_repeats}; graph: bytes "
            f"saved for backward; time: median of {repeats} runs, the three methods "
            "timed in turn in each, ratio to backprop at "
            "the same number of steps.",
            "",
            md_table(
                [
                    "method",
                    "steps",
                    "peak MB",
                    "graph MB",
                    "time s",
                    "time / backprop",
                    "NFE fwd/bwd",
                ],
                rows,
            ),
            "",
            f"Growth from {lo} to {hi} steps:",
            "",
            md_table(["method", "peak", "time"], growth),
        ]
    )


# ---------------------------------------------------------------- 4. SODE sweep


def bench_sode(path: Path, repeats: int, load) -> str:
    """Rows from ``run(repeats)`` of the SODE sweep benchmark, if its file exists."""
    headers = [
        "slice",
        "batched s",
        "one at a time s",
        "one at a time / batched",
    ]
    if not path.exists():
        row = [f"not available (no {path.name} on this branch)", "", "", ""]
        return md_table(headers, [row])
    r = load_module(path, "sode_sweep").run(repeats=repeats)
    load.sample("sode")
    row = [
        r["slice"],
        f"{r['batched_s']:.3f}",
        f"{r['reference_s']:.3f}",
        f"{r['ratio']:.2f}",
    ]
    return "\n".join(
        [
            f"`benchmarks/{path.name}` (its `run(repeats={repeats})`): the same slice "
            "of the sweep solved as one batch and one system at a time.",
            "",
            md_table(headers, [row]),
        ]
    )


# ---------------------------------------------------------------- 5. GPU


def training_steps_per_second(device, trajectories, width, n_steps, repeats, dim=2):
    """Steps per second of a Neural-ODE training step (forward, backward, Adam)."""
    nc.seed_everything(0)
    field = nc.MLPVectorField(dim, hidden=width).to(device)
    model = nc.NeuralODE(field, method="rk4", options={"step_size": 1.0 / n_steps})
    y0 = torch.randn(trajectories, dim, device=device)  # (B, dim)
    angle = torch.tensor(0.5)
    rotation = torch.tensor(
        [[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]], device=device
    )
    target = y0 @ rotation.T  # (B, dim): learn a rotation of the plane
    ts = torch.tensor([0.0, 1.0], device=device)  # [t0, t1]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = ((model(y0, ts)[-1] - target) ** 2).mean()
        loss.backward()
        optimizer.step()

    model.reset_nfe()
    step()
    if model.nfe != 4 * n_steps:  # forward evaluations only: no adjoint here
        raise RuntimeError(
            f"expected {n_steps} RK4 steps ({4 * n_steps} evaluations), the solver "
            f"made {model.nfe} evaluations"
        )
    (seconds,) = paired_medians([step], repeats, device)
    return 1.0 / seconds


def bench_gpu(trajectories, width, n_steps, repeats, load) -> str:
    cpu = training_steps_per_second(
        torch.device("cpu"), trajectories, width, n_steps, repeats
    )
    rows = [["CPU", f"{cpu:.2f}", "1.00"]]
    if torch.cuda.is_available():
        cuda = training_steps_per_second(
            torch.device("cuda"), trajectories, width, n_steps, repeats
        )
        rows.append([f"CUDA ({torch.cuda.get_device_name(0)})", f"{cuda:.2f}"])
        rows[-1].append(f"{cuda / cpu:.1f}")
    else:
        rows.append(["CUDA", NO_CUDA, NO_CUDA])
    load.sample("gpu")
    return "\n".join(
        [
            f"One training step of `nc.NeuralODE` (torchdiffeq `rk4` on {n_steps} "
            f"equal steps over [0, 1]): {trajectories} trajectories in the plane, an "
            f"MLP field of width {width}, forward, backward through the solver and "
            f"an Adam update; median of {repeats} steps after one warm-up, float32.",
            "",
            md_table(["device", "training steps / s", "speed-up over CPU"], rows),
        ]
    )


# ---------------------------------------------------------------- the report


SIZES = {
    "full": {
        "solvers": {"batch": 256, "dim": 16, "hidden": 64, "n_steps": 100},
        "solver_repeats": 7,
        "adjoint": {"steps": (10, 100, 500), "batch": 256, "dim": 16, "hidden": 128},
        "adjoint_repeats": 3,
        "adjoint_memory_repeats": 1,
        "sode_repeats": 3,
        "gpu": {"trajectories": 4096, "width": 128, "n_steps": 100},
        "gpu_repeats": 3,
    },
    "quick": {
        "solvers": {"batch": 4, "dim": 2, "hidden": 8, "n_steps": 5},
        "solver_repeats": 1,
        "adjoint": {"steps": (2, 4), "batch": 4, "dim": 2, "hidden": 8},
        "adjoint_repeats": 1,
        "adjoint_memory_repeats": 1,
        "sode_repeats": 1,
        "gpu": {"trajectories": 16, "width": 8, "n_steps": 5},
        "gpu_repeats": 1,
    },
}

QUICK_NOTEBOOK = [
    "xs = [x / 4 for x in range(5)]",
    "total = sum(x**2 for x in range(20_000))\nprint(total)",
]


def quick_notebook(folder: Path) -> Path:
    """A two-cell notebook standing in for the chapters in ``--quick`` mode."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in QUICK_NOTEBOOK]
    path = folder / "quick.ipynb"
    nbformat.write(nb, path)
    return path


def load_note(peak: float | None, cores: int | None) -> str:
    if peak is None:
        return "Load average not available on this system."
    loaded = cores is not None and peak > 0.75 * cores
    state = (
        "a **loaded machine**: other jobs shared the CPU, so the absolute times "
        "are inflated and noisy; ratios measured in alternation are less affected"
        if loaded
        else "a machine without much other load"
    )
    return (
        f"Highest 1-minute load average seen during the run: {peak:.1f} on {cores} "
        f"cores, {state}."
    )


def write_report(args) -> str:
    sizes = SIZES["quick" if args.quick else "full"]
    load = LoadWatch()
    info = machine_info()
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            notebooks = [quick_notebook(Path(tmp))]
        else:
            notebooks = toc_notebooks()
        if "book" in args.only:
            sections.append(
                (
                    "1. Book execution",
                    bench_book(
                        notebooks,
                        book_build=args.book_build,
                        profile=not args.no_profile,
                        load=load,
                    ),
                )
            )
    if "solvers" in args.only:
        s = sizes["solvers"]
        sections.append(
            (
                "2. Teaching solvers against torchdiffeq",
                bench_solvers(**s, repeats=sizes["solver_repeats"], load=load),
            )
        )
    if "adjoint" in args.only:
        sections.append(
            (
                "3. Adjoint against backpropagation: memory and time",
                bench_adjoint(
                    **sizes["adjoint"],
                    repeats=sizes["adjoint_repeats"],
                    memory_repeats=sizes["adjoint_memory_repeats"],
                    load=load,
                ),
            )
        )
    if "sode" in args.only:
        path = args.sode_module or BENCH_DIR / "sode_sweep.py"
        if args.quick and args.sode_module is None:
            body = md_table(["slice"], [["skipped in --quick mode"]])
        else:
            body = bench_sode(Path(path), sizes["sode_repeats"], load)
        sections.append(("4. SODE sweep: batched against one at a time", body))
    if "gpu" in args.only:
        sections.append(
            (
                "5. GPU: a batched Neural-ODE training step",
                bench_gpu(**sizes["gpu"], repeats=sizes["gpu_repeats"], load=load),
            )
        )
    load.sample("end")

    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/harness.py"
        + (" --quick" if args.quick else "")
        + "`); do not edit by hand. "
        "`benchmarks/README.md` says what each table measures.",
        "",
    ]
    if args.quick:
        lines += ["**Quick mode: tiny sizes, the numbers mean nothing.**", ""]
    lines += [
        "## Machine",
        "",
        md_table(["", ""], list(info.items())),
        "",
        load_note(load.peak, os.cpu_count()),
        "Load average at each point: "
        + ", ".join(f"{w} {v:.1f}" for w, v in load.samples)
        + ".",
        "",
    ]
    for title, body in sections:
        lines += [f"## {title}", "", body, ""]
    findings = BENCH_DIR / "FINDINGS.md"
    if findings.exists() and not args.quick:
        lines += [findings.read_text().rstrip(), ""]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument(
        "--book-build",
        action="store_true",
        help="also time `jupyter-book build --all` (several minutes)",
    )
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="skip the cProfile run of the slowest notebook's heaviest cell",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["book", "solvers", "adjoint", "sode", "gpu"],
        default=["book", "solvers", "adjoint", "sode", "gpu"],
    )
    parser.add_argument("--sode-module", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = write_report(args)
    args.output.write_text(report)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
