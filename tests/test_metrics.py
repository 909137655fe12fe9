import math

import numpy as np
import pytest
import torch

from nodecourse.metrics import eps_r


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
