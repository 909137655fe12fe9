"""The from-scratch adjoint: closed forms, and four independent gradients agreeing."""

import math

import pytest
import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

import nodecourse as nc
from nodecourse.adjoint import adjoint_odeint

F64 = torch.float64
TIGHT = {"rtol": 1e-11, "atol": 1e-12}


class Scale(nn.Module):
    """dz/dt = theta * z."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=F64))

    def forward(self, t, z):
        return self.theta * z


def test_exponential_growth_matches_closed_forms():
    # z(t1) = z0 exp(theta (t1 - t0)), L = z(t1):
    # dL/dz0 = e, dL/dtheta = z0 (t1 - t0) e, dL/dt1 = theta z0 e = -dL/dt0.
    theta, z0_value, t0, t1 = 0.7, 1.3, 0.2, 1.5
    f = Scale(theta)
    z0 = torch.tensor([z0_value], dtype=F64, requires_grad=True)
    ts = torch.tensor([t0, t1], dtype=F64, requires_grad=True)
    ys = adjoint_odeint(f, z0, ts, **TIGHT)
    ys[-1].sum().backward()
    e = math.exp(theta * (t1 - t0))
    assert ys[-1].item() == pytest.approx(z0_value * e, rel=1e-10)
    assert z0.grad.item() == pytest.approx(e, rel=1e-9)
    assert f.theta.grad.item() == pytest.approx(z0_value * (t1 - t0) * e, rel=1e-9)
    assert ts.grad[1].item() == pytest.approx(theta * z0_value * e, rel=1e-9)
    assert ts.grad[0].item() == pytest.approx(-theta * z0_value * e, rel=1e-9)


def _mlp_problem(seed=0):
    torch.manual_seed(seed)
    field = nc.MLPVectorField(2, hidden=16, time_dependent=True).double()
    y0 = torch.randn(3, 2, dtype=F64)
    ts = torch.tensor([0.0, 0.4, 0.7, 1.2], dtype=F64)
    weights = torch.randn(4, 3, 2, dtype=F64)  # L = sum(weights * ys): all outputs

    def loss(ys):
        return (weights * ys).sum() + 0.5 * (ys[-1] ** 2).sum()

    return field, y0, ts, loss


def _gradients(solve, field, y0, ts, loss):
    field.zero_grad()
    y0 = y0.clone().requires_grad_(True)
    ts = ts.clone().requires_grad_(True)
    loss(solve(field, y0, ts)).backward()
    grads = {"y0": y0.grad.clone(), "ts": ts.grad.clone()}
    grads.update({n: p.grad.clone() for n, p in field.named_parameters()})
    return grads


SOLVES = {
    "scratch adjoint": lambda f, y0, ts: adjoint_odeint(f, y0, ts, **TIGHT),
    "autograd through solver": lambda f, y0, ts: odeint(f, y0, ts, **TIGHT),
    "torchdiffeq adjoint": lambda f, y0, ts: odeint_adjoint(
        f, y0, ts, adjoint_params=tuple(f.parameters()), **TIGHT
    ),
}


@pytest.mark.parametrize("name", ["autograd through solver", "torchdiffeq adjoint"])
def test_scratch_adjoint_agrees_with_autograd_and_torchdiffeq(name):
    field, y0, ts, loss = _mlp_problem()
    ours = _gradients(SOLVES["scratch adjoint"], field, y0, ts, loss)
    theirs = _gradients(SOLVES[name], field, y0, ts, loss)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.allclose(ours[key], theirs[key], rtol=1e-7, atol=1e-8), key


def test_scratch_adjoint_agrees_with_central_differences():
    field, y0, ts, loss = _mlp_problem(seed=1)
    grads = _gradients(SOLVES["scratch adjoint"], field, y0, ts, loss)
    h = 1e-5

    def value():
        with torch.no_grad():
            return loss(odeint(field, y0, ts, **TIGHT)).item()

    def central(tensor, index):
        old = tensor[index].item()
        tensor[index] = old + h
        plus = value()
        tensor[index] = old - h
        minus = value()
        tensor[index] = old
        return (plus - minus) / (2 * h)

    checks = [
        ("y0", y0, (1, 0)),
        ("ts", ts, (0,)),
        ("ts", ts, (2,)),
        ("ts", ts, (3,)),
        ("net.0.weight", field.net[0].weight.data, (3, 1)),
        ("net.0.weight", field.net[0].weight.data, (5, 2)),  # the time column
        ("net.2.bias", field.net[2].bias.data, (1,)),
    ]
    for key, tensor, index in checks:
        assert grads[key][index].item() == pytest.approx(
            central(tensor, index), rel=1e-6, abs=1e-8
        ), (key, index)


def test_end_time_gradient_is_adjoint_dot_field():
    field, y0, ts, _ = _mlp_problem(seed=2)
    ts = ts.clone().requires_grad_(True)
    ys = adjoint_odeint(field, y0, ts, **TIGHT)
    loss = (ys[-1] ** 2).sum()
    loss.backward()
    a_t1 = 2 * ys[-1].detach()  # a(t1) = dL/dz(t1)
    with torch.no_grad():
        expected = (a_t1 * field(ts[-1], ys[-1])).sum()
    assert ts.grad[-1].item() == pytest.approx(expected.item(), rel=1e-12)
    assert torch.all(ts.grad[1:-1] == 0)  # no loss on the intermediate outputs


def test_closure_tensor_is_an_error_or_gets_its_gradient():
    theta = torch.tensor(0.5, dtype=F64, requires_grad=True)

    class Closure(nn.Module):
        def forward(self, t, z):
            return theta * z

    z0 = torch.ones(1, dtype=F64)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    with pytest.raises(ValueError, match="not among its parameters"):
        adjoint_odeint(Closure(), z0, ts)
    adjoint_odeint(Closure(), z0, ts, params=[theta], **TIGHT)[-1].sum().backward()
    assert theta.grad.item() == pytest.approx(math.exp(0.5), rel=1e-9)


def test_reassigned_parameter_gets_its_gradient():
    f = Scale(0.3)
    f.theta = nn.Parameter(torch.tensor(-0.4, dtype=F64))
    adjoint_odeint(
        f, torch.ones(1, dtype=F64), torch.tensor([0.0, 2.0], dtype=F64), **TIGHT
    )[-1].sum().backward()
    assert f.theta.grad.item() == pytest.approx(2 * math.exp(-0.8), rel=1e-9)


def test_plain_function_needs_params_and_bad_input_is_rejected():
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    with pytest.raises(TypeError, match="pass them as params"):
        adjoint_odeint(lambda t, z: -z, torch.ones(1, dtype=F64), ts)
    ys = adjoint_odeint(lambda t, z: -z, torch.ones(1, dtype=F64), ts, params=[])
    assert ys[-1].item() == pytest.approx(math.exp(-1), rel=1e-6)
    with pytest.raises(ValueError, match=r"ts\[1\] = 0.0 repeats"):
        adjoint_odeint(
            Scale(1.0), torch.ones(1, dtype=F64), torch.tensor([0.0, 0.0], dtype=F64)
        )
    with pytest.raises(ValueError, match=r"returned \(2,\) for a state of shape"):
        adjoint_odeint(
            lambda t, z: torch.cat([z, z]), torch.ones(1, dtype=F64), ts, params=[]
        )


def test_a_state_of_another_dtype_than_the_parameters_is_refused():
    ts = torch.linspace(0, 1, 5)
    field = nc.MLPVectorField(2, 8)
    with pytest.raises(
        TypeError,
        match=r"y0 has dtype torch.float64 but the field's parameters are "
        r"torch.float32; convert one of them: y0.float\(\), or model.double\(\)",
    ):
        adjoint_odeint(field, torch.zeros(5, 2, dtype=F64), ts)
    ys = adjoint_odeint(Scale(-1.0), torch.ones(1, dtype=F64), ts.double(), **TIGHT)
    assert ys.dtype == F64


def test_solver_settings_are_checked_like_neural_ode():
    z0, ts = torch.ones(1, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    with pytest.raises(ValueError, match="rtol must be a positive finite number"):
        adjoint_odeint(Scale(1.0), z0, ts, rtol=-1.0)
    with pytest.raises(ValueError, match="atol must be a positive finite number"):
        adjoint_odeint(Scale(1.0), z0, ts, atol=0.0)
    with pytest.raises(ValueError, match="fixed-step method; say its step"):
        adjoint_odeint(Scale(1.0), z0, ts, method="rk4")
    with pytest.raises(ValueError, match=r"options\['step_size'\] must be a positive"):
        adjoint_odeint(Scale(1.0), z0, ts, method="rk4", options={"step_size": 0.0})
    with pytest.raises(TypeError, match=r"params\[0\] is a float, not a tensor"):
        adjoint_odeint(Scale(1.0), z0, ts, params=[1.0])
    ys = adjoint_odeint(Scale(-1.0), z0, ts, method="rk4", options={"step_size": 0.1})
    assert ys[-1].item() == pytest.approx(math.exp(-1), rel=1e-6)
