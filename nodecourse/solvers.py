"""Fixed-step ODE solvers written for teaching: explicit Euler and classical RK4.

They solve the initial value problem

    dy/dt = f(t, y),    y(ts[0]) = y0,

and return the solution at the output times ``ts``. Both are differentiable (autograd
records every step), so a loss on their output can be backpropagated through the
solver. Production code in this course solves with ``torchdiffeq``; these solvers
exist so that every step can be read, and they are tested against it.

The step is always explicit: pass either ``dt`` (the largest step allowed) or
``n_steps`` (the number of steps between two consecutive output times). Each interval
``[ts[i], ts[i + 1]]`` is split into equal steps, so the grid lands exactly on every
requested output time, the last one included, whatever the floating-point rounding.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor

from nodecourse._checks import check_y0, fmt, positive_float, positive_int

__all__ = [
    "Solution",
    "StepSizeCollapse",
    "check_field_output",
    "check_field_signature",
    "check_initial_state",
    "check_ts",
    "convergence_order",
    "euler",
    "euler_step",
    "explained_underflow",
    "odeint_fixed",
    "rk4",
    "rk4_step",
    "step_counts",
    "step_size_underflow",
]

VectorField = Callable[[Tensor, Tensor], Tensor]

# The most steps a fixed-step solve takes unless told otherwise: a step in Python
# costs microseconds, so a mistyped step could otherwise run for hours.
MAX_STEPS = 1_000_000

# How many machine epsilons of slack to allow when dividing an interval by dt.
_STEP_COUNT_SLACK = 8


class Solution(NamedTuple):
    """What a fixed-step solve returns.

    Attributes:
        ys: the solution at the output times, shape ``(T, *y0.shape)``.
        nfe: the number of evaluations of ``f`` made.
        n_steps: the number of solver steps taken in all.
    """

    ys: Tensor
    nfe: int
    n_steps: int


def check_ts(ts: Tensor, name: str = "ts") -> None:
    """Check that ``ts`` is a 1-D, finite, strictly monotone tensor of times.

    Raises:
        TypeError: if ``ts`` is not a floating tensor.
        ValueError: naming the first offending index and value otherwise.
    """
    if not isinstance(ts, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(ts).__name__}; "
            f"build it with torch.tensor([...]) or torch.linspace(t0, t1, T)"
        )
    if not ts.is_floating_point():
        raise TypeError(
            f"{name} must have a floating dtype, got {ts.dtype}; "
            f"use {name}.float() or torch.linspace"
        )
    if ts.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (the output times), got shape {tuple(ts.shape)}; "
            f"pass {name}.flatten() if these are times, one per output"
        )
    if ts.numel() < 2:
        raise ValueError(
            f"{name} needs at least two times (start and end), got {ts.tolist()}"
        )
    finite = torch.isfinite(ts)
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0])
        raise ValueError(
            f"{name}[{i}] = {fmt(ts[i])} is not finite; all output times must be"
            " finite numbers"
        )
    diffs = ts[1:] - ts[:-1]
    repeats = (diffs == 0).nonzero()
    if repeats.numel() > 0:
        i = int(repeats[0]) + 1
        raise ValueError(
            f"{name} must be strictly monotone; {name}[{i}] = {fmt(ts[i])} repeats "
            f"{name}[{i - 1}] = {fmt(ts[i - 1])}. Remove the duplicate times (in "
            f"{ts.dtype}, times closer than its resolution count as equal)"
        )
    increasing = bool(diffs[0] > 0)
    bad = ((diffs < 0) if increasing else (diffs > 0)).nonzero()
    if bad.numel() > 0:
        i = int(bad[0]) + 1
        order = "increasing" if increasing else "decreasing"
        raise ValueError(
            f"{name} must be strictly monotone; {name}[{i}] = {fmt(ts[i])} breaks "
            f"the order of {name}[{i - 1}] = {fmt(ts[i - 1])} (the times start "
            f"{order}). Sort the times"
        )


def step_counts(ts: Tensor, *, dt: float | None = None, n_steps: int | None = None):
    """Number of equal steps in each interval ``[ts[i], ts[i + 1]]``.

    Exactly one of ``dt`` or ``n_steps`` must be given. With ``dt``, each interval is
    split into the fewest equal steps no longer than ``dt`` (up to the rounding of
    ``ts``'s dtype: an interval of 0.3 with ``dt = 0.1`` takes 3 steps, in float32 as
    in float64); with ``n_steps``, every interval gets that many.

    Returns:
        A list of ``len(ts) - 1`` positive ints.
    """
    if (dt is None) == (n_steps is None):
        raise ValueError(
            "give exactly one of dt (largest step size) or n_steps (steps per "
            f"output interval); got dt={dt!r}, n_steps={n_steps!r}"
        )
    check_ts(ts)
    n_intervals = ts.numel() - 1
    if n_steps is not None:
        n_steps = positive_int("n_steps", n_steps, " (steps per output interval)")
        return [n_steps] * n_intervals
    dt = positive_float("dt", dt, " (the largest step size)")
    # A width computed in floating point carries a relative error of a few machine
    # epsilons of ts's dtype (more when the times are large compared with their
    # spacing), so 0.3 / 0.1 may come out as 2.9999999999999996 or, in float32,
    # 1.0000001 for an interval meant to be exactly dt. Within that error the
    # quotient counts as an integer.
    eps = torch.finfo(ts.dtype).eps
    counts = []
    for t_a, t_b in zip(ts[:-1].tolist(), ts[1:].tolist(), strict=True):
        width = abs(t_b - t_a)
        slack = _STEP_COUNT_SLACK * eps * (abs(t_a) + abs(t_b) + width) / width
        counts.append(max(1, math.ceil(width / dt * (1 - slack))))
    return counts


class StepSizeCollapse(FloatingPointError):
    """An adaptive solve whose step size shrank to zero.

    Attributes:
        t: the time of the solver's last evaluation, where it gave up (``None`` if
            unknown).
    """

    def __init__(self, message: str, t: float | None):
        super().__init__(message)
        self.t = t


def _check_step_budget(
    total: int, max_steps: int, asked: str, ts: Tensor, remedy: str
) -> None:
    """Refuse a fixed-step solve of more than ``max_steps`` steps, before any."""
    if total > positive_int("max_steps", max_steps):
        raise ValueError(
            f"{asked} asks for {total} steps from t = {fmt(ts[0])} to "
            f"{fmt(ts[-1])}, more than max_steps={max_steps}; {remedy}, or raise "
            "max_steps if you mean it"
        )


def step_size_underflow(method: str, t_reached: float | None, ts: Tensor):
    """The error an adaptive solve raises when its step size underflows.

    torchdiffeq signals this with a bare ``AssertionError("underflow in dt ...")``;
    the package turns it into a ``StepSizeCollapse`` (a ``FloatingPointError``) that
    says where the solve stopped, the likely cause, and what to try.
    """
    where = "at an unknown time" if t_reached is None else f"near t = {t_reached:.6g}"
    return StepSizeCollapse(
        f"{method}: the adaptive step size shrank to zero {where}, on the way from "
        f"t = {ts[0].item():.6g} to {ts[-1].item():.6g}. The solution probably blows "
        "up there (a finite-time singularity), or the problem is stiff. Try output "
        "times that end before that point; during training, a smaller learning rate "
        "(the parameters may have diverged); or, to watch the state grow step by "
        "step, nodecourse.rk4 with an explicit dt",
        t_reached,
    )


@contextmanager
def explained_underflow(method: str, ts: Tensor, t_reached: Callable[[], float | None]):
    """Turn torchdiffeq's step-size underflow assertion into ``step_size_underflow``.

    ``t_reached`` is asked, only on failure, for the time of the last evaluation.
    """
    try:
        yield
    except AssertionError as err:
        if "underflow in dt" not in str(err):
            raise
        raise step_size_underflow(method, t_reached(), ts) from err


def euler_step(f: VectorField, t: Tensor, y: Tensor, dt: Tensor) -> Tensor:
    """One explicit Euler step: ``y + dt * f(t, y)`` (one evaluation of ``f``)."""
    return y + dt * f(t, y)


def rk4_step(f: VectorField, t: Tensor, y: Tensor, dt: Tensor) -> Tensor:
    """One step of the classical fourth-order Runge-Kutta method (four evaluations).

    k1 = f(t, y), k2 = f(t + dt/2, y + dt k1/2), k3 = f(t + dt/2, y + dt k2/2),
    k4 = f(t + dt, y + dt k3), and y_next = y + dt (k1 + 2 k2 + 2 k3 + k4) / 6.
    """
    half = dt / 2
    k1 = f(t, y)
    k2 = f(t + half, y + half * k1)
    k3 = f(t + half, y + half * k2)
    k4 = f(t + dt, y + dt * k3)
    return y + dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6


_METHODS = {"euler": (euler_step, 1), "rk4": (rk4_step, 4)}


def check_field_output(out, y0: Tensor) -> None:
    """Check that a vector field returned a tensor of the state's shape."""
    if not isinstance(out, Tensor) or out.shape != y0.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"the vector field returned {got} for a state of shape "
            f"{tuple(y0.shape)}; f(t, y) must return a tensor of the state's shape "
            "(check the field's output width against the state's last axis)"
        )


def check_initial_state(f, y0: Tensor) -> None:
    """Let a field with a domain refuse an initial state outside it.

    A field may define ``check_initial(y0)``, raising a ``ValueError`` for a state
    it is not defined on (negative populations in a Lotka-Volterra model, for
    instance). Every solver of the package calls it before the first step, so the
    same input gets the same error whichever solver it reaches.
    """
    check = getattr(f, "check_initial", None)
    if callable(check):
        check(y0)


def check_field_signature(f) -> None:
    """Refuse a vector field that cannot be called as ``f(t, y)``.

    Checked from the signature, before any evaluation; an ``nn.Module`` is checked
    through its ``forward``. Callables without a readable signature pass.
    """
    target = f.forward if isinstance(f, torch.nn.Module) else f
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(0.0, None)
    except TypeError as err:
        name = getattr(f, "__name__", type(f).__name__)
        raise TypeError(
            f"the vector field is called as f(t, y), the time and then the state, "
            f"but {name}{signature} cannot take those two arguments ({err}); "
            "define it with both, f(t, y), even if it does not use t"
        ) from None


def _shape_checked(f: VectorField, y0: Tensor) -> VectorField:
    """``f``, with its first output checked against the state's shape."""
    check_field_signature(f)
    checked = False

    def wrapped(t: Tensor, y: Tensor) -> Tensor:
        nonlocal checked
        out = f(t, y)
        if not checked:
            check_field_output(out, y0)
            checked = True
        return out

    return wrapped


def _all_finite(y: Tensor) -> bool:
    """Whether every entry of ``y`` is finite, in one reduction when it is.

    A NaN or an infinity makes the sum non-finite, so a finite sum proves every entry
    finite. A non-finite sum may also come from finite entries that overflow when
    added, so only then is each entry checked.
    """
    return math.isfinite(y.detach().sum().item()) or bool(torch.isfinite(y).all())


def odeint_fixed(
    f: VectorField,
    y0: Tensor,
    ts: Tensor,
    *,
    method: str = "rk4",
    dt: float | None = None,
    n_steps: int | None = None,
    max_steps: int = MAX_STEPS,
) -> Solution:
    """Solve ``dy/dt = f(t, y)``, ``y(ts[0]) = y0`` with a fixed-step method.

    Args:
        f: the vector field, called as ``f(t, y)`` with ``t`` a 0-d tensor and ``y``
            of the shape of ``y0``; it must return a tensor of that shape.
        y0: initial state, any shape, floating dtype.
        ts: output times, shape ``(T,)``, ``T >= 2``, strictly increasing or
            strictly decreasing (integration backwards in time is allowed). It is
            converted to ``y0``'s dtype and device.
        method: ``"euler"`` (order 1) or ``"rk4"`` (order 4).
        dt: largest step size; each output interval is split into the fewest equal
            steps no longer than ``dt``.
        n_steps: alternatively, the number of steps in each output interval.
        max_steps: refuse a grid of more steps than this (a step in Python costs
            microseconds, so a mistyped ``dt`` could otherwise run for hours).

    Returns:
        ``Solution(ys, nfe, n_steps)`` with ``ys`` of shape ``(T, *y0.shape)`` and
        ``ys[0] == y0``.

    Raises:
        FloatingPointError: at the first step whose state is not finite, naming the
            step and the time (a blow-up, or a step too large for a stiff problem).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    if not callable(f):
        raise TypeError(f"f must be callable as f(t, y), got {type(f).__name__}")
    check_y0(y0)
    check_ts(ts)
    ts = ts.to(dtype=y0.dtype, device=y0.device)
    counts = step_counts(ts, dt=dt, n_steps=n_steps)
    asked = f"dt={dt}" if dt is not None else f"n_steps={n_steps!r}"
    _check_step_budget(sum(counts), max_steps, asked, ts, "use a larger step")
    step, evals_per_step = _METHODS[method]
    check_initial_state(f, y0)
    f = _shape_checked(f, y0)

    ys = [y0]
    y = y0
    k = 0  # steps taken so far
    for i, m in enumerate(counts):
        t_a, t_b = ts[i], ts[i + 1]
        h = (t_b - t_a) / m
        # The step starts t_a + j h for j < m, made in one operation rather than one
        # per step (the same arithmetic, so the same values); the last step of an
        # interval ends exactly on t_b, not on t_a + m h.
        starts = t_a + torch.arange(m, dtype=ts.dtype, device=ts.device) * h  # (m,)
        ends = torch.cat([starts[1:], t_b[None]])  # (m,)
        for t, t_next, step_dt in zip(
            starts.unbind(), ends.unbind(), (ends - starts).unbind(), strict=True
        ):
            y = step(f, t, y, step_dt)
            k += 1
            if not _all_finite(y):
                raise FloatingPointError(
                    f"{method}: the state became non-finite at step {k} "
                    f"(t = {t_next.item():.6g}, step size {abs(h.item()):.3g}). "
                    "The solution may blow up there, or the step is too large for "
                    "this problem (stiffness): try a smaller dt / larger n_steps, or "
                    "an adaptive solver such as torchdiffeq's dopri5"
                )
        ys.append(y)
    return Solution(torch.stack(ys), nfe=k * evals_per_step, n_steps=k)


def euler(
    f: VectorField,
    y0: Tensor,
    ts: Tensor,
    *,
    dt: float | None = None,
    n_steps: int | None = None,
    max_steps: int = MAX_STEPS,
) -> Solution:
    """Explicit Euler, ``y_{k+1} = y_k + dt f(t_k, y_k)``; see ``odeint_fixed``."""
    return odeint_fixed(
        f, y0, ts, method="euler", dt=dt, n_steps=n_steps, max_steps=max_steps
    )


def rk4(
    f: VectorField,
    y0: Tensor,
    ts: Tensor,
    *,
    dt: float | None = None,
    n_steps: int | None = None,
    max_steps: int = MAX_STEPS,
) -> Solution:
    """Classical fourth-order Runge-Kutta method; see ``odeint_fixed``."""
    return odeint_fixed(
        f, y0, ts, method="rk4", dt=dt, n_steps=n_steps, max_steps=max_steps
    )


def convergence_order(step_sizes, errors) -> float:
    """Measured order of convergence: the least-squares slope of log(error) on log(dt).

    A method of order p has error ~ C dt^p for small dt, so on a log-log plot the
    errors lie on a line of slope p.

    Args:
        step_sizes: the step sizes used (positive), any 1-D sequence or array.
        errors: the errors measured with them (positive), same length.

    Raises:
        TypeError: if either is not numeric.
        ValueError: if they differ in length or have fewer than two entries, naming
            the first entry that is not positive, or if all step sizes are equal.
    """
    values = {}
    for name, given in (("step_sizes", step_sizes), ("errors", errors)):
        try:
            values[name] = torch.as_tensor(given, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be numbers (a 1-D sequence, array or tensor), got "
                f"{given!r}"
            ) from err
    x, e = values["step_sizes"], values["errors"]
    if x.numel() != e.numel() or x.numel() < 2:
        raise ValueError(
            "need at least two step sizes and as many errors, got "
            f"{x.numel()} step sizes and {e.numel()} errors"
        )
    for name, value in values.items():
        bad = (~(value > 0)).nonzero()
        if bad.numel() > 0:
            i = int(bad[0])
            raise ValueError(
                f"{name}[{i}] = {value[i].item()} is not positive; step sizes and "
                f"errors must be positive to take logarithms: drop that entry "
                f"({name}: {value.tolist()})"
            )
    if bool((x == x[0]).all()):
        raise ValueError(
            f"all step sizes are equal ({x[0].item()}); the order needs at least two "
            "different step sizes"
        )
    lx, le = x.log(), e.log()
    lx_c = lx - lx.mean()
    return float((lx_c * (le - le.mean())).sum() / (lx_c**2).sum())
