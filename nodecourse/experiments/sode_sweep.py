"""The full experiment of chapter 6: time for each system of ODEs to fit each target.

For every family (Lotka-Volterra, Riccati, S-system), size ``n`` in {2, 5, 10},
target among the seven on [0, 3], and seed, fit ``g(x) ~ z_1(x)`` with
``nodecourse.sode.fit_sode`` until ``eps_r < 0.01`` or the iteration limit, and
record how long it took. One batched fit per family holds every size, target and
seed (smaller systems are padded), so the sweep is three batched solves.

    python -m nodecourse.experiments.sode_sweep    # the committed run: seeds 0 1 2
    python -m nodecourse.experiments.sode_sweep --seeds 0 --out /tmp/sweep  # one seed
    python -m nodecourse.experiments.sode_sweep --help

Measured on a 2-core x86_64 CPU with one torch thread: one seed (63 fits) took
186 s (191 s with start-up and figures); the committed three seeds take the wall
time recorded in ``results/sode_sweep.json``. Each family's batch runs until its
slowest fit stops, so three seeds cost little more than one.

It writes ``sode_sweep.csv`` (one row per fit), ``sode_sweep.json`` (the settings
and the wall time), ``sode_sweep_params.json`` (the fitted parameters of the fits
with n = 2) and the figures ``sode_*.png`` into ``--out``, by default this
package's ``results/`` folder, replacing the committed results that chapter 6 and
the tests read: with the default arguments, re-running reproduces them.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from nodecourse import sode
from nodecourse.experiments import _cli

RESULTS = Path(__file__).resolve().parent / "results"
CSV = RESULTS / "sode_sweep.csv"
SETTINGS_FILE = RESULTS / "sode_sweep.json"
PARAMS_FILE = RESULTS / "sode_sweep_params.json"
# Fitted parameters are kept for the fits of these sizes (small enough to commit).
PARAM_NS = (2,)

NS = (2, 5, 10)
# The seeds of the committed table (its settings file records them too).
SEEDS = (0, 1, 2)
# The settings of the committed run. The original used Adam(0.01), at most 5000
# iterations and an adaptive solver; see the chapter for why these differ.
SETTINGS = {
    "tol": 0.01,  # eps_r tolerance
    "lr": 0.03,  # Adam's initial learning rate ...
    "lr_end": 0.003,  # ... decaying geometrically to this at max_iters
    "max_iters": 3000,  # iterations before a fit counts as not reached
    "clip": 1.0,  # largest gradient norm per fit
    "dt": 0.1,  # RK4 step (two sample intervals; samples between by Hermite)
    "n_points": 61,  # the sample grid 0, 0.05, ..., 3
    "dtype": "float64",
}
COLUMNS = [
    "family",
    "n",
    "target",
    "seed",
    "reached",
    "iterations",
    "seconds",
    "eps_r",
    "eps_r_check",
    "mse_iterations",
    "blowups",
    "nfe",
    "n_params",
    "failure",
    "check_failure",
]


def run_family(
    family: str,
    ns=NS,
    targets=tuple(sode.TARGETS),
    seeds=(0,),
    *,
    settings: dict | None = None,
    progress: bool | None = None,
    params_out: dict | None = None,
) -> pd.DataFrame:
    """Fit every (n, target, seed) of one family in one batch; one row per fit.

    With ``params_out`` (a dict), the final parameters of the fits with ``n`` in
    ``PARAM_NS`` are added to it, keyed by ``param_key(family, n, target, seed)``,
    as lists without the padding (``sode.predict`` takes them back, one member at
    a time).
    """
    settings = {**SETTINGS, **(settings or {})}
    dtype = getattr(torch, settings["dtype"])
    xs = sode.sample_grid(settings["n_points"], dtype=dtype)
    cases = [(n, name, seed) for n in ns for name in targets for seed in seeds]
    g = torch.stack([sode.target(name, xs) for _, name, _ in cases])
    fit = sode.fit_sode(
        family,
        [n for n, _, _ in cases],
        g,
        xs,
        seeds=[seed for _, _, seed in cases],
        tol=settings["tol"],
        lr=settings["lr"],
        lr_end=settings["lr_end"],
        max_iters=settings["max_iters"],
        clip=settings["clip"],
        dt=settings["dt"],
        progress=progress,
        desc=family,
    )
    rows = []
    for b, (n, name, seed) in enumerate(cases):
        rows.append(
            {
                "family": family,
                "n": n,
                "target": name,
                "seed": seed,
                "reached": fit.reached[b],
                "iterations": fit.iterations[b],
                "seconds": round(fit.seconds[b], 4),
                "eps_r": fit.eps_r[b],
                "eps_r_check": fit.eps_r_check[b],
                "mse_iterations": fit.mse_iterations[b],
                "blowups": fit.blowups[b],
                "nfe": fit.nfe[b],
                "n_params": sode.n_params(family, n, with_z0=True),
                "failure": fit.failure[b],
                "check_failure": fit.check_failure[b],
            }
        )
        if params_out is not None and n in PARAM_NS:
            params_out[param_key(family, n, name, seed)] = {
                key: value[b][(slice(0, n),) * (value.ndim - 1)].tolist()
                for key, value in fit.params.items()
            }
    return pd.DataFrame(rows, columns=COLUMNS)


def param_key(family: str, n: int, target: str, seed: int) -> str:
    """The key of one fit in ``PARAMS_FILE``: ``family/n/target/seed``."""
    return f"{family}/{n}/{target}/{seed}"


def load_params(family: str, n: int, target: str, seed: int, path=None) -> dict:
    """The committed final parameters of one fit, as ``(1, ...)`` float64 tensors."""
    stored = json.loads(Path(path or PARAMS_FILE).read_text())
    key = param_key(family, n, target, seed)
    if key not in stored:
        kept = [k.split("/") for k in stored]
        raise KeyError(
            f"no stored parameters for {key}; the sweep keeps them for n in "
            f"{PARAM_NS}, the families {sorted({k[0] for k in kept})}, the targets "
            f"{list(sode.TARGETS)} and the seeds "
            f"{sorted({int(k[-1]) for k in kept})}"
        )
    return {
        k: torch.tensor(v, dtype=torch.float64)[None] for k, v in stored[key].items()
    }


def run_sweep(
    families=sode.FAMILIES,
    ns=NS,
    targets=tuple(sode.TARGETS),
    seeds=(0,),
    *,
    settings: dict | None = None,
    progress: bool | None = None,
    params_out: dict | None = None,
) -> pd.DataFrame:
    """``run_family`` for each family, concatenated."""
    frames = [
        run_family(
            f,
            ns,
            targets,
            seeds,
            settings=settings,
            progress=progress,
            params_out=params_out,
        )
        for f in families
    ]
    return pd.concat(frames, ignore_index=True)


def load(path: Path | str = CSV) -> pd.DataFrame:
    """The committed results table."""
    table = pd.read_csv(path)
    for column in ("failure", "check_failure"):
        table[column] = table[column].fillna("")
    return table


def confirmed(df: pd.DataFrame, tol: float = SETTINGS["tol"]) -> pd.Series:
    """Fits that reached ``eps_r < tol`` and keep it when re-solved with ``dt/4``.

    A fit that reaches the tolerance with the training step but not with a quarter
    of it (``eps_r_check >= tol``, or NaN) is the fixed step's, not the ODE's; the
    summaries and figures do not count it as reached.
    """
    return df["reached"] & (df["eps_r_check"] < tol)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median seconds and iterations to ``eps_r < tol`` over seeds, per case.

    Only ``confirmed`` fits count: ``reached`` is the fraction of seeds whose fit
    reached the tolerance and kept it with ``dt/4``, and the medians are over
    those seeds; cases confirmed for no seed have NaN times.
    """
    ok = df[confirmed(df)]
    keys = ["family", "n", "target"]
    med = ok.groupby(keys)[["seconds", "iterations"]].median()
    frac = confirmed(df).groupby([df[k] for k in keys]).mean().rename("reached")
    best = df.groupby(keys)["eps_r"].min().rename("best_eps_r")
    return pd.concat([frac, med, best], axis=1).reset_index()


# ---------------------------------------------------------------------------
# Figures: pure functions, table in, figure out


def plot_by_family(df: pd.DataFrame, n: int = 2, *, ax=None, what="seconds"):
    """Median time to ``eps_r < tol`` per target, one bar per family, for size ``n``.

    Over the ``confirmed`` fits (see ``summary``). Targets never reached are marked
    with a cross at the bottom of the axis.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    table = summary(df)
    table = table[table["n"] == n]
    targets = list(sode.TARGETS)
    families = list(sode.FAMILIES)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(families)
    x = np.arange(len(targets))
    for k, family in enumerate(families):
        rows = table[table["family"] == family].set_index("target")
        values = [rows[what].get(t, np.nan) for t in targets]
        pos = x + (k - (len(families) - 1) / 2) * width
        ax.bar(pos, values, width, label=family.replace("_", "-"), color=f"C{k}")
        missing = [p for p, v in zip(pos, values, strict=True) if not v == v]
        ax.plot(missing, [0] * len(missing), "x", color=f"C{k}", ms=7, mew=2)
    ax.set_xticks(x, targets)
    ax.set_ylabel("seconds" if what == "seconds" else what)
    ax.set_title(f"time to eps_r < 0.01, n = {n} (x: none confirmed with h/4)")
    top = ax.get_ylim()[1]
    ax.set_ylim(-0.05 * top, 1.25 * top)  # room for the crosses and the legend
    ax.legend(frameon=False, loc="upper left", ncols=3)
    return ax.figure


def plot_across_n(df: pd.DataFrame, family: str, *, ax=None, what="seconds"):
    """Median time to ``eps_r < tol`` per target for one family, one bar per n.

    Over the ``confirmed`` fits (see ``summary``); crosses mark sizes never reached.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    table = summary(df)
    table = table[table["family"] == family]
    targets = list(sode.TARGETS)
    ns = sorted(table["n"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(ns), 1)
    x = np.arange(len(targets))
    for k, n in enumerate(ns):
        rows = table[table["n"] == n].set_index("target")
        values = [rows[what].get(t, np.nan) for t in targets]
        pos = x + (k - (len(ns) - 1) / 2) * width
        ax.bar(pos, values, width, label=f"n = {n}", color=f"C{k + 3}")
        missing = [p for p, v in zip(pos, values, strict=True) if not v == v]
        ax.plot(
            missing,
            [0] * len(missing),
            "x",
            color=f"C{k + 3}",
            ms=7,
            mew=2,
        )
    ax.set_xticks(x, targets)
    ax.set_ylabel("seconds" if what == "seconds" else what)
    ax.set_title(
        f"{family.replace('_', '-')}: time to eps_r < 0.01 (x: none confirmed with h/4)"
    )
    top = ax.get_ylim()[1]
    ax.set_ylim(-0.05 * top, 1.25 * top)  # room for the crosses and the legend
    if ax.get_legend_handles_labels()[0]:  # nothing to label for a family not run
        ax.legend(frameon=False, loc="upper left", ncols=3)
    return ax.figure


def write_figures(df: pd.DataFrame, folder: Path = RESULTS) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig = plot_by_family(df, 2)
    paths.append(folder / "sode_by_family_n2.png")
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    for family in sode.FAMILIES:
        fig = plot_across_n(df, family)
        paths.append(folder / f"sode_{family}_across_n.png")
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``main``."""
    parser = argparse.ArgumentParser(
        prog="python -m nodecourse.experiments.sode_sweep",
        description="Fit g(x) ~ z_1(x) for every family, n, target and seed. Writes "
        "the table\n(sode_sweep.csv), the settings (sode_sweep.json), the fitted "
        "parameters of\nthe fits with n = 2 (sode_sweep_params.json) and the "
        "figures (sode_*.png).",
        epilog=_cli.epilog(RESULTS, 6, "FOLDER"),
        formatter_class=_cli.HelpFormatter,
    )
    parser.add_argument(
        "--seeds",
        type=_cli.non_negative_int,
        nargs="+",
        default=list(SEEDS),
        metavar="SEED",
        help=f"seeds of the fits, as in the committed table (default: {_words(SEEDS)})",
    )
    parser.add_argument(
        "--families",
        nargs="+",
        default=list(sode.FAMILIES),
        choices=sode.FAMILIES,
        metavar="FAMILY",
        help=f"families of systems, among {_words(sode.FAMILIES)} (default: all)",
    )
    parser.add_argument(
        "--ns",
        type=_cli.positive_int,
        nargs="+",
        default=list(NS),
        metavar="N",
        help=f"sizes n, the number of equations (default: {_words(NS)})",
    )
    parser.add_argument(
        "--max-iters",
        type=_cli.positive_int,
        default=SETTINGS["max_iters"],
        metavar="ITERS",
        help="iterations before a fit counts as not reached (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=str,
        default=RESULTS,
        metavar="FOLDER",
        help="folder for the CSV, JSON and figures, created if missing "
        "(default: the package's results folder, below)",
    )
    _cli.add_progress(parser)
    return parser


def _words(values) -> str:
    return " ".join(str(v) for v in values)


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments of ``main``, checked: bad values exit with a usage message
    before anything runs or is written."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _cli.check_distinct(parser, "--seeds", args.seeds, "seed")
    _cli.check_distinct(parser, "--ns", args.ns, "size")
    _cli.check_distinct(parser, "--families", args.families, "family")
    typed = args.out if isinstance(args.out, str) else None
    args.out = Path(args.out)
    _cli.check_out_folder(parser, args.out, typed)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    progress = args.progress  # None: bars where nc.fit shows them

    torch.set_num_threads(1)
    settings = {**SETTINGS, "max_iters": args.max_iters}
    start = time.perf_counter()
    params = {}
    df = run_sweep(
        args.families,
        args.ns,
        seeds=args.seeds,
        settings=settings,
        progress=progress,
        params_out=params,
    )
    wall = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / CSV.name, index=False)
    meta = {
        "settings": settings,
        "seeds": args.seeds,
        "families": args.families,
        "ns": args.ns,
        "wall_seconds": round(wall, 1),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)",
    }
    (args.out / SETTINGS_FILE.name).write_text(json.dumps(meta, indent=2) + "\n")
    (args.out / PARAMS_FILE.name).write_text(json.dumps(params) + "\n")
    write_figures(df, args.out)
    reached = int(df["reached"].sum())
    print(
        f"{len(df)} fits, {reached} reached eps_r < {settings['tol']}, "
        f"{wall:.0f} s; wrote {args.out / CSV.name}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
