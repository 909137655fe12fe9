"""Fixed-step solvers: exact solutions, measured orders, grids, and bad input."""

import math

import numpy as np
import pytest
import torch
from torchdiffeq import odeint

import nodecourse as nc

F64 = torch.float64


def decay(t, y):
    return -y


@pytest.mark.parametrize("method, tol", [("euler", 2e-2), ("rk4", 1e-7)])
def test_exponential_decay_matches_exact(method, tol, device):
    y0 = torch.tensor([1.0, 2.0], dtype=F64, device=device)
    ts = torch.linspace(0, 2, 5, dtype=F64, device=device)
    sol = nc.odeint_fixed(decay, y0, ts, method=method, dt=0.01)
    exact = torch.exp(-ts)[:, None] * y0
    assert sol.ys.shape == (5, 2)
    assert sol.ys.device.type == device.type
    assert torch.equal(sol.ys[0], y0)
    assert (sol.ys - exact).abs().max().item() < tol


def test_linear_system_matches_matrix_exponential(device):
    a = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=F64, device=device)
    y0 = torch.tensor([1.0, 0.5], dtype=F64, device=device)
    ts = torch.linspace(0, 3, 7, dtype=F64, device=device)
    sol = nc.rk4(lambda t, y: a @ y, y0, ts, dt=1e-3)
    exact = torch.stack([torch.linalg.matrix_exp(t * a) @ y0 for t in ts])
    assert (sol.ys - exact).abs().max().item() < 1e-11


def test_time_dependent_field_integrates_polynomial():
    # dy/dt = 3 t^2 has y(t) = t^3; RK4 integrates cubics exactly (Simpson's rule).
    y0 = torch.zeros(1, dtype=F64)
    ts = torch.tensor([0.0, 0.5, 2.0], dtype=F64)
    sol = nc.rk4(lambda t, y: 3 * t**2 * torch.ones_like(y), y0, ts, n_steps=3)
    assert torch.allclose(sol.ys.ravel(), ts**3, atol=1e-13, rtol=0)


def _errors(method, dts):
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    a = torch.tensor([[0.0, 1.0], [-1.0, -0.2]], dtype=F64)
    ts = torch.tensor([0.0, 2.0], dtype=F64)
    exact = torch.linalg.matrix_exp(2.0 * a) @ y0
    return [
        (
            nc.odeint_fixed(lambda t, y: y @ a.T, y0, ts, method=method, dt=dt).ys[-1]
            - exact
        )
        .norm()
        .item()
        for dt in dts
    ]


def test_euler_has_order_one():
    dts = [0.1 / 2**k for k in range(6)]
    assert nc.convergence_order(dts, _errors("euler", dts)) == pytest.approx(
        1, abs=0.05
    )


def test_rk4_has_order_four():
    dts = [0.2 / 2**k for k in range(5)]
    assert nc.convergence_order(dts, _errors("rk4", dts)) == pytest.approx(4, abs=0.1)


def test_convergence_order_recovers_a_known_power():
    dts = [0.1, 0.05, 0.025]
    assert nc.convergence_order(dts, [3 * d**2.5 for d in dts]) == pytest.approx(2.5)


@pytest.mark.parametrize(
    "ts, dt, expected",
    [
        ([0.0, 0.3], 0.1, [3]),  # 0.3 / 0.1 = 2.9999999999999996 in floating point
        ([0.0, 0.7], 0.1, [7]),
        ([0.0, 1.0], 0.3, [4]),  # never a step longer than dt
        ([0.0, 0.25, 1.0], 0.1, [3, 8]),
        ([1.0, 0.0], 0.25, [4]),  # backwards in time
    ],
)
def test_step_counts(ts, dt, expected):
    assert nc.step_counts(torch.tensor(ts, dtype=F64), dt=dt) == expected


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_step_counts_do_not_grow_from_rounding_of_the_times(dtype):
    # In float32 the width of [0.3, 0.4] is 0.1000000015, not 0.1: still one step.
    ts = torch.linspace(0, 1, 11, dtype=dtype)
    assert nc.step_counts(ts, dt=0.1) == [1] * 10
    assert sum(nc.step_counts(torch.linspace(0, 4, 41, dtype=dtype), dt=0.025)) == 160
    assert nc.step_counts(torch.tensor([0.0, 0.3], dtype=dtype), dt=0.1) == [3]
    assert nc.step_counts(torch.tensor([1000.0, 1000.5], dtype=dtype), dt=0.1) == [5]
    sol = nc.euler(lambda t, y: -y, torch.ones(1, dtype=dtype), ts, dt=0.1)
    assert sol.ys[-1].item() == pytest.approx(0.9**10, rel=1e-6)


def test_numpy_and_tensor_scalars_are_accepted_as_steps():
    ts = torch.tensor([0.0, 1.0])
    assert nc.step_counts(ts, dt=np.float32(0.25)) == [4]
    assert nc.step_counts(ts, dt=torch.tensor(0.25)) == [4]
    assert nc.step_counts(ts, n_steps=np.int64(3)) == [3]
    with pytest.raises(ValueError, match="dt must be a positive number"):
        nc.step_counts(ts, dt=torch.tensor([0.1, 0.2]))


def test_a_step_too_small_for_a_python_loop_is_refused():
    with pytest.raises(
        ValueError, match=r"dt=1e-09 asks for 99999\d+ steps .* max_steps"
    ):
        nc.rk4(decay, torch.ones(1), torch.tensor([0.0, 1.0]), dt=1e-9)


def test_float32_times_are_printed_as_written():
    with pytest.raises(
        ValueError, match=r"ts\[2\] = 0.7 breaks the order of ts\[1\] = 0.9"
    ):
        nc.rk4(decay, torch.ones(1), torch.tensor([0.0, 0.9, 0.7]), dt=0.1)
    with pytest.raises(ValueError, match=r"ts\[1\] = 0.0 repeats ts\[0\] = 0.0"):
        nc.rk4(decay, torch.ones(1), torch.tensor([0.0, 0.0, 1.0]), dt=0.1)


def test_convergence_order_needs_different_steps():
    with pytest.raises(ValueError, match="all step sizes are equal"):
        nc.convergence_order([0.1, 0.1], [1.0, 2.0])


@pytest.mark.parametrize(
    ("step_sizes", "errors", "message"),
    [
        ([-0.1, 0.05], [1.0, 0.1], r"step_sizes\[0\] = -0.1 is not positive"),
        ([0.1, 0.05], [1.0, 0.0], r"errors\[1\] = 0.0 is not positive"),
    ],
)
def test_convergence_order_names_the_entry_that_is_not_positive(
    step_sizes, errors, message
):
    with pytest.raises(ValueError, match=message + ".*to take logarithms"):
        nc.convergence_order(step_sizes, errors)


def test_convergence_order_refuses_what_is_not_numbers():
    with pytest.raises(TypeError, match=r"step_sizes must be numbers .*\['a', 'b'\]"):
        nc.convergence_order(["a", "b"], [1, 2])


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_grid_lands_exactly_on_every_output_time(method, dtype):
    ts = torch.tensor([0.0, 0.1, 0.7, 2.3], dtype=dtype)
    seen = []

    def f(t, y):
        seen.append(t.item())
        return torch.zeros_like(y)

    sol = nc.odeint_fixed(f, torch.zeros(1, dtype=dtype), ts, method=method, dt=0.1)
    # The last evaluation of Euler's final step is at the last step's start; the
    # grid's end point is checked through the stage times of RK4 (t + dt).
    if method == "rk4":
        assert seen[-1] == ts[-1].item()
    assert sol.n_steps == sum(nc.step_counts(ts, dt=0.1))
    assert sol.nfe == sol.n_steps * (4 if method == "rk4" else 1)


def test_grid_end_point_is_exact_for_awkward_times():
    # y' = 1 integrates t exactly, so the final state equals the final time only if
    # the steps add up to it exactly.
    for t1 in [0.3, 1.0 / 3.0, 2.0 / 7.0, 0.1 * 3]:
        ts = torch.tensor([0.0, t1], dtype=F64)
        sol = nc.euler(
            lambda t, y: torch.ones_like(y), torch.zeros(1, dtype=F64), ts, dt=0.01
        )
        assert sol.ys[-1].item() == pytest.approx(t1, abs=1e-15)


def test_backwards_in_time_inverts_forwards():
    y0 = torch.tensor([0.3, -1.2], dtype=F64)
    fwd = nc.rk4(
        lambda t, y: torch.sin(y) + t, y0, torch.tensor([0.0, 1.0], dtype=F64), dt=1e-3
    )
    back = nc.rk4(
        lambda t, y: torch.sin(y) + t,
        fwd.ys[-1],
        torch.tensor([1.0, 0.0], dtype=F64),
        dt=1e-3,
    )
    assert torch.allclose(back.ys[-1], y0, atol=1e-10)


def test_euler_matches_torchdiffeq_fixed_grid():
    torch.manual_seed(0)
    field = nc.MLPVectorField(3, hidden=16).double()
    y0 = torch.randn(8, 3, dtype=F64)
    ts = torch.linspace(0, 1, 4, dtype=F64)
    ours = nc.euler(field, y0, ts, n_steps=10).ys
    theirs = odeint(field, y0, ts, method="euler", options={"step_size": 1 / 30})
    assert (ours - theirs).abs().max().item() < 1e-13


def test_rk4_agrees_with_torchdiffeq_to_fourth_order():
    # torchdiffeq's "rk4" is Kutta's 3/8 rule, not the classical tableau used here:
    # the two agree to O(dt^4) per unit time, not to round-off.
    torch.manual_seed(0)
    field = nc.MLPVectorField(3, hidden=16).double()
    y0 = torch.randn(8, 3, dtype=F64)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    gaps = []
    for dt in [0.1, 0.05]:
        ours = nc.rk4(field, y0, ts, dt=dt).ys
        theirs = odeint(field, y0, ts, method="rk4", options={"step_size": dt})
        gaps.append((ours - theirs).abs().max().item())
    assert gaps[0] < 1e-7
    assert nc.convergence_order([0.1, 0.05], gaps) > 3.5


def test_gradients_flow_through_the_solver():
    theta = torch.tensor(0.7, dtype=F64, requires_grad=True)
    y0 = torch.tensor([1.0], dtype=F64)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    y1 = nc.rk4(lambda t, y: theta * y, y0, ts, dt=1e-2).ys[-1].sum()
    y1.backward()
    # y(1) = exp(theta), so dy(1)/dtheta = exp(theta).
    assert theta.grad.item() == pytest.approx(math.exp(0.7), rel=1e-8)


def test_blow_up_raises_naming_step_and_time():
    # y' = y^2, y(0) = 1 has y = 1 / (1 - t), which blows up at t = 1.
    ts = torch.tensor([0.0, 2.0], dtype=F64)
    with pytest.raises(FloatingPointError, match=r"step \d+ \(t = 1\.\d+"):
        nc.rk4(lambda t, y: y**2, torch.ones(1, dtype=F64), ts, dt=0.01)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_large_finite_states_whose_sum_overflows_are_not_mistaken_for_a_blow_up(
    method,
):
    # Every entry is finite, but their float32 sum is inf: the finiteness check
    # must look at the entries, not only at a reduction of them.
    y0 = torch.full((4,), 3e38)
    assert not math.isfinite(y0.sum().item())
    ys = nc.odeint_fixed(
        lambda t, y: -1e-3 * y, y0, torch.tensor([0.0, 1.0]), method=method, n_steps=3
    ).ys
    assert torch.isfinite(ys).all()
    assert ys[-1][0].item() < 3e38


@pytest.mark.parametrize("method, step, t", [("euler", 6, "0.6"), ("rk4", 5, "0.5")])
def test_a_single_nan_entry_is_caught_at_the_step_it_appears(method, step, t):
    # The field is finite until t >= 0.5, then puts a NaN in one entry of a large
    # batch; with dt = 0.1 Euler first evaluates there in step 6 (from t = 0.5),
    # RK4 in step 5 (its last stage, at t = 0.5).
    def f(t, y):
        out = -y
        if t.item() >= 0.5 - 1e-12:
            out = out.clone()
            out[123, 1] = float("nan")
        return out

    y0 = torch.ones(256, 2, dtype=F64)
    with pytest.raises(FloatingPointError, match=rf"at step {step} \(t = {t}"):
        nc.odeint_fixed(
            f, y0, torch.tensor([0.0, 1.0], dtype=F64), method=method, n_steps=10
        )


@pytest.mark.parametrize(
    "ts, message",
    [
        ([0.0, 1.0, 1.0, 2.0], r"ts\[2\] = 1.0 repeats ts\[1\] = 1.0"),
        ([0.0, 2.0, 1.0, 3.0], r"ts\[2\] = 1.0 breaks the order of ts\[1\] = 2.0"),
        ([0.0, float("nan")], r"ts\[1\] = nan is not finite"),
        ([0.0], "at least two times"),
        ([[0.0, 1.0]], "must be 1-D"),
    ],
)
def test_bad_time_grids_are_rejected(ts, message):
    with pytest.raises(ValueError, match=message):
        nc.rk4(decay, torch.ones(1), torch.tensor(ts), dt=0.1)


def test_integer_times_are_rejected():
    with pytest.raises(TypeError, match="floating dtype"):
        nc.rk4(decay, torch.ones(1), torch.tensor([0, 1]), dt=0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one of dt"),
        ({"dt": 0.1, "n_steps": 3}, "exactly one of dt"),
        ({"dt": 0.0}, "dt must be a positive finite number"),
        ({"dt": float("inf")}, "dt must be a positive finite number"),
        ({"n_steps": 0}, "n_steps must be a positive int"),
        ({"n_steps": 2.5}, "n_steps must be a positive int"),
    ],
)
def test_step_must_be_explicit_and_valid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nc.euler(decay, torch.ones(1), torch.tensor([0.0, 1.0]), **kwargs)


def test_bad_initial_state_and_method():
    ts = torch.tensor([0.0, 1.0])
    with pytest.raises(TypeError, match="y0 must be a torch.Tensor"):
        nc.rk4(decay, [1.0], ts, dt=0.1)
    with pytest.raises(
        ValueError, match=r"y0\[0\] = nan: the initial state must be finite"
    ):
        nc.rk4(decay, torch.tensor([float("nan")]), ts, dt=0.1)
    with pytest.raises(ValueError, match=r"y0 is empty \(shape \(0,\)\)"):
        nc.rk4(decay, torch.ones(0), ts, dt=0.1)
    with pytest.raises(ValueError, match="method must be one of"):
        nc.odeint_fixed(decay, torch.ones(1), ts, method="rk45", dt=0.1)


def test_float32_decay_values():
    sol = nc.rk4(decay, torch.ones(1), torch.linspace(0, 1, 5), dt=0.05)
    assert sol.ys.dtype == torch.float32
    expected = torch.tensor([1.0, 0.7788, 0.6065, 0.4724, 0.3679])
    assert torch.allclose(sol.ys.ravel(), expected, atol=1e-4)
