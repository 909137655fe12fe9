"""Models: shapes, the residual net as Euler's method, and the Neural ODE."""

import pytest
import torch
from torch import nn

import nodecourse as nc

F64 = torch.float64


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_one_hidden_layer_shapes_and_parameter_count(activation, device):
    model = nc.OneHiddenLayer(3, 16, 2, activation=activation).to(device)
    assert model(torch.randn(5, 3, device=device)).shape == (5, 2)
    assert sum(p.numel() for p in model.parameters()) == 3 * 16 + 16 + 16 * 2 + 2


def test_one_hidden_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        nc.OneHiddenLayer(activation="gelu!")
    with pytest.raises(ValueError, match="n_hidden must be a positive int"):
        nc.OneHiddenLayer(n_hidden=0)


def test_one_hidden_layer_names_a_dtype_that_differs_from_its_parameters():
    model = nc.OneHiddenLayer(1, 8, 1)
    with pytest.raises(
        TypeError,
        match=r"x has dtype torch.float64 but OneHiddenLayer's parameters are "
        r"torch.float32; convert one of them: x.float\(\), or model.double\(\)",
    ):
        model(torch.zeros(4, 1, dtype=F64))
    with pytest.raises(
        TypeError, match=r"x has dtype torch.int64 .* convert it with x.float\(\)"
    ):
        model(torch.zeros(4, 1, dtype=torch.int64))
    assert model.double()(torch.zeros(4, 1, dtype=F64)).dtype == F64


@pytest.mark.parametrize("time_dependent", [False, True])
def test_mlp_vector_field_shapes(time_dependent, device):
    f = nc.MLPVectorField(4, hidden=8, n_layers=2, time_dependent=time_dependent)
    f = f.to(device)
    y = torch.randn(7, 3, 4, device=device)
    assert f(torch.tensor(0.5, device=device), y).shape == (7, 3, 4)


def test_time_dependent_field_depends_on_time():
    torch.manual_seed(0)
    f = nc.MLPVectorField(2, time_dependent=True)
    y = torch.randn(3, 2)
    assert not torch.allclose(f(torch.tensor(0.0), y), f(torch.tensor(1.0), y))


def test_mlp_vector_field_rejects_wrong_width():
    f = nc.MLPVectorField(2)
    with pytest.raises(ValueError, match="last axis must have width 2"):
        f(torch.tensor(0.0), torch.randn(5, 3))


def test_weight_tied_residual_net_is_euler():
    torch.manual_seed(0)
    field = nc.MLPVectorField(2, time_dependent=True).double()
    h0 = torch.randn(6, 2, dtype=F64)
    resnet = nc.ResidualNet(field, n_blocks=10, t0=0.0, t1=2.0)
    euler = nc.euler(field, h0, torch.tensor([0.0, 2.0], dtype=F64), n_steps=10)
    assert torch.allclose(resnet(h0), euler.ys[-1], atol=1e-14, rtol=0)
    assert resnet(h0, return_all=True).shape == (11, 6, 2)


def test_residual_net_converges_to_the_flow_at_first_order():
    torch.manual_seed(1)
    field = nc.MLPVectorField(2).double()
    h0 = torch.randn(16, 2, dtype=F64)
    flow = nc.rk4(field, h0, torch.tensor([0.0, 1.0], dtype=F64), dt=1e-3).ys[-1]
    blocks = [4, 8, 16, 32, 64]
    errors = [(nc.ResidualNet(field, k)(h0) - flow).abs().max().item() for k in blocks]
    order = nc.convergence_order([1 / k for k in blocks], errors)
    assert order == pytest.approx(1.0, abs=0.1)


def test_residual_net_names_a_dtype_that_differs_from_its_fields():
    net = nc.ResidualNet(nc.MLPVectorField(2, 8), 4)
    with pytest.raises(
        TypeError,
        match=r"h has dtype torch.float64 but the fields' parameters are "
        r"torch.float32; convert one of them: h.float\(\), or model.double\(\)",
    ):
        net(torch.zeros(5, 2, dtype=F64))


def test_residual_net_with_one_field_per_block():
    fields = [nc.MLPVectorField(2) for _ in range(3)]
    net = nc.ResidualNet(fields, n_blocks=3)
    assert len(list(net.parameters())) == 3 * len(list(fields[0].parameters()))
    with pytest.raises(ValueError, match="got 2 vector fields for n_blocks=3"):
        nc.ResidualNet(fields[:2], n_blocks=3)


class Linear(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, t, y):
        return y @ self.a.T


@pytest.mark.parametrize("adjoint", [False, True])
def test_neural_ode_solves_linear_system_and_counts_nfe(adjoint, device):
    a = torch.tensor([[-0.1, 1.0], [-1.0, -0.1]], dtype=F64, device=device)
    node = nc.NeuralODE(Linear(a), rtol=1e-10, atol=1e-10, adjoint=adjoint)
    y0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64, device=device)
    ts = torch.linspace(0, 2, 5, dtype=F64, device=device)
    ys = node(y0, ts)
    exact = torch.stack([y0 @ torch.linalg.matrix_exp(t * a).T for t in ts])
    assert ys.shape == (5, 2, 2)
    assert (ys - exact).abs().max().item() < 1e-8
    forward_nfe = node.nfe
    assert forward_nfe > 10
    ys.sum().backward()
    assert node.field.a.grad is not None
    assert torch.isfinite(node.field.a.grad).all()
    if adjoint:
        assert node.nfe > forward_nfe  # the backward solve evaluates f again
    node.reset_nfe()
    assert node.nfe == 0 and nc.count_nfe(node) == 0


def test_neural_ode_gradients_agree_with_and_without_adjoint():
    torch.manual_seed(0)
    field = nc.MLPVectorField(2, hidden=8).double()
    y0 = torch.randn(4, 2, dtype=F64)
    ts = torch.linspace(0, 1, 3, dtype=F64)
    grads = []
    for adjoint in (False, True):
        field.zero_grad()
        node = nc.NeuralODE(field, rtol=1e-10, atol=1e-10, adjoint=adjoint)
        node(y0, ts).pow(2).sum().backward()
        grads.append(torch.cat([p.grad.ravel() for p in field.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-7)


def test_neural_ode_checks_the_field_against_the_state_shape():
    node = nc.NeuralODE(nc.MLPVectorField(3))
    with pytest.raises(ValueError, match="last axis must have width 3"):
        node(torch.randn(5, 2), torch.tensor([0.0, 1.0]))

    class WrongWidth(nn.Module):
        def forward(self, t, y):
            return torch.cat([y, y], dim=-1)

    with pytest.raises(ValueError, match=r"returned \(5, 4\) for a state of shape"):
        nc.NeuralODE(WrongWidth())(torch.randn(5, 2), torch.tensor([0.0, 1.0]))


def test_neural_ode_rejects_bad_input():
    with pytest.raises(TypeError, match="field must be an nn.Module"):
        nc.NeuralODE(lambda t, y: -y)
    node = nc.NeuralODE(nc.MLPVectorField(2))
    with pytest.raises(ValueError, match=r"ts\[2\] = 1.0 repeats"):
        node(torch.randn(3, 2), torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(TypeError, match="y0 must have a floating dtype"):
        node(torch.ones(3, 2, dtype=torch.int64), torch.tensor([0.0, 1.0]))


def test_neural_ode_names_a_dtype_that_differs_from_the_fields_parameters():
    node = nc.NeuralODE(nc.MLPVectorField(2, 16))
    with pytest.raises(
        TypeError,
        match=r"y0 has dtype torch.float64 but the field's parameters are "
        r"torch.float32; convert one of them: y0.float\(\), or model.double\(\)",
    ):
        node(torch.zeros(5, 2, dtype=F64), torch.linspace(0, 1, 5))
    assert node.nfe == 0 and node._checked_shape is None  # refused before any work

    class Decay(nn.Module):  # no parameters: nothing to compare, float64 goes through
        def forward(self, t, y):
            return -y

    ys = nc.NeuralODE(Decay())(torch.ones(1, 2, dtype=F64), torch.tensor([0.0, 1.0]))
    assert ys.dtype == F64


def test_neural_ode_refuses_an_empty_batch_up_front():
    node = nc.NeuralODE(nc.MLPVectorField(2, 16))
    with pytest.raises(
        ValueError, match=r"y0 is empty \(shape \(0, 2\)\); the initial state needs"
    ):
        node(torch.zeros(0, 2), torch.linspace(0, 1, 5))
    assert node.nfe == 0 and node._checked_shape is None


def test_neural_ode_refuses_an_unknown_method_when_built():
    with pytest.raises(ValueError, match=r"method='dopri' is not a torchdiffeq method"):
        nc.NeuralODE(nc.MLPVectorField(2, 8), method="dopri")
