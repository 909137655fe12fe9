r"""The adjoint method from scratch, as a ``torch.autograd.Function``.

Forward, we solve ``dz/dt = f(t, z, theta)``, ``z(t_0) = y0`` and return ``z`` at the
output times ``t_0 < t_1 < ... < t_N`` without recording a graph. Backward, given
``dL/dz(t_i)`` for every output, we solve one augmented system from ``t_N`` back to
``t_0``, interval by interval:

.. math::

    \frac{dz}{dt} = f(t, z, \theta), \qquad
    \frac{da}{dt} = -a^\top \frac{\partial f}{\partial z}, \qquad
    \frac{dg}{dt} = -a^\top \frac{\partial f}{\partial \theta},

starting from ``z(t_N)`` (recomputed backwards rather than stored), ``a(t_N) =
dL/dz(t_N)`` and ``g(t_N) = 0``. The adjoint ``a(t) = dL/dz(t)`` jumps by
``dL/dz(t_i)`` at each earlier output time. At the end ``dL/dy0 = a(t_0)`` and
``dL/dtheta = g(t_0)``. The output times get

.. math::

    \frac{dL}{dt_i} = \frac{\partial L}{\partial z(t_i)}^\top f(t_i, z(t_i))
    \quad (i \ge 1), \qquad
    \frac{dL}{dt_0} = -a(t_0^+)^\top f(t_0, y_0),

where ``a(t_0^+)`` is the adjoint arriving at ``t_0`` before the jump from a loss on
``z(t_0) = y0`` itself (that term does not depend on ``t_0``). Because
``d/dt (a^T f) = a^T df/dt`` along the solution, these closed forms equal what one gets
by integrating a time-adjoint ``-a^T df/dt`` alongside the system, so that extra
component is not needed.

Every right-hand side evaluation of the augmented system costs one evaluation of ``f``
and one vector-Jacobian product (one reverse pass through ``f``), which is why the
backward solve is slower than the forward one. The memory does not grow with the
number of solver steps: nothing of the forward solve is kept but ``z(t_i)``.

Warning:
    The gradient is exact only up to the accuracy of the backward solve. ``z(t)`` is
    recomputed by integrating backwards, so its error (and, for dynamics that contract
    forwards and hence expand backwards, its growth) enters ``a`` and ``g``; the
    tolerances ``rtol`` and ``atol`` apply to the forward and the backward solve alike.
    This is not the gradient of the discretised forward solve (which backpropagation
    through the solver computes); the two agree as the tolerances shrink.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torchdiffeq import odeint

from nodecourse._checks import (
    check_param_dtype,
    check_y0,
    solver_for,
    solver_settings,
)
from nodecourse.solvers import (
    check_field_output,
    check_initial_state,
    check_ts,
    explained_underflow,
)

__all__ = ["adjoint_odeint"]


def _leaves_requiring_grad(out: Tensor) -> list[Tensor]:
    """The leaf tensors with ``requires_grad`` that ``out`` was computed from."""
    leaves, seen, stack = [], set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # AccumulateGrad nodes
        if variable is not None:
            leaves.append(variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def _check_params_cover_field(f, t0: Tensor, y0: Tensor, params: tuple[Tensor, ...]):
    """Refuse a field that depends on trainable tensors missing from ``params``.

    Such tensors (captured in a closure, or a Parameter reassigned after ``params``
    was collected) would silently get no gradient.
    """
    with torch.enable_grad():  # record f's graph once, only to inspect its leaves
        out = f(t0.detach(), y0.detach())
    check_field_output(out, y0)
    if out.grad_fn is None:
        return
    known = {id(p) for p in params}
    missing = [v for v in _leaves_requiring_grad(out) if id(v) not in known]
    if missing:
        shapes = [tuple(v.shape) for v in missing]
        raise ValueError(
            f"the vector field depends on {len(missing)} tensor(s) with "
            f"requires_grad=True that are not among its parameters (shapes {shapes}), "
            "so the adjoint would leave their gradients at None. Register them as "
            "nn.Parameter attributes of the field, or pass them in params=..."
        )


def _odeint(func, y0, ts: Tensor, solver: dict):
    """``torchdiffeq.odeint``, with a step-size underflow turned into a clear error."""
    last_t: list[Tensor] = []

    def tracked(t, y):
        last_t[:] = [t]
        return func(t, y)

    def t_reached():
        return float(last_t[0]) if last_t else None

    with explained_underflow(solver["method"], ts, t_reached):
        return odeint(tracked, y0, ts, **solver)


class _AdjointODE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, solver, y0, ts, *params):
        # Phase 1: the forward solve, without a graph (autograd.Function's forward
        # already runs under no_grad; nothing of the solver's steps is stored).
        ys = _odeint(f, y0, ts, solver)
        ctx.f, ctx.solver = f, solver
        ctx.save_for_backward(ts, ys, *params)
        return ys

    @staticmethod
    def backward(ctx, grad_ys):
        f, solver = ctx.f, ctx.solver
        ts, ys, *params = ctx.saved_tensors
        params = tuple(params)

        def augmented(t, state):
            z, a = state[0], state[1]
            with torch.enable_grad():  # a vector-Jacobian product needs a graph
                z = z.detach().requires_grad_(True)
                dz = f(t, z)
                vjps = torch.autograd.grad(
                    dz, (z, *params), grad_outputs=a, allow_unused=True
                )
            vjp_z, vjp_params = vjps[0], vjps[1:]
            # A parameter that f does not use has a zero derivative, not None.
            vjp_params = tuple(
                torch.zeros_like(p) if g is None else g
                for p, g in zip(params, vjp_params, strict=True)
            )
            return (dz, -vjp_z, *(-g for g in vjp_params))

        # Phase 2: initial conditions at t_N; a(t_N) = dL/dz(t_N), g(t_N) = 0.
        n = ts.numel()
        grad_ts = torch.zeros_like(ts) if ctx.needs_input_grad[3] else None
        z = ys[-1]
        a = grad_ys[-1]
        g = tuple(torch.zeros_like(p) for p in params)

        # Phase 3: from t_N back to t_0, one interval at a time. Each output time
        # first contributes its direct time derivative, then the augmented system is
        # integrated down to the previous output time, where a jumps by dL/dz(t_i).
        for i in range(n - 1, 0, -1):
            if grad_ts is not None:
                with torch.no_grad():
                    grad_ts[i] = (grad_ys[i] * f(ts[i], ys[i])).sum()
            state = (z, a, *g)
            span = torch.stack([ts[i], ts[i - 1]])
            with torch.no_grad():
                out = _odeint(augmented, state, span, solver)
            # Restart from the stored forward state, so the backward solve's drift in
            # z does not accumulate across intervals.
            z = ys[i - 1]
            a = out[1][-1]
            g = tuple(o[-1] for o in out[2:])
            if grad_ts is not None and i == 1:
                with torch.no_grad():
                    grad_ts[0] = -(a * f(ts[0], ys[0])).sum()
            a = a + grad_ys[i - 1]

        # Phase 4: dL/dy0 = a(t_0) (with the jump at t_0), dL/dtheta = g(t_0).
        return (None, None, a, grad_ts, *g)


def adjoint_odeint(
    f: nn.Module,
    y0: Tensor,
    ts: Tensor,
    *,
    params: Iterable[Tensor] | None = None,
    method: str = "dopri5",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    options: dict | None = None,
) -> Tensor:
    """Solve ``dz/dt = f(t, z)``, ``z(ts[0]) = y0``, with gradients by the adjoint.

    The forward result equals ``torchdiffeq.odeint(f, y0, ts, ...)``; the backward pass
    runs the adjoint method of this module (see its docstring for the equations) and
    gives gradients for ``y0``, ``ts`` (all output times, ``t0`` and ``t1`` included)
    and every tensor in ``params``.

    Args:
        f: the vector field, called as ``f(t, z)``; usually an ``nn.Module``.
        y0: initial state, any shape, floating dtype.
        ts: output times, shape ``(T,)``, strictly increasing or decreasing.
        params: the tensors that ``f`` depends on and that need gradients; default
            ``f.parameters()``. A trainable tensor used by ``f`` but missing here is
            an error (it would otherwise silently get no gradient). The check
            evaluates ``f`` once, at ``ts[0]`` and ``y0``: a tensor that ``f`` uses
            only at other times or states escapes it and gets no gradient.
        method, rtol, atol, options: the torchdiffeq solver and tolerances, used for
            the forward and the backward solve.

    Returns:
        ``ys`` of shape ``(T, *y0.shape)``.

    Warning:
        The gradient is only as accurate as the backward solve; tighten ``rtol`` and
        ``atol`` when gradients must be exact (the tests use 1e-10).
    """
    check_y0(y0)
    check_ts(ts)
    if ts.dtype != y0.dtype or ts.device != y0.device:
        ts = ts.to(dtype=y0.dtype, device=y0.device)
    if params is None:
        if not isinstance(f, nn.Module):
            raise TypeError(
                f"f is a {type(f).__name__}, not an nn.Module, so its parameters are "
                "unknown; pass them as params=[...] (or params=[] if it has none)"
            )
        params = f.parameters()
    params = tuple(params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"params[{i}] is a {type(p).__name__}, not a tensor; pass the tensors "
                "the field depends on (e.g. list(f.parameters()))"
            )
    check_param_dtype(y0, params)
    params = tuple(p for p in params if p.requires_grad)
    solver = solver_for(solver_settings(method, rtol, atol, options), y0)
    check_initial_state(f, y0)
    _check_params_cover_field(f, ts[0], y0, params)
    return _AdjointODE.apply(f, solver, y0, ts, *params)
