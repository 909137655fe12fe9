"""Batched fixed-step fits against one-at-a-time adaptive fits, on one slice.

The slice: the Riccati system with n = 2, the seven targets, one seed, a fixed
number of Adam iterations (or fewer where eps_r < 0.01 is reached first). Two ways:

- batched: ``nodecourse.sode.fit_sode``, all seven fits in one RK4 solve per
  iteration (the path the sweep takes);
- reference: one fit at a time, solved with ``torchdiffeq``'s adaptive dopri5
  (as the original code solved with an adaptive Tsit5), backpropagating through
  the solver, with ``torch.optim.Adam``.

    OMP_NUM_THREADS=1 python benchmarks/sode_sweep.py            # about 2 minutes
    python benchmarks/sode_sweep.py --repeats 1 --iters 10       # a quick look

``run(repeats)`` returns the medians as a dict for a benchmark harness.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchdiffeq import odeint

from nodecourse import eps_r, sode
from nodecourse.experiments.sode_sweep import SETTINGS

FAMILY, N, SEED = "riccati", 2, 0
ITERS = 30
FAILED: list[int] = []  # reference fits stopped by a step-size underflow


def _targets(xs):
    names = list(sode.TARGETS)
    return names, torch.stack([sode.target(name, xs) for name in names])


def batched(iters: int = ITERS) -> float:
    """Seconds for the seven fits as one batched fixed-step fit."""
    xs = sode.sample_grid(dtype=torch.float64)
    _, g = _targets(xs)
    start = time.perf_counter()
    sode.fit_sode(
        FAMILY,
        N,
        g,
        xs,
        seeds=[SEED] * len(g),
        tol=SETTINGS["tol"],
        lr=SETTINGS["lr"],
        max_iters=iters,
        clip=SETTINGS["clip"],
        dt=SETTINGS["dt"],
    )
    return time.perf_counter() - start


def reference(iters: int = ITERS, rtol: float = 1e-7, atol: float = 1e-9) -> float:
    """Seconds for the seven fits one at a time with adaptive dopri5.

    A fit whose solve fails (the step size underflows as the fitted system blows
    up) stops there, as the original code's did; it is recorded in ``FAILED``.
    """
    xs = sode.sample_grid(dtype=torch.float64)
    _, g = _targets(xs)
    FAILED.clear()
    start = time.perf_counter()
    for b in range(len(g)):
        params = sode.init_params(FAMILY, N, [SEED], dtype=torch.float64)
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        opt = torch.optim.Adam(leaves.values(), lr=SETTINGS["lr"])
        for _ in range(iters + 1):
            field, y0, out = sode._field_and_state(FAMILY, leaves)
            try:
                ys = odeint(field, y0, xs, method="dopri5", rtol=rtol, atol=atol)
            except AssertionError:  # torchdiffeq's step-size underflow: a blow-up
                FAILED.append(b)
                break
            pred = out(ys).T
            if eps_r(pred, g[b : b + 1]) < SETTINGS["tol"]:
                break
            loss = ((pred - g[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(leaves.values(), SETTINGS["clip"])
            opt.step()
    return time.perf_counter() - start


def run(repeats: int = 3, iters: int = ITERS) -> dict:
    """Median times over ``repeats`` of both ways, and their ratio."""
    torch.set_num_threads(1)
    fast = [batched(iters) for _ in range(repeats)]
    slow = [reference(iters) for _ in range(repeats)]
    batched_s, reference_s = statistics.median(fast), statistics.median(slow)
    return {
        "slice": f"{FAMILY} n={N}, 7 targets, seed {SEED}, up to {iters} iterations",
        "batched_s": batched_s,
        "reference_s": reference_s,
        "ratio": reference_s / batched_s,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters", type=int, default=ITERS)
    args = parser.parse_args(argv)
    result = run(args.repeats, args.iters)
    print(f"slice: {result['slice']}")
    print(f"batched RK4 (one solve for all fits)   {result['batched_s']:8.2f} s")
    print(
        f"one at a time, adaptive dopri5          {result['reference_s']:8.2f} s"
        f"  ({len(FAILED)} fit(s) stopped by a step-size underflow)"
    )
    print(
        f"ratio                                   {result['ratio']:8.1f}x "
        f"(target >= 10x: {'met' if result['ratio'] >= 10 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
