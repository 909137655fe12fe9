import math

import numpy as np
import pytest
import torch

from nodecourse.metrics import eps_r, trajectory_mse


def test_eps_r_is_the_relative_l2_error():
    reference = torch.tensor([3.0, 4.0])  # norm 5
    approx = torch.tensor([3.0, 4.5])
    assert eps_r(approx, reference) == pytest.approx(0.5 / 5.0, rel=1e-15)
    assert eps_r(reference, reference) == 0.0


def test_eps_r_takes_numbers_and_arrays():
    assert eps_r(1.1, 1.0) == pytest.approx(0.1, rel=1e-12)
    assert eps_r(np.array([1.0, 2.0]), [1.0, 1.0]) == pytest.approx(1 / math.sqrt(2))


def test_eps_r_per_member_of_a_batch():
    reference = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    approx = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    errors = eps_r(approx, reference, dim=-1)
    assert errors.dtype == torch.float64
    torch.testing.assert_close(errors, torch.tensor([1.0, 0.5], dtype=torch.float64))


def test_eps_r_is_computed_in_float64():
    reference = torch.ones(1000, dtype=torch.float32)
    approx = reference + 1e-9  # below float32 resolution, but the float32 values agree
    assert eps_r(approx, reference) == 0.0
    assert eps_r(torch.ones(3, dtype=torch.float64) + 1e-12, torch.ones(3)) > 0


def test_eps_r_refuses_a_zero_reference():
    with pytest.raises(ValueError, match="zero everywhere.*absolute errors"):
        eps_r(torch.ones(5), torch.zeros(5))
    with pytest.raises(ValueError, match=r"zero everywhere at index \[1\]"):
        eps_r(torch.ones(2, 3), torch.tensor([[1.0, 1, 1], [0, 0, 0]]), dim=-1)


def test_eps_r_refuses_empty_inputs():
    with pytest.raises(
        ValueError, match=r"approx and reference are empty \(shape \(0,\)\)"
    ):
        eps_r(torch.ones(0), torch.ones(0))


def test_eps_r_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"\(10, 2\).*\(2, 10\).*does not broadcast"):
        eps_r(torch.ones(10, 2), torch.ones(2, 10))
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 1\)"):
        eps_r(torch.ones(3), torch.ones(3, 1))


def test_eps_r_refuses_non_finite_values():
    with pytest.raises(ValueError, match=r"approx\[1\] = nan"):
        eps_r(torch.tensor([1.0, float("nan")]), torch.ones(2))
    with pytest.raises(ValueError, match=r"reference\[0\] = inf"):
        eps_r(torch.ones(2), torch.tensor([float("inf"), 1.0]))


def test_eps_r_refuses_what_is_not_numeric():
    with pytest.raises(TypeError, match="approx must be a tensor.*str"):
        eps_r("one", 1.0)


# trajectory_mse: time-major trajectories against observations, layout checked.


def decay_batch(n_times, n_batch, dim=2, seed=0):
    """ys (T, B, n) of dy/dt = -y from random y0, and the batch-first copy."""
    generator = torch.Generator().manual_seed(seed)
    y0 = 1.0 + torch.rand(n_batch, dim, generator=generator)  # (B, n)
    ts = torch.linspace(0.0, 2.0, n_times)  # (T,)
    ys = torch.exp(-ts)[:, None, None] * y0  # (T, B, n)
    return y0, ys, ys.transpose(0, 1).contiguous()  # batch-first (B, T, n)


def test_trajectory_mse_is_the_mean_squared_error():
    y0, ys, _ = decay_batch(10, 4)
    targets = ys + 0.01
    loss = trajectory_mse(ys, targets, y0=y0)
    assert loss.item() == pytest.approx(1e-4, rel=1e-5)
    assert trajectory_mse(ys, targets).item() == pytest.approx(1e-4, rel=1e-5)


def test_trajectory_mse_carries_gradients():
    y0, ys, _ = decay_batch(5, 3)
    ys = ys.clone().requires_grad_()
    trajectory_mse(ys, torch.zeros_like(ys) + ys.detach(), y0=y0).backward()
    assert ys.grad is not None and torch.all(ys.grad == 0)


def test_batch_first_targets_with_a_different_shape_are_refused():
    y0, ys, batch_first = decay_batch(10, 4)  # (10, 4, 2) against (4, 10, 2)
    with pytest.raises(ValueError, match=r"batch-first.*targets.transpose\(0, 1\)"):
        trajectory_mse(ys, batch_first)


def test_batch_first_targets_of_the_same_shape_are_refused_given_y0():
    # 10 initial states in 2-D, 10 output times: (10, 10, 2) either way.
    y0, ys, batch_first = decay_batch(10, 10)
    assert batch_first.shape == ys.shape
    with pytest.raises(ValueError, match=r"targets\[:, 0\] matches y0.*batch-first"):
        trajectory_mse(ys, batch_first, y0=y0)
    with pytest.raises(ValueError, match=r"ys\[:, 0\] matches y0.*batch-first"):
        trajectory_mse(batch_first, ys, y0=y0)


def test_the_ambiguous_layout_without_y0_is_refused():
    _, ys, batch_first = decay_batch(10, 10)
    with pytest.raises(ValueError, match=r"as many times as batch members \(10\).*y0="):
        trajectory_mse(ys, batch_first)


def test_noisy_time_major_targets_pass_the_layout_check():
    y0, ys, _ = decay_batch(10, 10)
    noise = 0.02 * torch.randn(ys.shape, generator=torch.Generator().manual_seed(1))
    loss = trajectory_mse(ys, ys + noise, y0=y0)
    assert loss.item() == pytest.approx((noise**2).mean().item())


def test_trajectory_mse_checks_y0_shape_and_works_at_zero():
    y0, ys, _ = decay_batch(6, 3)
    with pytest.raises(ValueError, match=r"y0 has shape \(2, 3\).*\(3, 2\)"):
        trajectory_mse(ys, ys, y0=y0.T)
    zeros = torch.zeros(6, 3, 2)
    assert trajectory_mse(zeros, zeros + 0.01, y0=torch.zeros(3, 2)).item() == (
        pytest.approx(1e-4)
    )
