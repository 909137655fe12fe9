"""The augmented Neural ODE: shapes, p = 0, and the 1-D reflection.

A 1-D flow preserves order, so on the reflection data ``g(x) = -x`` every Neural ODE
has a mean squared error of at least ``var(x)`` (chapter 5); one extra dimension
removes that floor.
"""

import pytest
import torch
from torch import nn

import nodecourse as nc

F64 = torch.float64
TS = torch.tensor([0.0, 1.0], dtype=F64)
# RK4 with a fixed step: fast and deterministic. For a contracting linear field
# its step map y -> R(h a) y has R > 0 on the whole real line, so it keeps order.
RK4 = {"method": "rk4", "options": {"step_size": 0.25}}


@pytest.mark.parametrize(("dim", "augment_dim"), [(1, 0), (1, 3), (2, 1), (3, 2)])
def test_shapes_and_augmented_width(dim, augment_dim, device):
    model = nc.AugmentedNODE(dim, augment_dim, hidden=8, **RK4).to(device)
    assert model.width == dim + augment_dim
    assert model.field.dim == dim + augment_dim  # the field is built at width d + p
    x = torch.randn(5, 4, dim, device=device)
    ts = torch.linspace(0.0, 1.0, 6, device=device)
    hs = model.trajectory(x, ts)
    assert hs.shape == (6, 5, 4, dim + augment_dim)
    assert torch.equal(hs[0, ..., :dim], x)  # h(t0) = [x, 0]
    assert torch.count_nonzero(hs[0, ..., dim:]) == 0
    out = model(x, ts)
    assert out.shape == (6, 5, 4, dim)
    assert torch.equal(out, hs[..., :dim])  # the readout is the first d coordinates


def test_field_factory_is_called_with_the_augmented_width():
    widths = []

    def factory(width):
        widths.append(width)
        return nc.MLPVectorField(width, hidden=4)

    model = nc.AugmentedNODE(2, 3, field_factory=factory, **RK4)
    assert widths == [5]
    assert model(torch.randn(7, 2), TS.float()).shape == (2, 7, 2)


def test_a_field_of_the_wrong_width_is_refused_before_integration():
    # The factory ignores the width it is given: 3 -> 2 for states of width 3.
    class Field(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, t, y):
            return self.lin(y)

    model = nc.AugmentedNODE(2, 1, field_factory=lambda width: Field(), **RK4)
    message = r"width 3: .*returned \(4, 2\) for a state of shape \(4, 3\)"
    with pytest.raises(ValueError, match=message):
        model(torch.randn(4, 2), TS.float())
    assert model.nfe == 0  # nothing was integrated


def test_p_zero_is_exactly_the_plain_neural_ode():
    field = nc.MLPVectorField(2, hidden=8).to(F64)
    x = torch.randn(6, 2, dtype=F64)
    ts = torch.linspace(0.0, 1.5, 4, dtype=F64)
    anode = nc.AugmentedNODE(2, 0, field_factory=lambda width: field)
    node = nc.NeuralODE(field)
    assert torch.equal(anode(x, ts), node(x, ts))
    assert torch.equal(anode.trajectory(x, ts), node(x, ts))
    assert anode.nfe == node.nfe > 0
    # The default field, built from the same seed, is the same MLP.
    torch.manual_seed(3)
    anode = nc.AugmentedNODE(2, 0, hidden=8).to(F64)
    torch.manual_seed(3)
    node = nc.NeuralODE(nc.MLPVectorField(2, hidden=8)).to(F64)
    assert torch.equal(anode(x, ts), node(x, ts))


def test_nfe_is_counted_as_by_neural_ode():
    model = nc.AugmentedNODE(1, 2, hidden=4, **RK4).to(F64)
    model(torch.randn(3, 1, dtype=F64), TS)
    assert model.nfe == nc.count_nfe(model) == 16  # 4 RK4 steps of 4 stages
    model.reset_nfe()
    assert model.nfe == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dim": 0, "augment_dim": 1}, ValueError, "dim must be a positive int"),
        ({"dim": 1, "augment_dim": -1}, ValueError, "augment_dim must be a non-neg"),
        ({"dim": 1, "augment_dim": 1.0}, ValueError, "augment_dim must be a non-neg"),
        ({"dim": 1, "augment_dim": 1, "field_factory": 3}, TypeError, "callable"),
        ({"dim": 1, "augment_dim": 1, "method": "rk4"}, ValueError, "fixed-step"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        nc.AugmentedNODE(**kwargs)


def test_inputs_of_the_wrong_width_are_refused():
    model = nc.AugmentedNODE(2, 1, hidden=4, **RK4)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(..., 2\)"):
        model(torch.randn(5, 3), TS.float())
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model([[0.0, 1.0]], TS.float())


def test_inputs_of_another_dtype_than_the_field_are_refused():
    model = nc.AugmentedNODE(2, 1)
    with pytest.raises(
        TypeError,
        match=r"x has dtype torch.float64 but the field's parameters are "
        r"torch.float32; convert one of them: x.float\(\), or model.double\(\)",
    ):
        model(torch.zeros(5, 2, dtype=F64), torch.linspace(0, 1, 5))
    assert model.nfe == 0 and model.node._checked_shape is None


def _train_reflection(seed, augment_dim, epochs):
    x, y = nc.data.reflection_1d(16, seed=seed, dtype=F64)
    nc.seed_everything(seed)
    model = nc.AugmentedNODE(1, augment_dim, hidden=16, **RK4).to(F64)
    history = nc.fit(
        model,
        lambda: ((model(x, TS)[-1] - y) ** 2).mean(),
        epochs=epochs,
        lr=0.1,
        progress=False,
    )
    with torch.no_grad():
        out = model(x, TS)[-1]  # (N, 1)
    bound = ((x - x.mean()) ** 2).mean().item()  # var(x): the order-preserving floor
    return history, out, bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_node_stalls_at_the_order_preserving_bound(seed):
    history, out, bound = _train_reflection(seed, augment_dim=0, epochs=100)
    assert bool((out[1:] > out[:-1]).all())  # the learned map keeps the order ...
    # ... so no epoch gets below var(x) (up to round-off) ...
    assert min(history.loss) >= bound * (1 - 1e-9), (min(history.loss), bound)
    # ... while training drives it close: from the start far above to within 3 %.
    assert history.loss[0] > 1.5 * bound
    assert history.loss[-1] < 1.03 * bound, (history.loss[-1], bound)
    # Stalled: the second half of training gains under 1 % of the bound.
    assert history.loss[len(history.loss) // 2] - history.loss[-1] < 0.01 * bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_augmented_dimension_beats_the_bound(seed):
    history, out, bound = _train_reflection(seed, augment_dim=1, epochs=60)
    assert history.loss[-1] < 0.05 * bound, (history.loss[-1], bound)
    assert bool((out[1:] < out[:-1]).all())  # the order is reversed
