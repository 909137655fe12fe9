"""Train the weather Neural ODE under several seeds and save what the chapter shows.

Run from the repository root::

    python -m nodecourse.experiments.weather            # replaces the committed file
    python -m nodecourse.experiments.weather --out /tmp/weather.json

It trains ``SEEDS`` Neural ODEs at once (an ``EnsembleField``: one MLP per seed,
evaluated together) on the monthly Seattle weather, twice: with the growing-window
curriculum, and on the whole training window from the first epoch with the same
number of steps, for comparison. It writes a JSON file with the configuration, the
mean training loss per epoch of every round, the trajectory of every seed after
every round (original units, all months), and the test RMSE of every seed and
variable. Chapter 7 loads it with ``load_results()``;
``tests/test_experiments_weather.py`` re-runs the first round and compares.

Everything runs on the CPU in float64: the model is tiny, so a GPU would spend its
time launching kernels, and float64 makes the run reproducible to many digits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import nodecourse as nc
from nodecourse import forecast
from nodecourse.data import monthly_weather
from nodecourse.experiments import _cli

__all__ = [
    "CONFIG",
    "RESULTS_PATH",
    "build_model",
    "load_results",
    "main",
    "parse_args",
    "run",
]

#: Where the committed results live (shipped with the package).
RESULTS_PATH = Path(__file__).parent / "results" / "weather.json"

CONFIG = {
    "n_train": 24,  # training months: 2012 and 2013; the test part is 2014-2015
    "seeds": [0, 1, 2, 3, 4],  # one Neural ODE per seed
    "hidden": 32,  # width of the two hidden layers of the vector field
    "n_layers": 2,
    "activation": "silu",  # smooth (swish), as in the tutorial the chapter follows
    "step_size": 1.0,  # RK4 step, in months
    "first_window": 6,  # the curriculum: windows of 6, 12, 18, 24 months
    "window_step": 6,
    "epochs": 150,  # Adam steps per round
    "lr": 5e-3,
}
DTYPE = torch.float64


def build_model(config: dict) -> nc.NeuralODE:
    """The ensemble Neural ODE: member ``s`` initialised under seed ``seeds[s]``."""
    fields = []
    for seed in config["seeds"]:
        nc.seed_everything(seed)
        fields.append(
            nc.MLPVectorField(
                4,
                hidden=config["hidden"],
                n_layers=config["n_layers"],
                activation=config["activation"],
            )
        )
    ensemble = forecast.EnsembleField.from_fields(fields).to(DTYPE)
    return nc.NeuralODE(
        ensemble, method="rk4", options={"step_size": config["step_size"]}
    )


def _trajectories(model, data, members: int) -> list:
    """Every member's trajectory over all months, in original units, (S, T, 4)."""
    with torch.no_grad():
        ys = model(data.ys[0].expand(members, -1), data.ts)  # (T, S, 4)
    return _rounded(data.to_original(ys).transpose(0, 1), 6)


def _rounded(values, decimals: int) -> list:
    """A tensor or list as nested lists of floats rounded to ``decimals`` places."""
    return torch.as_tensor(values, dtype=DTYPE).round(decimals=decimals).tolist()


def run(
    config: dict | None = None,
    *,
    rounds: int | None = None,
    curriculum_only: bool = False,
    progress: bool | None = None,
) -> dict:
    """Train and collect the results (see the module docstring).

    Args:
        config: defaults to ``CONFIG``.
        rounds: stop after this many rounds of the curriculum (a quick slice for
            the tests); ``None`` runs them all.
        curriculum_only: skip the comparison run on the whole window.
        progress: progress bars, as in ``nc.fit``.
    """
    config = dict(CONFIG if config is None else config)
    data = monthly_weather(n_train=config["n_train"], dtype=DTYPE)
    members = len(config["seeds"])
    windows = forecast.growing_windows(
        config["n_train"], config["first_window"], config["window_step"]
    )
    if rounds is not None:
        windows = windows[:rounds]
    results = {
        "config": config,
        "windows": windows,
        "dates": [d.strftime("%Y-%m") for d in data.dates],
    }
    start = time.perf_counter()

    # Phase 1: the curriculum, one round per window, a snapshot after each.
    model = build_model(config)
    losses, snapshots = [], []
    for k in windows:
        (history,) = forecast.fit_growing_window(
            model,
            data.ts_train,
            data.ys_train,
            [k],
            epochs=config["epochs"],
            lr=config["lr"],
            members=members,
            progress=progress,
        )
        losses.append(_rounded([x / members for x in history.loss], 10))  # seed mean
        snapshots.append(_trajectories(model, data, members))
    results["curriculum"] = {
        "loss": losses,
        "trajectories": snapshots,
        "test_rmse": _test_rmse(snapshots[-1], data),
    }

    # Phase 2: the same number of steps on the whole training window.
    if not curriculum_only:
        model = build_model(config)
        (history,) = forecast.fit_growing_window(
            model,
            data.ts_train,
            data.ys_train,
            [config["n_train"]],
            epochs=config["epochs"] * len(windows),
            lr=config["lr"],
            members=members,
            progress=progress,
        )
        final = _trajectories(model, data, members)
        results["whole_window"] = {
            "loss": _rounded([x / members for x in history.loss], 10),
            "trajectory": final,
            "test_rmse": _test_rmse(final, data),
        }
    results["seconds"] = round(time.perf_counter() - start, 1)
    return results


def _test_rmse(trajectories: list, data) -> list:
    """Per seed, the RMSE of each variable over the test months, (S, 4)."""
    ys = torch.tensor(trajectories, dtype=DTYPE)  # (S, T, 4)
    return [
        _rounded(forecast.rmse(member[data.n_train :], data.raw_test), 6)
        for member in ys
    ]


def load_results(path: str | Path | None = None) -> dict:
    """The results written by ``main`` (default: the committed file)."""
    path = RESULTS_PATH if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no results at {path}; run `python -m nodecourse.experiments.weather` "
            "to create them"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``main``."""
    return _cli.json_experiment_parser(
        "weather", __doc__.splitlines()[0], RESULTS_PATH, 7, ("--output",)
    )


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments of ``main``, checked before the training runs."""
    return _cli.parse_json_experiment_args(build_parser(), argv, RESULTS_PATH)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    results = run(progress=args.progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({results['seconds']} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
