"""The relative error ``eps_r``: the one definition that the whole course uses.

    eps_r(approx, reference) = ||approx - reference||_2 / ||reference||_2

For a function sampled on a grid, the norms are taken over the samples, so
``eps_r`` is a relative L2 error on that grid; for a gradient or a parameter vector,
over its entries.
"""

from __future__ import annotations

import torch
from torch import Tensor


def eps_r(approx, reference, dim=None):
    """The relative error ``||approx - reference||_2 / ||reference||_2``.

    Args:
        approx: the approximation, a tensor, an array or a number.
        reference: what it approximates, of exactly the same shape (nothing is
            broadcast, so a transposed or mis-shaped argument is an error, not a
            silently wrong number).
        dim: ``None`` to reduce over every entry and return a float; or an int or
            tuple of ints, the dimensions holding one function's samples, to
            return a tensor with one ``eps_r`` per remaining index (for example
            ``dim=-1`` on shape ``(B, N)``: one error per member of a batch).

    Both are compared in float64 on the CPU, so the result does not depend on the
    device or on round-off in the subtraction.

    Raises:
        ValueError: if the shapes differ, if an entry is not finite, or if a
            reference is zero everywhere (its relative error is undefined; compare
            absolute errors instead).
    """
    approx = _as_float64(approx, "approx")
    reference = _as_float64(reference, "reference")
    if approx.shape != reference.shape:
        raise ValueError(
            f"approx has shape {tuple(approx.shape)} but reference has shape "
            f"{tuple(reference.shape)}; eps_r compares entry by entry and does not "
            "broadcast: reshape or transpose one of them"
        )
    for name, value in (("approx", approx), ("reference", reference)):
        finite = torch.isfinite(value)
        if not bool(finite.all()):
            index = [int(i) for i in (~finite).nonzero()[0]]
            raise ValueError(
                f"{name}{index} = {value[tuple(index)].item()}: eps_r needs finite "
                "values; check where they were computed"
            )
    if dim is None:
        dim = tuple(range(reference.ndim))
    scale = torch.linalg.vector_norm(reference, dim=dim)
    if bool((scale == 0).any()):
        where = (
            "" if scale.ndim == 0 else f" at index {(scale == 0).nonzero()[0].tolist()}"
        )
        raise ValueError(
            f"the reference is zero everywhere{where}, so its relative error is "
            "undefined; compare absolute errors (e.g. the largest |approx - "
            "reference|) instead"
        )
    error = torch.linalg.vector_norm(approx - reference, dim=dim) / scale
    return error.item() if error.ndim == 0 else error


def _as_float64(value, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().to(device="cpu", dtype=torch.float64)
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"{name} must be a tensor, an array or a number, got {type(value).__name__}"
        ) from error
