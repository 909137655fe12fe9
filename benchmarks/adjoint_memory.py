"""Peak memory and time: backpropagation through an ODE solver against the adjoint.

Run from the repository root::

    python benchmarks/adjoint_memory.py
    python benchmarks/adjoint_memory.py --steps 10 100 1000 --repeats 3 --batch 256

For each number N of fixed RK4 steps on [0, 1], one forward and one backward pass of
``L = mean(z(1)^2)`` through an MLP vector field are differentiated three ways, in
the same process and on the same data:

- ``backprop``: autograd through the operations of ``torchdiffeq.odeint``;
- ``adjoint``: the from-scratch adjoint ``nodecourse.adjoint.adjoint_odeint``;
- ``torchdiffeq adjoint``: ``torchdiffeq.odeint_adjoint``.

Measured for each:

- peak memory during forward and backward, above what was allocated before. On CUDA
  this is the allocator's own peak, ``torch.cuda.max_memory_allocated``. On the CPU
  there is no such counter; ``torch.profiler`` with ``profile_memory=True`` records
  every allocation and free as an event, and the maximum of their running sum in time
  order is the peak. (The profiler slows the run; times are measured separately.)
  On MPS no peak is measured.
- graph memory: the bytes of the tensors autograd saves for backward, still held when
  the forward pass ends (``torch.autograd.graph.saved_tensors_hooks``), each storage
  counted once, parameters left out. Exact, and exactly the part that grows with N.
- time of forward and backward, without the profiler, and the evaluations of the
  field in each direction (NFE).

Times are medians over ``--repeats`` runs (each run times the three methods in turn,
so that a change of load falls on all), peaks over ``--memory-repeats`` runs. The
target checked at the end: the adjoint's peak at the most steps within 1.5 times its
peak at the fewest, while backpropagation's grows at least 10 times. The result is
printed whatever it is; the exit status is 0 unless ``--strict`` is given and the
target is missed. The default problem (B = 256, n = 16, H = 128, float32) makes the
graph dominate: about 0.6 MB per RK4 step for backpropagation. The default run takes
about four minutes on two CPU cores, most of it in the profiler.

Set ``OMP_NUM_THREADS`` (e.g. to 1) to make CPU timings reproducible. Both memory
measurements come from ``nodecourse.memory``, as in chapter 4.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import torch
from torchdiffeq import odeint, odeint_adjoint

import nodecourse as nc
from nodecourse.adjoint import adjoint_odeint
from nodecourse.memory import SavedTensorMemory, peak_memory
from nodecourse.memory import peak_memory_method as memory_method

METHODS = ("backprop", "adjoint", "torchdiffeq adjoint")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--batch", type=int, default=256, help="initial states")
    parser.add_argument("--dim", type=int, default=16, help="state dimension n")
    parser.add_argument("--hidden", type=int, default=128, help="MLP width H")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per median")
    parser.add_argument(
        "--memory-repeats",
        type=int,
        default=2,
        help="profiled runs per median of the peak (slow on the CPU; the allocation "
        "sequence is deterministic, so the spread is printed as a check)",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or mps (default: auto)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 if the target is missed",
    )
    args = parser.parse_args(argv)
    if min(args.steps) < 1 or args.repeats < 1 or args.memory_repeats < 1:
        parser.error(f"--steps and --repeats must be positive, got {args}")
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Problem:
    """An MLP field, a batch of initial states, and the three ways to differentiate."""

    def __init__(self, batch, dim, hidden, seed, device: torch.device):
        nc.seed_everything(seed)
        self.field = nc.MLPVectorField(dim, hidden=hidden).to(device)
        self.counter = nc.CountNFE(self.field)
        self.params = tuple(self.field.parameters())
        self.y0 = torch.randn(batch, dim, device=device)  # (B, n)
        self.ts = torch.tensor([0.0, 1.0], device=device)  # [t0, t1]

    def solve(self, method: str, n_steps: int) -> torch.Tensor:
        kwargs = {"method": "rk4", "options": {"step_size": 1.0 / n_steps}}
        if method == "backprop":
            return odeint(self.counter, self.y0, self.ts, **kwargs)
        if method == "adjoint":
            return adjoint_odeint(self.counter, self.y0, self.ts, **kwargs)
        return odeint_adjoint(
            self.counter, self.y0, self.ts, adjoint_params=self.params, **kwargs
        )

    def forward_backward(self, method: str, n_steps: int) -> tuple[int, int]:
        """One forward and backward pass; returns the forward and backward NFE."""
        self.field.zero_grad(set_to_none=True)
        self.counter.nfe = 0
        ys = self.solve(method, n_steps)  # (2, B, n)
        nfe_forward = self.counter.nfe
        (ys[-1] ** 2).mean().backward()
        return nfe_forward, self.counter.nfe - nfe_forward

    def graph_bytes(self, method: str, n_steps: int) -> int:
        self.field.zero_grad(set_to_none=True)
        with SavedTensorMemory(exclude=self.params) as saved:
            ys = self.solve(method, n_steps)
        held = saved.nbytes  # read while ys, and so its graph, is alive
        del ys
        return held


def measure_memory(
    problem: Problem,
    method: str,
    n_steps: int,
    *,
    warmup_steps: int,
    memory_repeats: int,
    device: torch.device,
) -> dict:
    """Peak memory (median and spread over ``memory_repeats``) and graph memory."""
    problem.forward_backward(method, warmup_steps)  # warm-up
    peaks = [
        peak_memory(lambda: problem.forward_backward(method, n_steps), device)
        for _ in range(memory_repeats)
    ]
    return {
        "peak": None if peaks[0] is None else statistics.median(peaks),
        "peak spread": None if peaks[0] is None else max(peaks) - min(peaks),
        "graph": problem.graph_bytes(method, n_steps),
    }


def measure_times(
    problem: Problem, n_steps: int, *, repeats: int, device: torch.device
) -> dict:
    """Median seconds and the NFE of each method, the methods timed in turn.

    Each repetition times every method once, one after the other, so that a change
    in the machine's load during the run falls on all of them alike.
    """
    seconds = {method: [] for method in METHODS}
    nfe = {}
    for method in METHODS:
        problem.forward_backward(method, n_steps)  # warm-up
    for _ in range(repeats):
        for method in METHODS:
            gc.collect()
            sync(device)
            start = time.perf_counter()
            nfe[method] = problem.forward_backward(method, n_steps)
            sync(device)
            seconds[method].append(time.perf_counter() - start)
    return {
        method: {"time": statistics.median(seconds[method]), "nfe": nfe[method]}
        for method in METHODS
    }


def megabytes(n_bytes) -> str:
    return "n/a" if n_bytes is None else f"{n_bytes / 1e6:.3f}"


def run(
    steps=(10, 100, 1000),
    *,
    batch: int = 256,
    dim: int = 16,
    hidden: int = 128,
    repeats: int = 3,
    memory_repeats: int = 2,
    device=None,
    seed: int = 0,
    on_result=None,
) -> dict:
    """Measure every method at every number of steps, in one process.

    Args:
        steps: the numbers of fixed RK4 steps on [0, 1].
        batch, dim, hidden: the problem, ``B`` initial states of width ``n`` and an
            MLP field of width ``H``.
        repeats, memory_repeats: timed and profiled runs per median.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or None (``nc.get_device()``).
        on_result: called as ``on_result(method, n_steps, result)`` after each
            measurement (the script prints the row there).

    Returns:
        ``{"device", "memory method", "steps", "results"}`` where ``results`` maps
        ``(method, n_steps)`` to ``{"peak", "peak spread", "graph", "time", "nfe"}``
        (bytes, seconds, and the forward and backward NFE; a peak is None where the
        device has no peak counter).
    """
    device = nc.get_device(device)
    steps = sorted(steps)
    problem = Problem(batch, dim, hidden, seed, device)
    results = {}
    for n_steps in steps:
        times = measure_times(problem, n_steps, repeats=repeats, device=device)
        for method in METHODS:
            results[method, n_steps] = times[method] | measure_memory(
                problem,
                method,
                n_steps,
                warmup_steps=steps[0],
                memory_repeats=memory_repeats,
                device=device,
            )
            if on_result is not None:
                on_result(method, n_steps, results[method, n_steps])
    return {
        "device": str(device),
        "memory method": memory_method(device),
        "steps": steps,
        "results": results,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    device = nc.get_device(args.device)
    steps = sorted(args.steps)
    print(
        f"torch {torch.__version__}, device {device}, "
        f"{torch.get_num_threads()} CPU thread(s), float32"
    )
    print(
        f"problem: RK4 on [0, 1], batch B = {args.batch}, state n = {args.dim}, "
        f"MLP width H = {args.hidden}; medians of {args.repeats} timed and "
        f"{args.memory_repeats} memory runs"
    )
    print(f"peak memory: {memory_method(device)}")
    print("graph memory: bytes saved for backward at the end of the forward pass")
    print()

    header = (
        f"{'method':<20} {'steps':>6} {'peak MB':>10} {'graph MB':>10} "
        f"{'time s':>8} {'NFE fwd/bwd':>12}"
    )
    print(header)
    print("-" * len(header))

    def print_row(method, n_steps, r):
        nfe = f"{r['nfe'][0]}/{r['nfe'][1]}"
        print(
            f"{method:<20} {n_steps:6d} {megabytes(r['peak']):>10} "
            f"{megabytes(r['graph']):>10} {r['time']:8.3f} {nfe:>12}",
            flush=True,
        )

    results = run(
        steps,
        batch=args.batch,
        dim=args.dim,
        hidden=args.hidden,
        repeats=args.repeats,
        memory_repeats=args.memory_repeats,
        device=device,
        seed=args.seed,
        on_result=print_row,
    )["results"]

    spreads = [r["peak spread"] for r in results.values() if r["peak"] is not None]
    if spreads and args.memory_repeats > 1:
        print(f"largest spread of the peak over repeated runs: {max(spreads)} bytes")
    lo, hi = steps[0], steps[-1]
    print()
    print(f"ratios, {hi} steps / {lo} steps:")
    peak_ratio = {}
    for method in METHODS:
        first, last = results[method, lo], results[method, hi]
        if first["peak"] is not None:
            peak_ratio[method] = last["peak"] / first["peak"]
        peak_text = f"{peak_ratio[method]:7.2f}x" if method in peak_ratio else "    n/a"
        graph_text = (
            f"{last['graph'] / first['graph']:7.2f}x" if first["graph"] else "    n/a"
        )
        time_text = f"{last['time'] / first['time']:7.1f}x"
        print(
            f"  {method:<20} peak {peak_text}   graph {graph_text}   time {time_text}"
        )
    print("time relative to backprop:")
    for method in METHODS[1:]:
        ratios = "  ".join(
            f"{n}: {results[method, n]['time'] / results['backprop', n]['time']:.2f}"
            for n in steps
        )
        print(f"  {method:<20} {ratios}")

    print()
    if "adjoint" not in peak_ratio:
        print("target: not checked (no peak-memory measurement on this device)")
        return 0
    adjoint_ok = peak_ratio["adjoint"] <= 1.5
    backprop_ok = peak_ratio["backprop"] >= 10
    print(
        f"target: adjoint peak at {hi} steps within 1.5x of {lo} steps: "
        f"{'met' if adjoint_ok else 'MISSED'} ({peak_ratio['adjoint']:.2f}x); "
        f"backprop peak grows at least 10x: "
        f"{'met' if backprop_ok else 'MISSED'} ({peak_ratio['backprop']:.1f}x)"
    )
    return 1 if args.strict and not (adjoint_ok and backprop_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
