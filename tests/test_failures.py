"""Bad input and numerical failure: the right value, or an error that says what to do.

Each test is a small input with a known right answer; the guards live in shared
functions so that every public entry point gets the same treatment.
"""

import math

import pytest
import torch
from torch import nn

import nodecourse as nc
from nodecourse.adjoint import adjoint_odeint

F64 = torch.float64
BLOW_UP_TS = [0.0, 0.5, 0.9, 2.0]  # y' = y^2, y(0) = 1 has y = 1 / (1 - t)


class Square(nn.Module):
    def forward(self, t, y):
        return y**2


def test_adaptive_solve_reports_blow_up_with_place_cause_and_remedy():
    node = nc.NeuralODE(Square(), rtol=1e-8, atol=1e-10)
    y0 = torch.ones(1, dtype=F64)
    ys = node(y0, torch.tensor(BLOW_UP_TS[:3], dtype=F64)).ravel()
    assert ys[1].item() == pytest.approx(2.0, rel=1e-4)
    assert ys[2].item() == pytest.approx(10.0, rel=1e-4)
    with pytest.raises(FloatingPointError) as err:
        node(y0, torch.tensor(BLOW_UP_TS, dtype=F64))
    message = str(err.value)
    t_stop = float(message.split("near t = ")[1].split(",")[0])
    assert t_stop == pytest.approx(1.0, abs=1e-3)
    assert "blows up" in message and "stiff" in message and "Try" in message


def test_scratch_adjoint_reports_blow_up_too():
    with pytest.raises(FloatingPointError, match=r"near t = 1\b"):
        adjoint_odeint(
            Square(), torch.ones(1, dtype=F64), torch.tensor(BLOW_UP_TS, dtype=F64)
        )


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_fixed_step_blow_up_stops_at_first_non_finite_state(method):
    with pytest.raises(FloatingPointError, match=r"non-finite at step \d+ \(t = "):
        nc.odeint_fixed(
            lambda t, y: y**2,
            torch.ones(1, dtype=F64),
            torch.tensor(BLOW_UP_TS, dtype=F64),
            method=method,
            dt=0.01,
        )


@pytest.mark.parametrize("solve", ["euler", "rk4", "node", "adjoint"])
def test_decreasing_times_integrate_backwards(solve):
    # dy/dt = -y, y(1) = 1 gives y(0) = e.
    y1 = torch.ones(1, dtype=F64)
    ts = torch.tensor([1.0, 0.5, 0.0], dtype=F64)

    class Decay(nn.Module):
        def forward(self, t, y):
            return -y

    if solve == "node":
        ys = nc.NeuralODE(Decay(), rtol=1e-10, atol=1e-10)(y1, ts)
    elif solve == "adjoint":
        ys = adjoint_odeint(Decay(), y1, ts, rtol=1e-10, atol=1e-10)
    else:
        ys = getattr(nc, solve)(Decay(), y1, ts, dt=1e-4).ys
    tol = 1e-3 if solve == "euler" else 1e-8
    assert ys[-1].item() == pytest.approx(math.e, rel=tol)


@pytest.mark.parametrize(
    "method, dt, expected",
    [
        ("euler", 0.5, 0.25),
        ("euler", 0.1, 0.348678),
        ("euler", 0.01, 0.366032),
        ("rk4", 0.1, 0.367880),
    ],
)
def test_teaching_solver_values_on_decay(method, dt, expected):
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    sol = nc.odeint_fixed(
        lambda t, y: -y, torch.ones(1, dtype=F64), ts, method=method, dt=dt
    )
    assert sol.ys[-1].item() == pytest.approx(expected, abs=5e-7)


def test_many_small_steps_land_exactly_on_the_end(device, monkeypatch):
    ts = torch.tensor([0.0, 5.9], dtype=F64, device=device)
    y0 = torch.tensor([0.5], dtype=F64, device=device)
    step_ends = []
    euler_step, evals = nc.solvers._METHODS["euler"]

    def recording_step(f, t, y, dt):
        step_ends.append(t + dt)
        return euler_step(f, t, y, dt)

    monkeypatch.setitem(nc.solvers._METHODS, "euler", (recording_step, evals))
    sol = nc.euler(lambda t, y: y, y0, ts, dt=1e-4)
    assert sol.n_steps == len(step_ends) == 59000
    assert sol.ys[-1].item() == pytest.approx(0.5 * (1 + 1e-4) ** 59000, rel=1e-12)
    assert sol.ys[-1].item() == pytest.approx(182.46, abs=0.01)
    # The last step ends on 5.9 exactly, not on 59000 * 1e-4 or a sum of steps.
    assert step_ends[-1].item() == 5.9
    assert nc.step_counts(torch.tensor([0.0, 1.0]), dt=0.1) == [10]


@pytest.mark.parametrize("entry", ["euler", "rk4", "node", "adjoint", "resnet"])
def test_field_of_the_wrong_width_is_refused_before_integration(entry):
    field = nn.Linear(3, 2)  # maps width 3 to width 2

    class Field(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = field

        def forward(self, t, y):
            return self.lin(y)

    y0 = torch.randn(4, 3)
    ts = torch.tensor([0.0, 1.0])
    message = r"returned \(4, 2\) for a state of shape \(4, 3\)"
    with pytest.raises(ValueError, match=message):
        if entry == "node":
            nc.NeuralODE(Field())(y0, ts)
        elif entry == "adjoint":
            adjoint_odeint(Field(), y0, ts)
        elif entry == "resnet":
            nc.ResidualNet(Field(), n_blocks=3)(y0)
        else:
            getattr(nc, entry)(Field(), y0, ts, dt=0.1)


def test_neural_ode_names_a_non_finite_field_or_state():
    field = nc.MLPVectorField(2)
    node = nc.NeuralODE(field)
    ts = torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match=r"y0\[1, 0\] = nan"):
        node(torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), ts)
    node(torch.zeros(3, 2), ts)
    with torch.no_grad():
        field.net[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="vector field is not finite at the initial"):
        node(torch.zeros(3, 2), ts)


def test_fit_stops_a_neural_ode_with_a_nan_weight_at_once():
    nc.seed_everything(0)
    node = nc.NeuralODE(nc.MLPVectorField(2), method="rk4", options={"step_size": 0.1})
    y0, ts = torch.randn(8, 2), torch.linspace(0, 1, 5)
    target = y0.expand(5, 8, 2)
    with torch.no_grad():
        node.field.net[0].weight[1, 0] = float("nan")
    before = [p.detach().clone() for p in node.parameters()]
    with pytest.raises(
        nc.TrainingDiverged,
        match=r"parameter 'counter\.field\.net\.0\.weight' is not finite before "
        r"training \(epoch 0\)",
    ) as err:
        nc.fit(node, lambda: ((node(y0, ts) - target) ** 2).mean(), epochs=20)
    assert err.value.history.epochs == 0 and node.nfe == 0
    after = list(node.parameters())
    assert all(
        torch.allclose(a, b, equal_nan=True) for a, b in zip(after, before, strict=True)
    )


def test_neural_ode_refuses_a_fixed_step_method_without_a_step_and_bad_tolerances():
    with pytest.raises(ValueError, match="fixed-step method; say its step"):
        nc.NeuralODE(nc.MLPVectorField(2), method="euler")
    node = nc.NeuralODE(nc.MLPVectorField(2), method="rk4", options={"step_size": 0.1})
    assert node(torch.zeros(1, 2), torch.tensor([0.0, 1.0])).shape == (2, 1, 2)
    with pytest.raises(ValueError, match="rtol must be a positive finite number"):
        nc.NeuralODE(nc.MLPVectorField(2), rtol=-1.0)
    with pytest.raises(ValueError, match="atol must be a positive number"):
        nc.NeuralODE(nc.MLPVectorField(2), atol="1e-3")


def test_model_inputs_of_the_wrong_shape_get_a_hint():
    with pytest.raises(ValueError, match=r"got \(5,\) \(for a batch of scalars, use"):
        nc.OneHiddenLayer()(torch.randn(5))
    with pytest.raises(TypeError, match="h must be a torch.Tensor"):
        nc.ResidualNet(nc.MLPVectorField(2), 4)([[0.0, 1.0]])


def test_a_field_that_cannot_take_time_and_state_is_refused_before_solving():
    ts = torch.tensor([0.0, 1.0])
    with pytest.raises(TypeError, match=r"called as f\(t, y\).*<lambda>\(y\)"):
        nc.rk4(lambda y: -y, torch.ones(2), ts, dt=0.1)
    with pytest.raises(TypeError, match=r"Linear\(input: .*define it with both"):
        nc.NeuralODE(torch.nn.Linear(2, 2))
    # A field that ignores t is fine, and so is one taking extra optional arguments.
    nc.rk4(lambda t, y, scale=1.0: -scale * y, torch.ones(2), ts, dt=0.1)
