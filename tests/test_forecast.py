"""Forecasting: the growing window sees only its k observations; baselines; RMSE."""

import math

import pytest
import torch

import nodecourse as nc
from nodecourse.forecast import (
    EnsembleField,
    fit_growing_window,
    growing_windows,
    harmonic_regression,
    persistence,
    rmse,
    seasonal_naive,
    window_loss,
)

F64 = torch.float64


def small_node(seed=0, dtype=F64):
    nc.seed_everything(seed)
    field = nc.MLPVectorField(3, hidden=8, n_layers=2, activation="silu").to(dtype)
    return nc.NeuralODE(field, method="rk4", options={"step_size": 0.5})


def series(T=12, n=3, seed=1, dtype=F64):
    gen = torch.Generator().manual_seed(seed)
    ts = torch.arange(T, dtype=dtype)
    return ts, torch.randn(T, n, generator=gen, dtype=dtype)


def grads(model):
    return [p.grad.clone() for p in model.parameters()]


# --- the growing window ------------------------------------------------------


def test_growing_windows():
    assert growing_windows(24, 6, 6) == [6, 12, 18, 24]
    assert growing_windows(20, 8, 8) == [8, 16, 20]
    assert growing_windows(5, 5, 3) == [5]
    with pytest.raises(ValueError, match="first=1"):
        growing_windows(10, 1, 2)


@pytest.mark.parametrize("k", [2, 5, 11])
def test_window_loss_ignores_every_observation_after_k(k):
    model = small_node()
    ts, ys = series()
    loss = window_loss(model, ts, ys, k)
    loss.backward()
    g = grads(model)
    # Replace everything from observation k on: values by NaN, times by nonsense
    # (still increasing, so the grid is valid). Loss and gradient must not move.
    ys_bad, ts_bad = ys.clone(), ts.clone()
    ys_bad[k:] = float("nan")
    ts_bad[k:] = ts_bad[k:] * 1000.0
    model.zero_grad()
    loss_bad = window_loss(model, ts_bad, ys_bad, k)
    loss_bad.backward()
    assert loss_bad.item() == loss.item()
    assert all(torch.equal(a, b) for a, b in zip(g, grads(model), strict=True))
    # And the loss is the MSE of a solve on the first k times only.
    with torch.no_grad():
        pred = model(ys[0], ts[:k])
    mse = ((pred - ys[:k]) ** 2).mean().item()
    assert math.isclose(loss.item(), mse, rel_tol=1e-12)


def test_window_loss_does_see_observation_k_minus_1():
    # The converse: the last observation inside the window does change the loss,
    # so the test above is not passing because the loss ignores data altogether.
    model = small_node()
    ts, ys = series()
    k = 5
    ys_moved = ys.clone()
    ys_moved[k - 1] += 1.0
    assert window_loss(model, ts, ys_moved, k) != window_loss(model, ts, ys, k)


def test_a_whole_round_of_training_uses_only_the_window():
    ts, ys = series()
    k = 4
    ys_other = ys.clone()
    ys_other[k:] = torch.randn(len(ys) - k, ys.shape[1], dtype=F64) * 50
    trained = []
    for data in (ys, ys_other):
        model = small_node(seed=3)
        fit_growing_window(model, ts, data, [k], epochs=5, lr=1e-2, progress=False)
        trained.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*trained, strict=True))
    # With the next window the two runs part.
    runs = []
    for data in (ys, ys_other):
        model = small_node(seed=3)
        fit_growing_window(model, ts, data, [k, 8], epochs=5, lr=1e-2, progress=False)
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(*runs)


def test_parameters_carry_over_between_rounds():
    ts, ys = series()
    model = small_node(seed=4)
    histories = fit_growing_window(
        model, ts, ys, [4, 8], epochs=10, lr=1e-2, progress=False
    )
    assert [h.epochs for h in histories] == [10, 10]
    # Round 2 starts where round 1 ended: its first loss is the 8-window loss of
    # the parameters after round 1, not of a fresh model.
    fresh = small_node(seed=4)
    assert histories[1].loss[0] != pytest.approx(window_loss(fresh, ts, ys, 8).item())
    again = small_node(seed=4)
    fit_growing_window(again, ts, ys, [4], epochs=10, lr=1e-2, progress=False)
    assert histories[1].loss[0] == pytest.approx(
        window_loss(again, ts, ys, 8).item(), rel=1e-12
    )


def test_bad_windows_are_rejected():
    ts, ys = series()
    model = small_node()
    with pytest.raises(ValueError, match="increasing"):
        fit_growing_window(model, ts, ys, [6, 4], epochs=1)
    with pytest.raises(ValueError, match="longer than the series"):
        fit_growing_window(model, ts, ys, [4, 20], epochs=1)
    with pytest.raises(ValueError, match="k=1"):
        window_loss(model, ts, ys, 1)
    with pytest.raises(ValueError, match=r"\(T, n\)"):
        window_loss(model, ts, ys[:, 0], 4)


# --- the ensemble ------------------------------------------------------------


def test_ensemble_members_match_the_fields_they_were_built_from():
    fields = []
    for seed in range(3):
        nc.seed_everything(seed)
        fields.append(nc.MLPVectorField(3, hidden=8, n_layers=2, activation="silu"))
    ensemble = EnsembleField.from_fields(fields).to(F64)
    y = torch.randn(3, 3, dtype=F64)
    t = torch.tensor(0.0, dtype=F64)
    out = ensemble(t, y)
    for s, field in enumerate(fields):
        ref = field.to(F64)(t, y[s])
        assert torch.allclose(out[s], ref, rtol=1e-12, atol=1e-14)


def test_ensemble_training_equals_training_each_member_alone():
    ts, ys = series()
    fields = []
    for seed in range(2):
        nc.seed_everything(seed)
        fields.append(
            nc.MLPVectorField(3, hidden=8, n_layers=2, activation="silu").to(F64)
        )
    ensemble = nc.NeuralODE(
        EnsembleField.from_fields(fields), method="rk4", options={"step_size": 0.5}
    )
    fit_growing_window(
        ensemble, ts, ys, [4, 8], epochs=5, lr=1e-2, members=2, progress=False
    )
    with torch.no_grad():
        together = ensemble(ys[0].expand(2, -1), ts)  # (T, 2, n)
    for s, field in enumerate(fields):
        alone = nc.NeuralODE(field, method="rk4", options={"step_size": 0.5})
        fit_growing_window(alone, ts, ys, [4, 8], epochs=5, lr=1e-2, progress=False)
        with torch.no_grad():
            assert torch.allclose(alone(ys[0], ts), together[:, s], rtol=1e-9)


# --- baselines on data with known answers ------------------------------------


def test_harmonic_regression_fits_a_pure_sinusoid_exactly():
    ts = torch.arange(30, dtype=F64)
    ys = torch.stack(
        [
            3.0 + 2.0 * torch.sin(2 * math.pi * ts / 12 + 0.4),
            -1.0 + 0.5 * torch.cos(2 * math.pi * ts / 12),
        ],
        dim=1,
    )
    ts_new = torch.arange(30, 60, dtype=F64)
    truth = torch.stack(
        [
            3.0 + 2.0 * torch.sin(2 * math.pi * ts_new / 12 + 0.4),
            -1.0 + 0.5 * torch.cos(2 * math.pi * ts_new / 12),
        ],
        dim=1,
    )
    pred = harmonic_regression(ts[:24], ys[:24], ts_new)
    assert rmse(pred, truth).max() < 1e-12


def test_harmonic_regression_is_least_squares_under_noise():
    # The residual of a least-squares fit is orthogonal to every feature.
    ts, ys = series(T=40, n=2)
    fitted = harmonic_regression(ts, ys, ts, n_harmonics=2)
    residual = ys - fitted
    from nodecourse.forecast import harmonic_features

    design = harmonic_features(ts, 12.0, 2)
    assert (design.T @ residual).abs().max() < 1e-10


def test_persistence_and_seasonal_naive():
    ts = torch.arange(24, dtype=F64)
    ys = torch.stack([ts, ts % 12], dim=1)  # a ramp and a sawtooth of period 12
    assert torch.equal(persistence(ys, 3), torch.tensor([[23.0, 11.0]] * 3, dtype=F64))
    seasonal = seasonal_naive(ys, 15)
    # The sawtooth is periodic, so the seasonal forecast is exact for it ...
    assert torch.equal(seasonal[:, 1], (torch.arange(24, 39, dtype=F64)) % 12)
    # ... and for the ramp it repeats the last year: 12, ..., 23, then 12, 13, 14.
    assert seasonal[:, 0].tolist() == list(range(12, 24)) + [12.0, 13.0, 14.0]
    with pytest.raises(ValueError, match="full period"):
        seasonal_naive(ys[:5], 3)
    with pytest.raises(
        ValueError, match=r"ys_train has no observations \(shape \(0, 4\)\)"
    ):
        persistence(torch.ones(0, 4), 3)


def test_rmse_known_values_and_errors():
    target = torch.zeros(4, 2)
    pred = torch.tensor([[1.0, 2.0], [-1.0, 2.0], [1.0, -2.0], [-1.0, -2.0]])
    assert rmse(pred, target).tolist() == [1.0, 2.0]
    pred2 = torch.tensor([[3.0, 0.0], [4.0, 0.0]])
    assert rmse(pred2, torch.zeros(2, 2))[0].item() == pytest.approx(math.sqrt(12.5))
    with pytest.raises(ValueError, match="must match"):
        rmse(pred, target.T)
    with pytest.raises(ValueError, match="finite"):
        rmse(pred * float("nan"), target)


def test_baselines_on_the_seattle_data():
    data = nc.data.monthly_weather(n_train=24, dtype=F64)
    horizon = len(data.ts_test)
    harmonic = harmonic_regression(data.ts_train, data.raw_train, data.ts_test)
    scores = {
        "persistence": rmse(persistence(data.raw_train, horizon), data.raw_test),
        "seasonal": rmse(seasonal_naive(data.raw_train, horizon), data.raw_test),
        "harmonic": rmse(harmonic, data.raw_test),
    }
    # The temperatures have a strong yearly cycle: the seasonal methods beat the
    # last value by a wide margin there.
    for name in ("seasonal", "harmonic"):
        assert (scores[name][1:3] < 0.5 * scores["persistence"][1:3]).all()
