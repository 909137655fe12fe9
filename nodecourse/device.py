"""Devices, seeds and the dtype policy shared by every chapter.

The course runs unchanged on a CPU, an NVIDIA GPU (CUDA) or an Apple GPU (MPS).
Apple's MPS backend has no float64, so float64 must never be created there.
:func:`resolve_dtype` states the policy in one place: float32 by default, float64 on
request except on MPS. The package's solvers and models build no floating tensors of
their own dtype: they follow the dtype of the state ``y0`` they are given, so a state
made by the policy keeps the whole computation within it.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = [
    "DEVICE_ENV_VAR",
    "as_device",
    "get_device",
    "resolve_dtype",
    "seed_everything",
]

#: Environment variable that overrides the automatic device choice, e.g. ``cpu``.
DEVICE_ENV_VAR = "NODECOURSE_DEVICE"

_KNOWN_DEVICE_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def as_device(device: str | torch.device) -> torch.device:
    """Turn ``device`` into a :class:`torch.device`, with a clear error if unknown."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(
            f"device must be a str or torch.device, got {type(device).__name__} "
            f"({device!r}); pass e.g. 'cpu' or 'cuda'"
        )
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"unknown device {device!r}; use one of {_KNOWN_DEVICE_TYPES}, "
            "optionally with an index such as 'cuda:1'"
        ) from err
    return parsed


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device the course computes on.

    The choice, in order: the argument ``prefer`` if given; else the environment
    variable ``NODECOURSE_DEVICE`` if set; else CUDA, then MPS, then the CPU,
    whichever is available first.

    Args:
        prefer: a device such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.

    Raises:
        ValueError: if the requested device is unknown or not available here.
    """
    source = "prefer"
    if prefer is None and os.environ.get(DEVICE_ENV_VAR):
        prefer, source = os.environ[DEVICE_ENV_VAR], DEVICE_ENV_VAR
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    device = as_device(prefer)
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": _mps_available(),
    }
    if not available.get(device.type, False):
        usable = [name for name, ok in available.items() if ok]
        raise ValueError(
            f"device {str(device)!r} (from {source}) is not available on this machine; "
            f"available here: {usable}. Pass one of those, or None to choose "
            "automatically"
        )
    return device


def resolve_dtype(
    device: str | torch.device, dtype: torch.dtype | None = None
) -> torch.dtype:
    """Return the floating dtype to use on ``device``.

    ``dtype=None`` means float32, the default everywhere. float64 is allowed on
    the CPU and CUDA (the tests use it for tight tolerances) but never on MPS,
    which has no float64.

    Raises:
        TypeError: if ``dtype`` is not a floating dtype, or is float64 on MPS.
    """
    device = as_device(device)
    if dtype is None:
        return torch.float32
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating torch dtype such as torch.float32, got {dtype!r}"
        )
    if device.type == "mps" and dtype == torch.float64:
        raise TypeError(
            "the MPS backend has no float64; use dtype=torch.float32 on 'mps', "
            "or compute on the CPU for float64"
        )
    return dtype


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (all devices).

    One call at the top of a notebook makes its random draws repeatable. Bit-for-bit
    equality across different hardware is not promised: GPU kernels may differ.

    Raises:
        TypeError: if ``seed`` is not an int.
        ValueError: if ``seed`` is negative or too large for NumPy.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    random.seed(int(seed))
    # The legacy global generator is the one np.random.* functions draw from.
    np.random.seed(int(seed))  # noqa: NPY002
    torch.manual_seed(int(seed))  # also seeds every CUDA and MPS device
