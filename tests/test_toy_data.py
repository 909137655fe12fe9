"""The toy data sets: shapes, targets, seeds and argument checks."""

import pytest
import torch

import nodecourse as nc


def test_reflection_1d():
    x, y = nc.data.reflection_1d(50, seed=4)
    assert x.shape == y.shape == (50, 1) and x.dtype == torch.float32
    assert torch.equal(y, -x)
    assert bool((x[1:] >= x[:-1]).all())  # sorted
    assert x.min() >= -1 and x.max() <= 1
    assert x.min() < -0.8 and x.max() > 0.8  # spread over [-1, 1]
    x64, _ = nc.data.reflection_1d(50, seed=4, dtype=torch.float64)
    assert x64.dtype == torch.float64 and torch.equal(x64.float(), x)


def test_seeds_repeat_and_differ_without_touching_the_global_state():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a, _ = nc.data.reflection_1d(20, seed=1)
    b, _ = nc.data.reflection_1d(20, seed=1)
    c, _ = nc.data.reflection_1d(20, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    p, q = (
        nc.data.disc_annulus_2d(10, 20, seed=1),
        nc.data.disc_annulus_2d(10, 20, seed=1),
    )
    assert torch.equal(p[0], q[0])
    assert torch.equal(torch.get_rng_state(), before)


def test_disc_annulus_2d_regions_and_targets():
    x, y = nc.data.disc_annulus_2d(300, 600, r_inner=0.5, r_annulus=(1.0, 1.5), seed=0)
    assert x.shape == (900, 2) and y.shape == (900, 1)
    radius = x.norm(dim=-1)
    inner, outer = radius[:300], radius[300:]
    assert inner.max() <= 0.5 and outer.min() >= 1.0 and outer.max() <= 1.5
    assert torch.equal(y[:300], -torch.ones(300, 1))
    assert torch.equal(y[300:], torch.ones(300 * 2, 1))
    # Uniform in area: half the disc's points lie within radius 0.5 / sqrt(2).
    assert abs((inner <= 0.5 / 2**0.5).float().mean().item() - 0.5) < 0.1
    # Angles cover the circle: the points' mean is near the origin.
    assert x.mean(dim=0).norm() < 0.1


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: nc.data.reflection_1d(1), ValueError, "at least 2"),
        (lambda: nc.data.reflection_1d(0), ValueError, "positive int"),
        (lambda: nc.data.reflection_1d(5.0), ValueError, "positive int"),
        (lambda: nc.data.reflection_1d(5, seed=-1), ValueError, "non-negative"),
        (lambda: nc.data.reflection_1d(5, seed=0.5), TypeError, "seed must be an int"),
        (lambda: nc.data.reflection_1d(5, dtype=torch.int64), TypeError, "floating"),
        (lambda: nc.data.disc_annulus_2d(0, 5), ValueError, "n_inner"),
        (
            lambda: nc.data.disc_annulus_2d(r_inner=1.2, r_annulus=(1.0, 1.5)),
            ValueError,
            "r_inner < r_annulus",
        ),
        (
            lambda: nc.data.disc_annulus_2d(r_annulus=(1.5, 1.0)),
            ValueError,
            "r_inner < r_annulus",
        ),
        (lambda: nc.data.disc_annulus_2d(r_inner=-1), ValueError, "positive finite"),
        (lambda: nc.data.disc_annulus_2d(r_annulus=1.0), TypeError, "pair"),
    ],
)
def test_bad_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()
