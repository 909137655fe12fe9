"""No float64 on Apple's MPS backend, checked on any machine.

MPS has no float64, so every tensor the package (and torchdiffeq under it) creates
for a float32 solve on MPS must be float32. Without a Mac, the tests take the MPS
code path on the CPU by faking the device check, and record the dtype of every
tensor that any operation produces.
"""

import math

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import nodecourse as nc
from nodecourse import _checks


class DtypeRecorder(TorchDispatchMode):
    """Records the dtypes of all tensors produced by ATen operations."""

    def __init__(self):
        super().__init__()
        self.float64_ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        leaves = out if isinstance(out, tuple | list) else (out,)
        if any(
            isinstance(x, torch.Tensor) and x.dtype == torch.float64 for x in leaves
        ):
            self.float64_ops.append(str(func))
        return out


class Decay(nn.Module):
    """dy/dt = -k y with a learnable rate k = 1."""

    def __init__(self):
        super().__init__()
        self.rate = nn.Parameter(torch.tensor(1.0))

    def forward(self, t, y):
        return -self.rate * y


@pytest.fixture
def fake_mps(monkeypatch):
    monkeypatch.setattr(_checks, "is_mps", lambda device: True)


TS = torch.linspace(0.0, 1.0, 5)
EXPECTED = [1.0, 0.7788, 0.6065, 0.4724, 0.3679]


def solve_and_differentiate(adjoint):
    model = nc.NeuralODE(
        Decay(), method="dopri5", rtol=1e-6, atol=1e-8, adjoint=adjoint
    )
    y0 = torch.ones(1)
    with DtypeRecorder() as recorder:
        ys = model(y0, TS)
        ys.sum().backward()
    return ys, recorder.float64_ops


def test_the_recorder_sees_torchdiffeq_float64_off_mps():
    # On the CPU, torchdiffeq keeps its step-size control in float64: the recorder
    # must see that, or the tests below would pass for the wrong reason.
    _, float64_ops = solve_and_differentiate(adjoint=False)
    assert float64_ops


@pytest.mark.parametrize("adjoint", [False, True])
def test_a_float32_solve_on_mps_creates_no_float64(fake_mps, adjoint):
    ys, float64_ops = solve_and_differentiate(adjoint)
    assert float64_ops == []
    assert ys.dtype == torch.float32
    assert ys[:, 0].tolist() == pytest.approx(EXPECTED, abs=5e-5)


def test_the_from_scratch_adjoint_on_mps_creates_no_float64(fake_mps):
    field = Decay()
    y0 = torch.ones(1, requires_grad=True)
    with DtypeRecorder() as recorder:
        ys = nc.adjoint_odeint(field, y0, TS, rtol=1e-6, atol=1e-8)
        ys[-1].sum().backward()
    assert recorder.float64_ops == []
    assert ys[:, 0].tolist() == pytest.approx(EXPECTED, abs=5e-5)
    # d y(1) / d y0 = e^{-1} for dy/dt = -y.
    assert y0.grad.item() == pytest.approx(math.exp(-1.0), rel=1e-4)


def test_the_teaching_solvers_in_float32_create_no_float64():
    with DtypeRecorder() as recorder:
        sol = nc.rk4(lambda t, y: -y, torch.ones(1), TS, dt=0.05)
    assert recorder.float64_ops == []
    assert sol.ys[:, 0].tolist() == pytest.approx(EXPECTED, abs=5e-5)


def test_float64_asked_for_on_mps_is_refused(fake_mps):
    model = nc.NeuralODE(Decay(), options={"dtype": torch.float64})
    with pytest.raises(ValueError, match="'mps', which has no float64"):
        model(torch.ones(1), TS)
    with pytest.raises(TypeError, match="MPS backend has no float64"):
        nc.resolve_dtype(torch.device("mps"), torch.float64)
