"""Toy data sets that a Neural ODE cannot fit: the 1-D reflection and nested rings.

Both come from Dupont, Doucet and Teh (2019), *Augmented Neural ODEs*:

- ``reflection_1d``: inputs ``x`` in ``[-1, 1]`` with targets ``g(x) = -x``. The map
  reverses order, and the flow of a 1-D ODE preserves it.
- ``disc_annulus_2d``: points of an inner disc with target ``-1`` and of a
  surrounding annulus with target ``+1``. A homeomorphism of the plane followed by
  a linear readout cannot separate them.

Every sample is drawn from its own ``torch.Generator`` seeded by ``seed``, so the
data do not depend on (or disturb) the global random state.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from nodecourse._checks import positive_int

__all__ = ["disc_annulus_2d", "reflection_1d"]


def _generator(seed) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return torch.Generator().manual_seed(int(seed))


def _floating(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}"
        )
    return dtype


def _radius(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite radius, got {value}")
    return value


def reflection_1d(
    n_points: int = 64, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Points ``x`` uniform in ``[-1, 1]`` (sorted) and the targets ``g(x) = -x``.

    A map that fits these data must reverse the order of the inputs, which the flow
    of a 1-D ODE cannot do: every order-preserving map ``m`` has a mean squared
    error of at least the variance of the inputs,
    ``mean((m(x) - g(x))**2) >= mean((x - mean(x))**2)`` (chapter 5 proves it).

    Args:
        n_points: how many points (at least 2).
        seed: seeds the points.
        dtype: the floating dtype of both tensors.

    Returns:
        ``(x, y)``, each of shape ``(n_points, 1)``, ``x`` in increasing order,
        ``y = -x``.
    """
    n_points = positive_int("n_points", n_points)
    if n_points < 2:
        raise ValueError(
            f"n_points must be at least 2 (one point has no order to reverse), "
            f"got {n_points}"
        )
    dtype = _floating(dtype)
    x = 2 * torch.rand(n_points, 1, generator=_generator(seed), dtype=torch.float64)
    x = (x - 1).sort(dim=0).values.to(dtype)  # (N, 1), increasing
    return x, -x


def disc_annulus_2d(
    n_inner: int = 100,
    n_outer: int = 200,
    *,
    r_inner: float = 0.5,
    r_annulus: tuple[float, float] = (1.0, 1.5),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Points of a disc (target ``-1``) inside an annulus (target ``+1``).

    ``g(x) = -1`` if ``||x|| <= r_inner`` and ``g(x) = +1`` if
    ``r_annulus[0] <= ||x|| <= r_annulus[1]``; the points are uniform in area on
    each region (radius ``sqrt(u)`` scaled, angle uniform), and nothing lies in the
    gap between them.

    Args:
        n_inner: points in the disc. n_outer: points in the annulus.
        r_inner: the radius of the disc.
        r_annulus: the inner and outer radius of the annulus, with
            ``r_inner < r_annulus[0] < r_annulus[1]``.
        seed: seeds the points.
        dtype: the floating dtype of both tensors.

    Returns:
        ``(x, y)`` of shapes ``(n_inner + n_outer, 2)`` and
        ``(n_inner + n_outer, 1)``: first the disc's points, then the annulus's.
    """
    n_inner = positive_int("n_inner", n_inner)
    n_outer = positive_int("n_outer", n_outer)
    r_inner = _radius("r_inner", r_inner)
    if not isinstance(r_annulus, tuple | list) or len(r_annulus) != 2:
        raise TypeError(
            f"r_annulus must be a pair (inner radius, outer radius), got {r_annulus!r}"
        )
    r_low, r_high = (_radius(f"r_annulus[{i}]", r) for i, r in enumerate(r_annulus))
    if not r_inner < r_low < r_high:
        raise ValueError(
            f"need r_inner < r_annulus[0] < r_annulus[1] (a disc, a gap, then the "
            f"annulus), got r_inner={r_inner}, r_annulus=({r_low}, {r_high})"
        )
    dtype = _floating(dtype)
    gen = _generator(seed)

    def ring(n: int, r_a: float, r_b: float) -> Tensor:
        # Uniform in area: r^2 uniform on [r_a^2, r_b^2].
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        radius = torch.sqrt(r_a**2 + (r_b**2 - r_a**2) * u)
        angle = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
        return radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=-1)

    x = torch.cat([ring(n_inner, 0.0, r_inner), ring(n_outer, r_low, r_high)])
    y = torch.cat([-torch.ones(n_inner, 1), torch.ones(n_outer, 1)])
    return x.to(dtype), y.to(dtype)  # (N, 2), (N, 1)
