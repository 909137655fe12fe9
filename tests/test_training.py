"""The fit loop: it learns, stops at the tolerance, and stops loudly on NaN."""

import math

import numpy as np
import pytest
import torch

import nodecourse as nc


def _regression(seed=0):
    torch.manual_seed(seed)
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 2 * x - 0.5
    model = torch.nn.Linear(1, 1)
    return model, lambda: torch.mean((model(x) - y) ** 2)


def test_fit_learns_a_line_and_records_history():
    model, loss_fn = _regression()
    history = nc.fit(model, loss_fn, epochs=300, lr=0.1, progress=False)
    assert history.epochs == 300 and history.stop_reason == "epochs"
    assert history.loss[-1] < 1e-4 < history.loss[0]
    assert model.weight.item() == pytest.approx(2.0, abs=1e-2)
    assert len(history.time) == 300 and history.time == sorted(history.time)
    assert history.nfe == [0] * 300


def test_fit_stops_early_at_the_tolerance_without_a_further_step():
    model, loss_fn = _regression()
    history = nc.fit(model, loss_fn, epochs=10_000, lr=0.1, tol=1e-3, progress=False)
    assert history.converged
    assert history.epochs < 10_000
    assert history.loss[-1] <= 1e-3 < history.loss[-2]
    assert loss_fn().item() == pytest.approx(history.loss[-1])


def test_fit_records_validation_loss():
    model, loss_fn = _regression()
    history = nc.fit(
        model, loss_fn, epochs=5, val_fn=lambda: 2 * loss_fn(), progress=False
    )
    assert len(history.val_loss) == 5
    assert all(math.isfinite(v) for v in history.val_loss)


def test_fit_stops_on_a_nan_parameter_before_training():
    model, loss_fn = _regression()
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with pytest.raises(nc.TrainingDiverged, match=r"'weight' is not finite.*epoch 0"):
        nc.fit(model, loss_fn, epochs=10, progress=False)


def test_fit_stops_on_a_nan_loss_naming_the_epoch_and_keeps_history():
    model, loss_fn = _regression()
    calls = []

    def loss_with_nan_at_epoch_4():
        calls.append(1)
        loss = loss_fn()
        return loss * float("nan") if len(calls) == 4 else loss

    with pytest.raises(nc.TrainingDiverged, match="loss is nan at epoch 4") as err:
        nc.fit(model, loss_with_nan_at_epoch_4, epochs=10, progress=False)
    assert err.value.history.epochs == 3
    assert all(math.isfinite(v) for v in err.value.history.loss)


def test_fit_stops_when_a_step_makes_parameters_non_finite():
    model, loss_fn = _regression()
    with pytest.raises(nc.TrainingDiverged, match="became non-finite at epoch 1"):
        nc.fit(
            model,
            loss_fn,
            epochs=10,
            optimizer=torch.optim.SGD(model.parameters(), lr=float("inf")),
            progress=False,
        )


def test_fit_counts_neural_ode_evaluations():
    torch.manual_seed(0)
    node = nc.NeuralODE(nc.MLPVectorField(2, hidden=8))
    y0, ts = torch.randn(8, 2), torch.linspace(0, 1, 3)
    history = nc.fit(node, lambda: node(y0, ts).pow(2).mean(), epochs=3, progress=False)
    assert all(n > 0 for n in history.nfe)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int"),
        ({"epochs": 5, "tol": -1.0}, ValueError, "tol must be a non-negative finite"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, message):
    model, loss_fn = _regression()
    with pytest.raises(error, match=message):
        nc.fit(model, loss_fn, progress=False, **kwargs)


def test_fit_rejects_a_non_scalar_loss_and_a_model_without_parameters():
    model, _ = _regression()
    with pytest.raises(TypeError, match="scalar tensor"):
        nc.fit(model, lambda: torch.ones(3), epochs=1, progress=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        nc.fit(torch.nn.ReLU(), lambda: torch.ones(()), epochs=1, progress=False)


def test_progress_setting(monkeypatch):
    from nodecourse.training import _progress_wanted

    assert _progress_wanted(True) and not _progress_wanted(False)
    monkeypatch.setenv("NODECOURSE_PROGRESS", "0")
    assert not _progress_wanted(None)
    monkeypatch.setenv("NODECOURSE_PROGRESS", "1")
    assert _progress_wanted(None)


def test_progress_wraps_a_hand_written_loop(monkeypatch, capsys):
    from nodecourse.training import progress

    monkeypatch.setenv("NODECOURSE_PROGRESS", "1")
    assert list(progress(range(3), desc="steps")) == [0, 1, 2]
    assert "steps" in capsys.readouterr().err
    monkeypatch.setenv("NODECOURSE_PROGRESS", "0")
    items = range(3)
    assert progress(items, desc="steps") is items
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="show must be True, False or None"):
        progress(items, show=1)


def test_fit_refuses_lbfgs_with_a_clear_error():
    model, loss_fn = _regression()
    with pytest.raises(TypeError, match="L-BFGS needs a closure"):
        nc.fit(
            model,
            loss_fn,
            epochs=3,
            progress=False,
            optimizer=torch.optim.LBFGS(model.parameters()),
        )


def test_fit_refuses_silent_mistakes():
    model, loss_fn = _regression()
    other = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="optimizer updates none of the model's"):
        nc.fit(
            model,
            loss_fn,
            epochs=3,
            progress=False,
            optimizer=torch.optim.SGD(other.parameters(), lr=0.1),
        )
    with pytest.raises(ValueError, match="does not depend on any trainable"):
        nc.fit(model, lambda: torch.tensor(1.0), epochs=3, progress=False)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        nc.fit(model, loss_fn, epochs=3, progress="no")
    with pytest.raises(TypeError, match="val_fn must return a scalar"):
        nc.fit(model, loss_fn, epochs=3, progress=False, val_fn=lambda: torch.ones(2))
    with pytest.raises(nc.TrainingDiverged, match="validation loss is nan at epoch 1"):
        nc.fit(
            model,
            loss_fn,
            epochs=3,
            progress=False,
            val_fn=lambda: torch.tensor(float("nan")),
        )
    history = nc.fit(model, loss_fn, epochs=np.int64(2), progress=False)
    assert history.epochs == 2


def test_fit_needs_a_module_and_a_loss_of_its_parameters():
    model, _ = _regression()
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        nc.fit(lambda x: x, lambda: torch.ones(()), epochs=1, progress=False)
    unrelated = torch.ones((), requires_grad=True)
    with pytest.raises(ValueError, match="none received a gradient"):
        nc.fit(model, lambda: unrelated * 2, epochs=1, progress=False)
