"""Fit the three epidemic models of chapter 8 to a synthetic outbreak.

    python -m nodecourse.experiments.epidemic            # a few minutes on one core
    python -m nodecourse.experiments.epidemic --out FILE

The universal differential equation (SIR with a learned quarantine strength), the
plain SIR model and a pure Neural ODE on the log counts are each trained on the
first ``train_days`` days of the same noisy outbreak, in float64 with fixed-step
RK4 and Adam, on the log-scale loss. The learned parameters and the loss histories
are written as JSON (``results/epidemic.json`` in this package by default,
replacing the committed results that chapter 8 and the tests read), which ``load``
turns back into trained models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from nodecourse.data.epidemic import Outbreak, make_outbreak
from nodecourse.device import seed_everything
from nodecourse.experiments import _cli
from nodecourse.training import fit
from nodecourse.ude import SIR, Forecaster, LogCountsNODE, QuarantineSIR, log_mse

__all__ = [
    "CONFIG",
    "RESULTS",
    "build",
    "fit_model",
    "load",
    "main",
    "parse_args",
    "run",
]

RESULTS = Path(__file__).resolve().parent / "results" / "epidemic.json"

#: The settings of the committed run.
CONFIG = {
    "seed": 0,  # seeds the noise and every initialisation
    "days": 100,  # days simulated and observed
    "train_days": 50,  # the models see days 0 .. train_days - 1
    "noise": 0.05,  # log-normal sigma of the observations
    "dt": 1.0,  # RK4 step (days) of every model
    "hidden": 8,  # width of the quarantine network
    "node_hidden": 32,  # width of the Neural ODE's two hidden layers
    "epochs": {"ude": 500, "sir": 300, "node": 800},  # Adam steps
    "lr": {"ude": 0.03, "sir": 0.05, "node": 0.01},  # Adam learning rates
}
MODELS = ("ude", "sir", "node")


def outbreak_of(config: dict) -> Outbreak:
    """The synthetic outbreak of ``config`` (float64)."""
    return make_outbreak(
        config["days"], noise=config["noise"], seed=config["seed"], dtype=torch.float64
    )


def observed(outbreak: Outbreak) -> torch.Tensor:
    """The observed ``(A, R)`` counts, shape ``(days, 2)``."""
    return torch.stack([outbreak.infected, outbreak.removed], dim=-1)


def build(name: str, outbreak: Outbreak, config: dict) -> Forecaster:
    """A freshly initialised forecaster ``name`` (``"ude"``, ``"sir"``, ``"node"``)."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {MODELS}, got {name!r}")
    n_train = config["train_days"]
    obs = observed(outbreak)[:n_train]  # (T_train, 2)
    population = outbreak.truth.population
    # The initial weights are drawn in float32 and then converted, whatever the
    # caller's default dtype, so that a run repeats bit for bit in any session.
    default_dtype = torch.get_default_dtype()
    with torch.random.fork_rng():
        torch.set_default_dtype(torch.float32)
        try:
            seed_everything(config["seed"])
            model = _fresh_model(name, obs, population, config)
            forecaster = Forecaster(model, obs[0], dt=config["dt"])
        finally:
            torch.set_default_dtype(default_dtype)
    return forecaster.double()


def _fresh_model(name, obs, population, config):
    if name == "ude":
        active, removed = obs.max(dim=0).values / population
        scale = ((active + removed).item(), active.item(), removed.item())
        return QuarantineSIR(population, hidden=config["hidden"], scale=scale)
    if name == "sir":
        return SIR(population)
    logs = obs.log()
    return LogCountsNODE(
        center=logs.mean(dim=0).tolist(),
        width=logs.std(dim=0).tolist(),
        hidden=config["node_hidden"],
    )


def fit_model(name, outbreak, config, *, epochs=None, progress=None):
    """Train ``build(name, ...)`` on the first ``train_days`` days.

    Returns:
        ``(forecaster, history)``.
    """
    forecaster = build(name, outbreak, config)
    n_train = config["train_days"]
    ts = outbreak.ts[:n_train]
    obs = observed(outbreak)[:n_train]
    history = fit(
        forecaster,
        lambda: log_mse(forecaster(ts), obs),
        epochs=config["epochs"][name] if epochs is None else epochs,
        lr=config["lr"][name],
        progress=progress,
    )
    return forecaster, history


def run(config: dict = CONFIG, *, progress=None) -> dict:
    """Train the three models; the JSON-ready results."""
    outbreak = outbreak_of(config)
    ts = outbreak.ts[: config["train_days"]]
    obs = observed(outbreak)[: config["train_days"]]
    results = {"config": config, "models": {}}
    for name in MODELS:
        start = time.perf_counter()
        forecaster, history = fit_model(name, outbreak, config, progress=progress)
        with torch.no_grad():
            final = log_mse(forecaster(ts), obs).item()
        results["models"][name] = {
            "final_loss": final,
            "state_dict": {
                key: value.tolist() for key, value in forecaster.state_dict().items()
            },
            "loss": history.loss,
            "seconds": time.perf_counter() - start,
        }
    return results


def load(path: str | Path = RESULTS) -> tuple[dict, dict[str, Forecaster]]:
    """The results in ``path`` and the three trained forecasters rebuilt from them."""
    with open(path, encoding="utf-8") as fh:
        results = json.load(fh)
    config = results["config"]
    outbreak = outbreak_of(config)
    forecasters = {}
    for name in MODELS:
        forecaster = build(name, outbreak, config)
        state = {
            key: torch.tensor(value, dtype=torch.float64)
            for key, value in results["models"][name]["state_dict"].items()
        }
        forecaster.load_state_dict(state)
        forecasters[name] = forecaster
    return results, forecasters


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``main``."""
    return _cli.json_experiment_parser("epidemic", __doc__.splitlines()[0], RESULTS, 8)


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments of ``main``, checked before the training runs."""
    return _cli.parse_json_experiment_args(build_parser(), argv, RESULTS)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = run(CONFIG, progress=args.progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
        fh.write("\n")
    for name, entry in results["models"].items():
        print(f"{name}: final loss {entry['loss'][-1]:.4g}, {entry['seconds']:.0f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
