"""The synthetic outbreak and the epidemic models: closed forms, invariants, shapes."""

import json
import math

import pytest
import torch

import nodecourse as nc
from nodecourse.data import make_outbreak, quarantine_policy
from nodecourse.experiments import epidemic as experiment
from nodecourse.ude import (
    SIR,
    Forecaster,
    LogCountsNODE,
    QuarantineNet,
    QuarantineSIR,
    log_mse,
    quarantine_sir_field,
    reproduction_number,
)

F64 = torch.float64
N = 1e6


def random_states(n, generator):
    """``n`` positive states (S, I, R, T) summing to N, shape (n, 4)."""
    parts = torch.rand(n, 4, generator=generator, dtype=F64) ** 3
    return N * parts / parts.sum(-1, keepdim=True)


# --- the data generator ------------------------------------------------------


def test_no_infection_when_beta_is_zero_matches_the_closed_form():
    # With beta = 0 and Q = q from day 0: S is constant, I = I0 exp(-(gamma + q) t),
    # and T solves T' = q I - delta T, T(0) = 0.
    i0, r0, gamma, delta, q = 500.0, 20.0, 0.1, 0.05, 0.3
    outbreak = make_outbreak(
        60, infected0=i0, removed0=r0, beta=0.0, gamma=gamma, delta=delta,
        q_max=q, switch_day=0.0, switch_width=0.0, noise=0.0,
    )  # fmt: skip
    t = outbreak.ts
    decay = gamma + q
    infected = i0 * torch.exp(-decay * t)
    quarantined = q * i0 * (torch.exp(-decay * t) - torch.exp(-delta * t))
    quarantined = quarantined / (delta - decay)
    s, i, r, tq = outbreak.states.unbind(-1)
    assert torch.equal(s, torch.full_like(s, N - i0 - r0))
    assert nc.eps_r(i, infected) < 1e-9
    assert nc.eps_r(tq[1:], quarantined[1:]) < 1e-9
    assert nc.eps_r(r, N - s - infected - quarantined) < 1e-9


def test_population_is_conserved():
    outbreak = make_outbreak(100, noise=0.0)
    total = outbreak.states.sum(-1)
    assert (total - N).abs().max().item() < 1e-9 * N


def test_without_quarantine_the_sir_invariant_holds():
    # With Q = 0 (and T = 0), d log S / dt = -beta I / N and dR/dt = gamma I, so
    # S exp(beta R / (gamma N)) stays constant.
    beta, gamma = 0.3, 0.1
    outbreak = make_outbreak(120, beta=beta, gamma=gamma, q_max=0.0, noise=0.0)
    s, _, r, tq = outbreak.states.unbind(-1)
    invariant = s * torch.exp(beta * r / (gamma * N))
    assert torch.equal(tq, torch.zeros_like(tq))
    assert nc.eps_r(invariant, torch.full_like(invariant, invariant[0].item())) < 1e-9
    assert s[-1] < 0.2 * N  # the epidemic did run its course


def test_observations_are_seeded_lognormal_around_the_truth():
    # 2 x 400 draws: the standard errors of the std and the mean are about 0.0025
    # and 0.0035, so the tolerances below are about three standard errors.
    a = make_outbreak(400, noise=0.1, seed=3, dt=0.5)
    b = make_outbreak(400, noise=0.1, seed=3, dt=0.5)
    c = make_outbreak(400, noise=0.1, seed=4, dt=0.5)
    assert torch.equal(a.infected, b.infected) and torch.equal(a.removed, b.removed)
    assert not torch.equal(a.infected, c.infected)
    ratios = [a.infected / a.active, a.removed / a.states[:, 2]]
    logs = torch.cat([r.log() for r in ratios])
    assert abs(logs.std().item() - 0.1) < 0.008
    assert abs(logs.mean().item()) < 0.011  # the median is the true count
    exact = make_outbreak(30, noise=0.0)
    assert torch.equal(exact.infected, exact.active)


def test_outbreak_shapes_and_dtypes():
    outbreak = make_outbreak(40, dtype=torch.float32)
    assert outbreak.ts.shape == (40,) and outbreak.states.shape == (40, 4)
    assert outbreak.infected.shape == outbreak.removed.shape == (40,)
    assert outbreak.states.dtype == torch.float32
    assert outbreak.y0.shape == (4,)
    assert outbreak.truth.switch_day == 25.0


def test_quarantine_policy_smooth_and_step():
    assert quarantine_policy(25.0, 0.3, 25.0, 2.0).item() == pytest.approx(0.15)
    t = torch.tensor([0.0, 24.9, 25.0, 40.0], dtype=F64)
    assert quarantine_policy(t, 0.3, 25.0).tolist() == [0.0, 0.0, 0.3, 0.3]
    smooth = quarantine_policy(torch.linspace(0, 50, 101, dtype=F64), 0.3, 25.0, 2.0)
    assert bool((smooth.diff() > 0).all()) and smooth[-1] < 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"days": 1}, "days must be at least 2"),
        ({"beta": -0.1}, "beta must be a non-negative"),
        ({"noise": -1.0}, "noise must be a non-negative"),
        ({"infected0": 6e5, "removed0": 5e5}, "someone must be susceptible"),
        ({"dt": 0.3}, "dt must divide one day"),
        ({"switch_width": -1.0}, "switch_width must be a non-negative"),
        ({"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_make_outbreak_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_outbreak(**kwargs)


# --- the models --------------------------------------------------------------


def test_field_conserves_the_population_and_rk4_keeps_it():
    torch.manual_seed(0)
    model = QuarantineSIR(N, scale=(0.05, 0.01, 0.03)).double()
    y = random_states(32, torch.Generator().manual_seed(1))
    assert model(torch.tensor(0.0), y).sum(-1).abs().max().item() < 1e-9
    # RK4 is a linear combination of field values, so it conserves linear
    # invariants up to round-off.
    ys = nc.rk4(model, y[0], torch.arange(60.0, dtype=F64), dt=1.0).ys
    assert (ys.sum(-1) - N).abs().max().item() < 1e-8


def test_model_without_infection_decays_like_the_closed_form():
    # beta -> 0 in the model: I decays as exp(-(gamma + Q) t) with Q = Q(state).
    torch.manual_seed(0)
    model = QuarantineSIR(N, beta=1e-300, gamma=0.1, q_init=0.2).double()
    y0 = torch.tensor([N - 100.0, 100.0, 0.0, 0.0], dtype=F64)
    ys = nc.rk4(model, y0, torch.arange(30.0, dtype=F64), dt=0.1).ys
    q = model.quarantine(ys)  # Q stays at q_init: the output weights start at zero
    assert torch.allclose(q, torch.full_like(q, 0.2), rtol=1e-12)
    expected = 100.0 * torch.exp(-(0.1 + 0.2) * torch.arange(30.0, dtype=F64))
    assert nc.eps_r(ys[:, 1], expected) < 1e-7  # RK4 at dt = 0.1: about 1e-8
    assert torch.equal(ys[:, 0], torch.full_like(ys[:, 0], N - 100.0))


def test_quarantine_is_non_negative_for_any_input():
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        net = QuarantineNet(N, hidden=16).double()
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(50 * torch.randn(p.shape, generator=gen, dtype=F64))
        y = 1e8 * torch.randn(1000, 4, generator=gen, dtype=F64)  # anything at all
        q = net(y)
        assert q.shape == (1000,)
        assert bool((q >= 0).all()) and bool(torch.isfinite(q).all())


def test_reproduction_number_is_the_growth_threshold():
    # dI/dt = (gamma + Q) (R_t - 1) I exactly, so I grows iff R_t > 1.
    torch.manual_seed(0)
    model = QuarantineSIR(N, beta=0.3, gamma=0.1, scale=(0.05, 0.01, 0.03)).double()
    y = random_states(200, torch.Generator().manual_seed(3))
    with torch.no_grad():
        di = model(torch.tensor(0.0), y)[:, 1]
        r_t = model.reproduction_number(y)
        q = model.quarantine(y)
    expected = (model.gamma + q) * (r_t - 1) * y[:, 1]
    assert nc.eps_r(di, expected) < 1e-12
    assert bool((r_t > 1).any()) and bool((r_t < 1).any())
    assert reproduction_number(N, 0.0, 0.3, 0.1, N) == pytest.approx(3.0)


def test_model_shapes():
    torch.manual_seed(0)
    t = torch.tensor(0.0)
    ude = QuarantineSIR(N)
    y = torch.rand(5, 3, 4) * 1e3
    assert ude(t, y).shape == (5, 3, 4)
    assert ude.quarantine(y).shape == ude.reproduction_number(y).shape == (5, 3)
    assert SIR(N)(t, torch.rand(7, 3)).shape == (7, 3)
    assert LogCountsNODE(hidden=4)(t, torch.rand(6, 2)).shape == (6, 2)
    for model in (ude, SIR(N), LogCountsNODE()):
        forecaster = Forecaster(model, torch.tensor([50.0, 10.0]))
        assert forecaster(torch.arange(12.0)).shape == (12, 2)


def test_rates_stay_positive_and_gradients_are_right():
    torch.manual_seed(0)
    model = QuarantineSIR(N, beta=0.3, gamma=0.1, delta=0.05).double()
    assert model.beta.item() == pytest.approx(0.3)
    with torch.no_grad():
        model.rates.log_beta.fill_(-50.0)
    assert model.beta.item() > 0
    y = random_states(3, torch.Generator().manual_seed(4)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: model(torch.tensor(0.0), y) / N, (y,))


def test_models_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        quarantine_sir_field(torch.ones(3), 0.1, 0.3, 0.1, 0.05, N)
    with pytest.raises(ValueError, match="scale must be three positive numbers"):
        QuarantineNet(N, scale=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="population must be a positive"):
        QuarantineSIR(0.0)
    with pytest.raises(ValueError, match="gamma must be a positive"):
        QuarantineSIR(N, gamma=-0.1)
    with pytest.raises(ValueError, match="counts0 must be two positive counts"):
        Forecaster(SIR(N), torch.tensor([50.0, 0.0]))
    with pytest.raises(TypeError, match="initial_state"):
        Forecaster(torch.nn.Linear(2, 2), torch.tensor([50.0, 10.0]))
    with pytest.raises(ValueError, match="they must match"):
        log_mse(torch.ones(3, 2), torch.ones(2, 3))


@pytest.mark.parametrize(
    ("counts", "observed", "message"),
    [
        ([-1.0], [1.0], r"counts\[0\] = -1.0 is not positive"),
        ([[1.0, 2.0], [3.0, 0.0]], [[1.0, 2.0], [3.0, 4.0]], r"counts\[1, 1\] = 0.0"),
        ([1.0, 2.0], [1.0, -0.5], r"observed\[1\] = -0.5 is not positive"),
    ],
)
def test_log_mse_refuses_counts_that_are_not_positive(counts, observed, message):
    # The model's counts and the data get different remedies.
    remedy = "learning rate or solver step" if message.startswith("counts") else "drop"
    with pytest.raises(ValueError, match=message + ".*log_mse compares logarithms.*"):
        log_mse(torch.tensor(counts), torch.tensor(observed))
    with pytest.raises(ValueError, match=remedy):
        log_mse(torch.tensor(counts), torch.tensor(observed))


# --- the committed experiment ------------------------------------------------


def test_committed_experiment_reproduces():
    with open(experiment.RESULTS, encoding="utf-8") as fh:
        results = json.load(fh)
    config = results["config"]
    outbreak = experiment.outbreak_of(config)
    # The first epochs again, also with float64 as the default dtype (as chapter 8
    # runs): the initialisation must not depend on it.
    default_dtype = torch.get_default_dtype()
    try:
        for dtype in (torch.float32, torch.float64):
            torch.set_default_dtype(dtype)
            for name in experiment.MODELS:
                _, history = experiment.fit_model(name, outbreak, config, epochs=2)
                committed = results["models"][name]["loss"][:2]
                assert nc.eps_r(history.loss, committed) < 1e-9, (name, dtype)
    finally:
        torch.set_default_dtype(default_dtype)
    # The trained models rebuilt from the file give the final losses recorded.
    _, forecasters = experiment.load()
    ts = outbreak.ts[: config["train_days"]]
    obs = experiment.observed(outbreak)[: config["train_days"]]
    for name, forecaster in forecasters.items():
        with torch.no_grad():
            loss = log_mse(forecaster(ts), obs).item()
        assert math.isclose(
            loss, results["models"][name]["final_loss"], rel_tol=1e-9
        ), name
