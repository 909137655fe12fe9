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
        ValueError: if the shapes differ, if they are empty, if an entry is not
            finite, or if a reference is zero everywhere (its relative error is
            undefined; compare absolute errors instead).
    """
    approx = _as_float64(approx, "approx")
    reference = _as_float64(reference, "reference")
    if approx.shape != reference.shape:
        raise ValueError(
            f"approx has shape {tuple(approx.shape)} but reference has shape "
            f"{tuple(reference.shape)}; eps_r compares entry by entry and does not "
            "broadcast: reshape or transpose one of them"
        )
    if reference.numel() == 0:
        raise ValueError(
            f"approx and reference are empty (shape {tuple(reference.shape)}); eps_r "
            "needs at least one sample to compare"
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


def trajectory_mse(ys: Tensor, targets: Tensor, y0: Tensor | None = None) -> Tensor:
    """Mean squared error between a solved trajectory and observed states.

    Both are **time-major**, as every solver of the course returns them: ``ys`` has
    shape ``(T, *y0.shape)``, for example ``(T, B, n)`` for ``B`` initial states
    in ``n`` dimensions, and ``targets`` the same shape, ``targets[k]`` being the
    states observed at ``ts[k]``. Data sets are often stored batch-first,
    ``(B, T, n)``; this function refuses them instead of comparing the wrong
    entries.

    When ``T == B`` the two layouts have the same shape and only values can tell
    them apart, so then ``y0`` must be given: ``ys[0]`` and ``targets[0]`` must be
    close to it (the observations at ``ts[0]`` are the initial states), that is
    ``||targets[0] - y0|| <= 0.1 * max(||y0||, sqrt(m))`` with ``m`` the number of
    entries of ``y0``: 10% of its size, loose enough for noisy observations.

    Args:
        ys: solved states, ``(T, B, ...)``.
        targets: observed states, same shape and time-major.
        y0: the initial states ``(B, ...)``; checked against the first time slice
            of both when given.

    Returns:
        The mean of ``(ys - targets) ** 2``, a scalar tensor that carries gradients.

    Raises:
        ValueError: if the shapes differ, if ``targets`` is batch-first, or if the
            layout cannot be checked (``T == B`` without ``y0``).
    """
    if not isinstance(ys, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(
            "ys and targets must be tensors, got "
            f"{type(ys).__name__} and {type(targets).__name__}"
        )
    if ys.ndim < 2:
        raise ValueError(
            f"ys has shape {tuple(ys.shape)}; a trajectory is time-major, (T, B, ...), "
            "with at least a time and a batch dimension"
        )
    n_times, n_batch = ys.shape[0], ys.shape[1]
    swapped = (n_batch, n_times, *ys.shape[2:])
    if targets.shape != ys.shape:
        hint = ""
        if tuple(targets.shape) == swapped:
            hint = (
                "; targets look batch-first (B, T, ...): pass targets.transpose(0, 1)"
            )
        raise ValueError(
            f"ys has shape {tuple(ys.shape)} (time-major: T = {n_times} times, "
            f"B = {n_batch}) but targets has shape {tuple(targets.shape)}{hint}"
        )
    if y0 is not None:
        if tuple(y0.shape) != tuple(ys.shape[1:]):
            raise ValueError(
                f"y0 has shape {tuple(y0.shape)}, but ys[0] has shape "
                f"{tuple(ys.shape[1:])}; ys must be time-major, (T, *y0.shape)"
            )
        for name, value in (("ys", ys), ("targets", targets)):
            error = _mismatch(value[0], y0)
            if error <= 0.1:
                continue
            if n_times == n_batch and _mismatch(value[:, 0], y0) <= 0.1:
                hint = (
                    f"{name}[:, 0] matches y0, so {name} is batch-first: pass "
                    f"{name}.transpose(0, 1)"
                )
            else:
                hint = f"{name} must be time-major, {name}[0] the states at ts[0]"
            raise ValueError(
                f"{name}[0] is not close to y0 (relative mismatch {error:.3g} > 0.1); "
                f"{hint}"
            )
    elif n_times == n_batch:
        raise ValueError(
            f"ys and targets have shape {tuple(ys.shape)}, with as many times as "
            f"batch members ({n_times}), so a batch-first targets tensor would look "
            "the same; pass y0= so the first time slice can be checked"
        )
    return ((ys - targets) ** 2).mean()


def _mismatch(value: Tensor, y0: Tensor) -> float:
    """``||value - y0|| / max(||y0||, sqrt(m))``: relative, but defined at y0 = 0."""
    value, y0 = _as_float64(value, "value"), _as_float64(y0, "y0")
    scale = max(torch.linalg.vector_norm(y0).item(), y0.numel() ** 0.5)
    return torch.linalg.vector_norm(value - y0).item() / scale
