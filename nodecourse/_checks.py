"""Argument checks shared by every public entry point of the package.

Each check raises ``TypeError`` or ``ValueError`` with what is wrong, the value, and
what to do, so that the same bad input gets the same message wherever it arrives.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor


def fmt(x) -> str:
    """A scalar as a person would write it: float32 0.7 prints 0.7, not 0.69999."""
    if isinstance(x, Tensor):
        if x.dtype in (torch.float16, torch.float32, torch.float64):
            return str(x.detach().cpu().numpy())
        x = x.item()
    return repr(x)


def positive_int(name: str, value, what: str = "") -> int:
    """``value`` as an int, if it is an integer (Python or NumPy) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        raise ValueError(
            f"{name} must be a positive int{what}, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive int{what}, got {value}")
    return int(value)


def positive_float(name: str, value, what: str = "", allow_zero=False) -> float:
    """``value`` as a float, if it is a finite real number above zero."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name} must be a positive number{what}, got {value!r} "
            f"({type(value).__name__})"
        )
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {bound} finite number{what}, got {value}")
    return value


def check_y0(y0, name: str = "y0") -> None:
    """A floating tensor with finite entries: a usable initial state."""
    if not isinstance(y0, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(y0).__name__}; "
            "wrap it with torch.tensor([...])"
        )
    if not y0.is_floating_point():
        raise TypeError(
            f"{name} must have a floating dtype, got {y0.dtype}; use {name}.float()"
        )
    if y0.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(y0.shape)}); the initial state needs at "
            "least one entry, e.g. a batch of at least one state"
        )
    finite = torch.isfinite(y0)
    if not bool(finite.all()):
        index = tuple(int(i) for i in (~finite).nonzero()[0])
        raise ValueError(
            f"{name}{list(index)} = {fmt(y0[index])}: the initial state must be "
            "finite; check where it was computed"
        )


_CASTS = {
    torch.float16: "half",
    torch.bfloat16: "bfloat16",
    torch.float32: "float",
    torch.float64: "double",
}


def _cast(name: str, dtype: torch.dtype) -> str:
    """How to convert ``name`` to ``dtype``: ``y0.float()``, or ``y0.to(...)``."""
    method = _CASTS.get(dtype)
    return f"{name}.{method}()" if method else f"{name}.to({dtype})"


def check_param_dtype(x: Tensor, params, name: str = "y0", whose="the field's") -> None:
    """Refuse an input whose dtype is not that of the parameters it meets.

    Compared with the first floating parameter only (one look per forward pass);
    without floating parameters there is nothing to compare. torch would otherwise
    fail deep inside ``nn.Linear`` with "mat1 and mat2 must have the same dtype".
    """
    param = next((p for p in params if p.is_floating_point()), None)
    if param is None or x.dtype == param.dtype:
        return
    wrong = f"{name} has dtype {x.dtype} but {whose} parameters are {param.dtype}"
    if not x.is_floating_point():
        raise TypeError(
            f"{wrong}; convert it with {_cast(name, param.dtype)} (integer data, "
            "e.g. from torch.from_numpy, must be made floating)"
        )
    raise TypeError(
        f"{wrong}; convert one of them: {_cast(name, param.dtype)}, or "
        f"{_cast('model', x.dtype)}"
    )


# torchdiffeq's methods that step on a fixed grid rather than adaptively.
FIXED_GRID_METHODS = frozenset(
    {
        "euler",
        "midpoint",
        "heun2",
        "heun3",
        "rk4",
        "explicit_adams",
        "implicit_adams",
        "fixed_adams",
    }
)


def solver_settings(method: str, rtol, atol, options: dict | None) -> dict:
    """Checked keyword arguments for ``torchdiffeq.odeint``.

    A fixed-grid method must be told its step (without one, torchdiffeq silently
    takes a single step per output interval); tolerances must be positive.
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a str such as 'dopri5', got {method!r}")
    # torchdiffeq has no public list of its methods; this is its own table.
    from torchdiffeq._impl.odeint import SOLVERS

    if method not in SOLVERS:
        raise ValueError(
            f"method={method!r} is not a torchdiffeq method; use one of "
            f"{sorted(SOLVERS)}, e.g. 'dopri5' (adaptive) or 'rk4' (fixed step)"
        )
    options = dict(options or {})
    if method in FIXED_GRID_METHODS:
        if "step_size" in options:
            options["step_size"] = positive_float(
                "options['step_size']", options["step_size"], " (the fixed step)"
            )
        elif "grid_points" not in options:
            raise ValueError(
                f"method={method!r} is a fixed-step method; say its step, e.g. "
                "options={'step_size': 0.01}. Without one, torchdiffeq takes a "
                "single step per output interval"
            )
    return {
        "method": method,
        "rtol": positive_float("rtol", rtol, " (relative tolerance)"),
        "atol": positive_float("atol", atol, " (absolute tolerance)"),
        "options": options or None,
    }


def is_mps(device: torch.device) -> bool:
    """Whether ``device`` is Apple's MPS backend, which has no float64."""
    return device.type == "mps"


def solver_for(settings: dict, y0: Tensor) -> dict:
    """``settings`` (from :func:`solver_settings`) adapted to where ``y0`` lives.

    torchdiffeq's adaptive solvers keep time, step size and tolerances in float64
    by default; MPS has no float64, so there they are kept in float32 instead
    (``options['dtype']``). Elsewhere the settings are returned unchanged.
    """
    if not is_mps(y0.device) or settings["method"] in FIXED_GRID_METHODS:
        return settings
    options = dict(settings["options"] or {})
    dtype = options.setdefault("dtype", torch.float32)
    if dtype == torch.float64:
        raise ValueError(
            "options['dtype'] = torch.float64, but the state is on 'mps', which has "
            "no float64; drop that option (float32 is used on MPS) or solve on the CPU"
        )
    return {**settings, "options": options}
