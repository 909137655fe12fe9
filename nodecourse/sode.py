"""Systems of ODEs as function approximators: Lotka-Volterra, Riccati, S-systems.

A scalar function ``g`` on an interval is approximated by the first component of
the solution of a fixed-form system of ``n`` ODEs, with the input ``x`` playing the
role of time:

    dz/dx = L(z, theta),    z(0) = z0,    g(x) ~ z_1(x),

and both ``theta`` and ``z0`` are trained. Three families of ``L``:

    Lotka-Volterra   dz_i/dx = lambda_i z_i + z_i sum_j A_ij z_j
    Riccati          dz_i/dx = a_i + sum_j B_ij z_j + sum_jk C_ijk z_j z_k
    S-system         dz_i/dx = alpha_i prod_j z_j^G_ij - beta_i prod_j z_j^H_ij

Every parameter carries a leading batch dimension ``B``: member ``b`` of a batch is
an independent system with its own parameters, so many independent fits (targets,
seeds) are one batched solve. States have shape ``(B, n)``.

The error is the course's one relative error, ``nodecourse.eps_r``, taken over the
sample grid: ``eps_r = ||z_1(xs) - g(xs)||_2 / ||g(xs)||_2`` per member.

Domains. An S-system has real powers, so it is defined only for positive states;
``SSystem`` raises an error naming the member, component, value and time when a
state is not positive, and the approximator solves it in log space (``w = log z``),
where every state is positive by construction. A Lotka-Volterra component never
changes sign (``z_i = 0`` is invariant); ``LotkaVolterra.check_initial`` refuses
negative populations, and the approximator keeps ``z0 = exp(u0)`` positive.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from nodecourse._checks import (
    FIXED_GRID_METHODS,
    check_y0,
    fmt,
    positive_float,
    positive_int,
    solver_settings,
)
from nodecourse.metrics import eps_r
from nodecourse.models import CountNFE
from nodecourse.solvers import (
    MAX_STEPS,
    _check_step_budget,
    _shape_checked,
    check_initial_state,
    check_ts,
    explained_underflow,
)
from nodecourse.training import _progress_wanted

__all__ = [
    "FAMILIES",
    "TARGETS",
    "BatchFit",
    "LotkaVolterra",
    "Riccati",
    "STATE_BOUND",
    "SSystem",
    "fit_sode",
    "flow",
    "init_params",
    "mse_criterion",
    "n_params",
    "padding_mask",
    "predict",
    "predict_adaptive",
    "predator_prey",
    "predator_prey_invariant",
    "real_power",
    "sample_grid",
    "solve_batch",
    "target",
]

FAMILIES = ("lotka_volterra", "riccati", "s_system")

# The seven targets of the original experiment, on [0, 3]. The constant is 1.
TARGETS = {
    "constant": lambda x: torch.ones_like(x),
    "x": lambda x: x,
    "x^2": lambda x: x**2,
    "sin(3x)": lambda x: torch.sin(3 * x),
    "exp(x/2)": lambda x: torch.exp(x / 2),
    "3log(x+1)": lambda x: 3 * torch.log(x + 1),
    "3/(x+1)": lambda x: 3 / (x + 1),
}


def _family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return family


# The keys of each family's parameter dict, as init_params builds it.
_PARAM_KEYS = {
    "lotka_volterra": ("lam", "A", "u0"),
    "riccati": ("a", "b", "c", "z0"),
    "s_system": ("log_alpha", "log_beta", "g", "h", "w0"),
}


def _check_params(family: str, params) -> None:
    """Refuse a parameter dict that does not hold exactly the family's keys."""
    keys = _PARAM_KEYS[family]
    if not isinstance(params, dict):
        raise TypeError(
            f"params must be a dict of tensors (from init_params or BatchFit.params), "
            f"got {type(params).__name__}"
        )
    missing = [k for k in keys if k not in params]
    extra = [k for k in params if k not in keys]
    if not missing and not extra:
        return
    wrong = "; ".join(
        f"{what} {names}"
        for what, names in (("missing", missing), ("extra", extra))
        if names
    )
    other = [f for f, k in _PARAM_KEYS.items() if set(k) == set(params)]
    if other:
        wrong += f" (these are the parameters of family {other[0]!r})"
    raise ValueError(
        f"params for family {family!r} need the keys {list(keys)}: {wrong}. Pass "
        f"init_params({family!r}, ...) or the params of a fit of that family"
    )


def _seeds(seeds, what: str) -> list[int]:
    """``seeds`` as a non-empty list of ints."""
    wanted = f"seeds must be a non-empty sequence of ints{what}"
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(
            f"{wanted}, got {seeds!r} ({type(seeds).__name__}); for one member "
            "pass [seed]"
        )
    seeds = list(seeds)
    if not seeds:
        raise ValueError(f"{wanted}, got an empty sequence")
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(
            seed, numbers.Integral | np.integer
        ):
            raise TypeError(
                f"{wanted}; seeds[{i}] = {seed!r} is a {type(seed).__name__}"
            )
    return [int(seed) for seed in seeds]


def sample_grid(n_points: int = 61, x1: float = 3.0, dtype=torch.float32, device=None):
    """The sample grid ``xs = linspace(0, x1, n_points)``: 0, 0.05, ..., 3 by default.

    The original experiment sampled ``X = 0:0.05:3`` (61 points).
    """
    n_points = positive_int("n_points", n_points)
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points}")
    x1 = positive_float("x1", x1, " (the end of the interval [0, x1])")
    return torch.linspace(0.0, x1, n_points, dtype=dtype, device=device)


def target(name: str, xs: Tensor) -> Tensor:
    """The target ``g`` called ``name`` (a key of ``TARGETS``) sampled at ``xs``."""
    if name not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {name!r}")
    return TARGETS[name](xs)


def n_params(family: str, n: int, *, with_z0: bool = False) -> int:
    """Number of trainable parameters of a family with ``n`` equations.

    Lotka-Volterra ``n + n^2`` (lambda, A); Riccati ``n + n^2 + n^3`` (a, B, C, as
    written, without removing the symmetric pairs ``C_ijk``, ``C_ikj``); S-system
    ``2n + 2n^2`` (alpha, beta, G, H). ``with_z0=True`` adds the ``n`` initial
    values, which are trained as well.
    """
    n = positive_int("n", n, " (number of equations)")
    count = {
        "lotka_volterra": n + n**2,
        "riccati": n + n**2 + n**3,
        "s_system": 2 * n + 2 * n**2,
    }[_family(family)]
    return count + (n if with_z0 else 0)


def _batched(name: str, value, ndim: int) -> Tensor:
    """``value`` as a floating tensor with a leading batch dimension added if absent."""
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if not value.is_floating_point():
        value = value.to(torch.get_default_dtype())
    if value.ndim == ndim - 1:
        value = value.unsqueeze(0)
    if value.ndim != ndim:
        raise ValueError(
            f"{name} must have {ndim - 1} dimensions, or {ndim} with a leading batch "
            f"dimension, got shape {tuple(value.shape)}"
        )
    return value


def _check_state(z: Tensor, n: int, batch: int, name: str = "z") -> None:
    if z.ndim != 2 or z.shape[1] != n or z.shape[0] not in (1, batch):
        raise ValueError(
            f"{name} must have shape (B, n) = ({batch}, {n}) for this system, got "
            f"{tuple(z.shape)}"
        )


def _where(index) -> str:
    b, i = (int(k) for k in index)
    return f"member {b}, component {i} (z[{b}, {i}])"


def _time(t) -> str:
    return "an unknown time" if t is None else f"t = {float(t):.6g}"


class LotkaVolterra:
    """Generalised Lotka-Volterra field ``dz_i/dt = z_i (lambda_i + sum_j A_ij z_j)``.

    Args:
        lam: growth rates, shape ``(B, n)`` (or ``(n,)`` for one system).
        A: interaction matrix, shape ``(B, n, n)`` (or ``(n, n)``).

    Called as ``f(t, z)`` with ``z`` of shape ``(B, n)``; returns ``(B, n)``.

    Each component satisfies ``dz_i/dt = z_i * (...)``, so ``z_i = 0`` is invariant
    and no component ever changes sign: populations that start positive stay
    positive, and a fit ``g ~ z_1`` can never follow a target that changes sign.
    """

    family = "lotka_volterra"

    def __init__(self, lam, A):
        self.lam = _batched("lam", lam, 2)
        self.A = _batched("A", A, 3).to(self.lam)
        n = self.lam.shape[1]
        if self.A.shape[1:] != (n, n) or self.A.shape[0] != self.lam.shape[0]:
            raise ValueError(
                f"A must have shape (B, n, n) = ({self.lam.shape[0]}, {n}, {n}) to "
                f"match lam {tuple(self.lam.shape)}, got {tuple(self.A.shape)}"
            )
        self.n = n
        self._lam = self.lam.unsqueeze(-1)  # (B, n, 1)

    def __call__(self, t, z: Tensor) -> Tensor:
        # (B, n, 1) + (B, n, n) @ (B, n, 1): the rates lambda + A z.
        rates = torch.baddbmm(self._lam, self.A, z.unsqueeze(-1)).squeeze(-1)
        return z * rates

    def check_initial(self, z0: Tensor) -> None:
        """Refuse a negative initial population (a population model's domain)."""
        check_y0(z0, "z0")
        _check_state(z0, self.n, self.lam.shape[0], "z0")
        negative = (z0 < 0).nonzero()
        if negative.numel() > 0:
            index = negative[0]
            raise ValueError(
                f"Lotka-Volterra initial population {_where(index)} = "
                f"{fmt(z0[tuple(index)])} is negative; populations are non-negative "
                "and a component never changes sign, so start from z0 >= 0"
            )


def predator_prey(alpha, beta, gamma, delta):
    """The classical predator-prey model as ``(lam, A)`` of ``LotkaVolterra``.

    ``dx/dt = alpha x - beta x y``, ``dy/dt = delta x y - gamma y``.
    """
    lam = torch.tensor([alpha, -gamma], dtype=torch.float64)
    A = torch.tensor([[0.0, -beta], [delta, 0.0]], dtype=torch.float64)
    return lam, A


def predator_prey_invariant(z: Tensor, alpha, beta, gamma, delta) -> Tensor:
    """``V = delta x - gamma ln x + beta y - alpha ln y``, constant along solutions.

    Args:
        z: states ``(..., 2)`` with positive entries ``(x, y)``.
    """
    x, y = z[..., 0], z[..., 1]
    return delta * x - gamma * torch.log(x) + beta * y - alpha * torch.log(y)


class Riccati:
    """Quadratic (Riccati) field ``dz_i/dt = a_i + B_i. z + sum_jk C_ijk z_j z_k``.

    Args:
        a: shape ``(B, n)``; b: ``(B, n, n)``; c: ``(B, n, n, n)`` (batch optional).

    Warning: a quadratic system can blow up in finite time (``z' = z^2`` from
    ``z(0) = 1`` reaches infinity at ``t = 1``); ``solve_batch`` reports such a
    member as failed instead of returning infinities.
    """

    family = "riccati"

    def __init__(self, a, b, c):
        self.a = _batched("a", a, 2)
        self.b = _batched("b", b, 3).to(self.a)
        self.c = _batched("c", c, 4).to(self.a)
        batch, n = self.a.shape
        if self.b.shape != (batch, n, n) or self.c.shape != (batch, n, n, n):
            raise ValueError(
                f"b and c must have shapes ({batch}, {n}, {n}) and ({batch}, {n}, {n}, "
                f"{n}) to match a {tuple(self.a.shape)}, got {tuple(self.b.shape)} and "
                f"{tuple(self.c.shape)}"
            )
        self.n = n
        self._a = self.a.unsqueeze(-1)  # (B, n, 1)
        self._c = self.c.reshape(batch, n * n, n)  # (B, n*n, n)

    def __call__(self, t, z: Tensor) -> Tensor:
        batch, n = z.shape
        zc = z.unsqueeze(-1)  # (B, n, 1)
        # sum_k C_ijk z_k, (B, n, n); then a + (B + C z) z, (B, n).
        cz = torch.bmm(self._c, zc).view(batch, n, n)
        return torch.baddbmm(self._a, self.b + cz, zc).squeeze(-1)


def real_power(z: Tensor, exponent: Tensor, t=None) -> Tensor:
    """``prod_j z_j^exponent_ij`` for positive states, with a clear error otherwise.

    Args:
        z: states ``(B, n)``.
        exponent: exponents ``(B, n, n)``; row ``i`` holds the powers in product
            ``i``.
        t: the time, for the error message.

    Returns:
        ``(B, n)``: ``exp(sum_j exponent_ij log z_j)``.

    Raises:
        ValueError: if a state that enters a product with a non-zero exponent is
            not positive (its real power is NaN or infinite), naming the member,
            component, value and time.
    """
    used = (exponent != 0).any(dim=1)  # (B, n): component j enters some product
    bad = ((z <= 0) & used).nonzero()
    if bad.numel() > 0:
        index = bad[0]
        b, j = (int(k) for k in index)
        power = exponent[b, :, j][exponent[b, :, j] != 0][0]
        raise ValueError(
            f"S-system state {_where(index)} = {fmt(z[b, j])} at {_time(t)} is not "
            f"positive, so its real power z^{fmt(power)} is undefined (NaN) or "
            "infinite. S-systems are defined only for positive states: start from "
            "z0 > 0, take smaller steps if a step overshot below zero, or solve in "
            "log space (SSystem.log_field), which keeps every state positive"
        )
    # z_j = 0 with exponent 0 contributes z^0 = 1: mask the log to avoid 0 * -inf.
    log_z = torch.where(used, torch.log(torch.where(used, z, 1.0)), 0.0)
    return torch.exp(torch.einsum("bij,bj->bi", exponent, log_z))


class SSystem:
    """S-system ``dz_i/dt = alpha_i prod_j z_j^G_ij - beta_i prod_j z_j^H_ij``.

    Args:
        alpha, beta: rate constants ``(B, n)``, non-negative (the S-system form has
            them positive; zero is allowed for a one-term system such as
            ``dz/dt = -z^0.5``).
        g, h: kinetic orders ``(B, n, n)``, any real numbers.

    ``f(t, z)`` works on positive states ``z`` and raises a ``ValueError`` naming
    the member, component, value and time when a state used by a power is not
    positive. ``log_field(t, w)`` is the same system for ``w = log z``,

        dw_i/dt = alpha_i exp(sum_j G_ij w_j - w_i) - beta_i exp(sum_j H_ij w_j - w_i),

    in which ``z = exp(w)`` is positive by construction: the finite treatment the
    approximator uses. It can still overflow when the powers are large; the
    solver then reports a non-finite state.
    """

    family = "s_system"

    def __init__(self, alpha, beta, g, h):
        self.alpha = _batched("alpha", alpha, 2)
        self.beta = _batched("beta", beta, 2).to(self.alpha)
        self.g = _batched("g", g, 3).to(self.alpha)
        self.h = _batched("h", h, 3).to(self.alpha)
        batch, n = self.alpha.shape
        for name, value, shape in (
            ("beta", self.beta, (batch, n)),
            ("g", self.g, (batch, n, n)),
            ("h", self.h, (batch, n, n)),
        ):
            if value.shape != shape:
                raise ValueError(
                    f"{name} must have shape {shape} to match alpha "
                    f"{tuple(self.alpha.shape)}, got {tuple(value.shape)}"
                )
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if bool((value < 0).any()):
                index = tuple(int(k) for k in (value < 0).nonzero()[0])
                raise ValueError(
                    f"{name}{list(index)} = {fmt(value[index])}: S-system rate "
                    "constants must be non-negative (the sign of each term is "
                    "fixed by the form)"
                )
        self.n = n

    def __call__(self, t, z: Tensor) -> Tensor:
        production = self.alpha * real_power(z, self.g, t)
        degradation = self.beta * real_power(z, self.h, t)
        return production - degradation

    def log_field(self, t, w: Tensor) -> Tensor:
        """The field for ``w = log z``: ``dw_i/dt = (dz_i/dt) / z_i``."""
        return _s_system_log(
            torch.log(self.alpha), torch.log(self.beta), self.g, self.h, w
        )


class _SSystemLog:
    """``dw_i/dt = exp(log alpha_i + (G - I) w) - exp(log beta_i + (H - I) w)``."""

    def __init__(self, log_alpha, log_beta, g, h):
        n = log_alpha.shape[1]
        eye = torch.eye(n, dtype=g.dtype, device=g.device)
        # Both terms in one product: (B, 2n, 1) + (B, 2n, n) @ (B, n, 1).
        self._logs = torch.cat([log_alpha, log_beta], dim=1).unsqueeze(-1)
        self._powers = torch.cat([g - eye, h - eye], dim=1)
        self.n = n

    def __call__(self, t, w: Tensor) -> Tensor:
        terms = torch.exp(torch.baddbmm(self._logs, self._powers, w.unsqueeze(-1)))
        return (terms[:, : self.n] - terms[:, self.n :]).squeeze(-1)


def _s_system_log(log_alpha, log_beta, g, h, w):
    return _SSystemLog(log_alpha, log_beta, g, h)(None, w)


def flow(x: Tensor, zx: Tensor, t) -> Tensor:
    """The lecture's flow ``phi(x, t) = (1 - t) x + t z(x)``.

    It solves ``dy/dt = -x + z(x)``, ``y(0) = x`` (``x`` a parameter, ``t`` the
    time), so ``phi(x, 1) = z(x)``: the value of the system's solution at ``x``
    is the time-one map of a trivial flow.
    """
    return (1 - t) * x + t * zx


# ---------------------------------------------------------------------------
# Batched fixed-step solves with per-member failure reports


@dataclass
class BatchSolution:
    """What ``solve_batch`` returns.

    Attributes:
        ys: states at the output times, ``(T, B, n)``; rows of failed members hold
            whatever the solver produced (possibly NaN) and must not be used.
        ok: ``(B,)`` bool, False for a member whose state became non-finite.
        reasons: one string per member, empty when ``ok``.
        nfe: evaluations of the field (each covers the whole batch).
    """

    ys: Tensor
    ok: Tensor
    reasons: list[str]
    nfe: int


def _rk4_grid(f, y0: Tensor, ts: Tensor, substeps: int, with_f: bool = False):
    """RK4 with ``substeps`` equal steps per output interval; no checks, (T, B, n).

    The step sizes are Python floats and the stages are fused (``torch.add`` with
    ``alpha``): for these small systems the cost of a solve is the number of tensor
    operations, not their size. ``with_f=True`` also returns ``f`` at every output
    time (the first stage of each step, plus one evaluation at the end), for
    interpolation.
    """
    times = ts.tolist()
    ys, fs = [y0], []
    y = y0
    for i in range(len(times) - 1):
        h = (times[i + 1] - times[i]) / substeps
        for j in range(substeps):
            t = times[i] + j * h
            k1 = f(t, y)
            if j == 0:
                fs.append(k1)
            k2 = f(t + h / 2, torch.add(y, k1, alpha=h / 2))
            k3 = f(t + h / 2, torch.add(y, k2, alpha=h / 2))
            k4 = f(t + h, torch.add(y, k3, alpha=h))
            y = torch.add(y, torch.add(k1 + k4, k2 + k3, alpha=2.0), alpha=h / 6)
        ys.append(y)
    nfe = 4 * substeps * (len(times) - 1)
    if not with_f:
        return torch.stack(ys), nfe
    fs.append(f(times[-1], y))
    return torch.stack(ys), torch.stack(fs), nfe + 1


def _hermite_fill(ys: Tensor, fs: Tensor, h: float, stride: int) -> Tensor:
    """Cubic Hermite values at ``stride - 1`` equally spaced points inside each step.

    From the nodes ``ys`` ``(M + 1, B, n)`` and the slopes ``fs`` there, returns
    ``(M * stride + 1, B, n)``: the nodes with the interpolated points between. The
    interpolant's error is O(h^4), the order of RK4 itself.
    """
    if stride == 1:
        return ys
    y0, y1, f0, f1 = ys[:-1], ys[1:], fs[:-1], fs[1:]
    pieces = [y0]
    for j in range(1, stride):
        s = j / stride
        pieces.append(
            (2 * s**3 - 3 * s**2 + 1) * y0
            + (s**3 - 2 * s**2 + s) * h * f0
            + (3 * s**2 - 2 * s**3) * y1
            + (s**3 - s**2) * h * f1
        )
    inner = torch.stack(pieces, dim=1).flatten(0, 1)  # (M * stride, B, n)
    return torch.cat([inner, ys[-1:]])


def _grid_plan(xs: Tensor, dt: float) -> tuple[int, int]:
    """``(stride, substeps)``: RK4 steps of ``dt`` on the uniform sample grid ``xs``.

    ``dt`` must be a whole number of sample intervals (``stride``, the samples in
    between are interpolated) or a whole fraction of one (``substeps``).
    """
    if bool(xs[1] < xs[0]):
        raise ValueError(
            f"xs must increase: the systems start from z0 at xs[0] and step forward, "
            f"but xs[0] = {fmt(xs[0])} > xs[1] = {fmt(xs[1])}; pass the grid in "
            "increasing order (xs.flip(0), and the targets to match: g.flip(1))"
        )
    spacing = (xs[1] - xs[0]).item()
    widths = xs[1:] - xs[:-1]
    if not torch.allclose(widths, widths[0], rtol=1e-5, atol=0):
        raise ValueError("xs must be a uniform grid (torch.linspace) for fit_sode")
    dt = positive_float("dt", dt, " (the RK4 step)")
    ratio = dt / spacing
    if ratio >= 1:
        stride = round(ratio)
        intervals = xs.numel() - 1
        if abs(ratio - stride) > 1e-6 or intervals % stride:
            raise ValueError(
                f"dt = {dt} must be a whole number of sample intervals ({spacing:.6g}) "
                f"that divides the {intervals} intervals of xs; e.g. dt = "
                f"{spacing:.6g} or {2 * spacing:.6g}"
            )
        return stride, 1
    substeps = round(1 / ratio)
    if abs(1 / ratio - substeps) > 1e-6:
        raise ValueError(
            f"dt = {dt} must divide the sample spacing {spacing:.6g} a whole number "
            "of times"
        )
    return 1, substeps


def _solve_samples(f, y0: Tensor, xs: Tensor, stride: int, substeps: int):
    """States at every sample of ``xs``, ``(N, B, n)``, and the NFE of the solve."""
    if stride == 1:
        return _rk4_grid(f, y0, xs, substeps)
    nodes = xs[::stride]
    ys, fs, nfe = _rk4_grid(f, y0, nodes, substeps, with_f=True)
    h = (nodes[1] - nodes[0]).item()
    return _hermite_fill(ys, fs, h, stride), nfe


def _first_bad(ys: Tensor, ts: Tensor, what: str) -> tuple[Tensor, list[str]]:
    """Members whose state is non-finite at some output time, and why."""
    finite = torch.isfinite(ys).all(dim=-1)  # (T, B)
    ok = finite.all(dim=0)
    reasons = [""] * ys.shape[1]
    for b in (~ok).nonzero().flatten().tolist():
        k = int((~finite[:, b]).nonzero()[0])
        reasons[b] = (
            f"{what}: the state became non-finite between t = {ts[k - 1].item():.4g} "
            f"and {ts[k].item():.4g} (finite-time blow-up, overflow, or a step too "
            "large for a stiff system)"
        )
    return ok, reasons


def solve_batch(
    f,
    z0: Tensor,
    ts: Tensor,
    *,
    substeps: int | None = None,
    max_steps: int = MAX_STEPS,
) -> BatchSolution:
    """Solve a batch of independent systems with fixed-step RK4.

    Args:
        f: a field ``f(t, z)`` on ``(B, n)`` states (``LotkaVolterra``, ``Riccati``,
            ``SSystem``, its ``log_field``, ...).
        z0: initial states ``(B, n)``.
        ts: output times ``(T,)``, strictly monotone.
        substeps: RK4 steps per output interval; required (a single step per
            interval is rarely accurate, so there is no default).
        max_steps: refuse more RK4 steps than this in all, as ``nodecourse.rk4``
            does (a step in Python costs microseconds).

    A member whose state becomes non-finite is marked failed (``ok[b]`` False,
    with a reason) rather than stopping the batch: the members are independent,
    so NaN in one row never reaches another. A field's ``check_initial`` (a
    ``LotkaVolterra`` field refuses negative populations) runs first, and the
    field's first output is checked against the shape of ``z0``.
    """
    check_y0(z0, "z0")
    check_ts(ts)
    if substeps is None:
        raise TypeError(
            "solve_batch needs the number of RK4 steps per output interval, e.g. "
            "substeps=10; one step per interval is accurate only on a fine grid"
        )
    substeps = positive_int("substeps", substeps, " (RK4 steps per output interval)")
    intervals = ts.numel() - 1
    _check_step_budget(
        substeps * intervals,
        max_steps,
        f"substeps={substeps} over {intervals} output intervals",
        ts,
        "use fewer substeps or output times",
    )
    check_initial_state(f, z0)
    ts = ts.to(z0)
    ys, nfe = _rk4_grid(_shape_checked(f, z0), z0, ts, substeps)
    ok, reasons = _first_bad(ys, ts, "solve")
    return BatchSolution(ys, ok, reasons, nfe)


# ---------------------------------------------------------------------------
# The approximator: trainable theta and z0, per member of a batch


def init_params(family: str, n, seeds, *, dtype=torch.float32, device=None):
    """Initial ``theta`` and initial state for a batch, one member per seed.

    Follows the original experiment: every entry of ``theta`` ~ U(-0.05, 0.05);
    ``z0`` ~ U(0, 0.1) (Lotka-Volterra, Riccati) or 1 + U(0, 0.1) (S-system). The
    positive parameters are stored as logarithms: the Lotka-Volterra initial
    populations (``u0 = log z0``, z0 ~ U(0.001, 0.1)), and the S-system's
    ``log alpha``, ``log beta`` (alpha, beta ~ U(0.01, 0.05)) and state
    (``w0 = log z0``). Each member draws from its own generator seeded by
    ``(seed, family, n)``, so its start does not depend on the rest of the batch.

    Args:
        n: the number of equations, an int for all members or one per member;
            members with fewer than ``max(n)`` equations are padded with zeros
            (``padding_mask`` says which entries are real).

    Returns:
        A dict of tensors with a leading batch dimension ``B = len(seeds)``.
    """
    family = _family(family)
    seeds = _seeds(seeds, " (one per member)")
    ns = _sizes(n, len(seeds))
    n_max = max(ns)
    rows = []
    for seed, n_b in zip(seeds, ns, strict=True):
        gen = torch.Generator().manual_seed(
            seed * 1000 + 100 * FAMILIES.index(family) + n_b
        )

        def uniform(*shape, lo=-0.05, hi=0.05, gen=gen):
            return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=dtype)

        if family == "lotka_volterra":
            row = {
                "lam": uniform(n_b),
                "A": uniform(n_b, n_b),
                "u0": torch.log(uniform(n_b, lo=1e-3, hi=0.1)),
            }
        elif family == "riccati":
            row = {
                "a": uniform(n_b),
                "b": uniform(n_b, n_b),
                "c": uniform(n_b, n_b, n_b),
                "z0": uniform(n_b, lo=0.0, hi=0.1),
            }
        else:
            row = {
                "log_alpha": torch.log(uniform(n_b, lo=0.01, hi=0.05)),
                "log_beta": torch.log(uniform(n_b, lo=0.01, hi=0.05)),
                "g": uniform(n_b, n_b),
                "h": uniform(n_b, n_b),
                "w0": torch.log(uniform(n_b, lo=1.0, hi=1.1)),
            }
        for key, value in row.items():
            padded = torch.zeros((n_max,) * value.ndim, dtype=dtype)
            padded[(slice(0, n_b),) * value.ndim] = value
            row[key] = padded
        rows.append(row)
    return {k: torch.stack([r[k] for r in rows]).to(device) for k in rows[0]}


def _sizes(n, batch: int) -> list[int]:
    if isinstance(n, int):
        return [positive_int("n", n, " (number of equations)")] * batch
    ns = [positive_int("n", k, " (number of equations)") for k in n]
    if len(ns) != batch:
        raise ValueError(
            f"n must be an int or one int per member: {len(ns)} for {batch} members"
        )
    return ns


def padding_mask(n, batch: int, *, dtype=torch.float32, device=None) -> Tensor:
    """``(B, max n)``: 1 for the components a member has, 0 for its padding."""
    ns = _sizes(n, batch)
    index = torch.arange(max(ns), device=device)
    return (index[None, :] < torch.tensor(ns, device=device)[:, None]).to(dtype)


def _masked(family: str, p: dict, mask: Tensor | None) -> dict:
    """Parameters with every padded entry set to zero.

    Padded components then stay zero (Lotka-Volterra, Riccati) or constant
    (S-system: ``w_i`` with equal terms cancels) and never touch the real ones;
    their gradients are zero, so Adam leaves them at zero.
    """
    if mask is None:
        return p
    m1, m2 = mask, mask[:, :, None] * mask[:, None, :]
    out = {}
    for key, value in p.items():
        if value.ndim == 2:
            out[key] = value * m1
        elif value.ndim == 3:
            out[key] = value * m2
        else:
            out[key] = value * (m2[:, :, :, None] * mask[:, None, None, :])
    if family == "lotka_volterra":
        out["u0"] = p["u0"]  # z0 = exp(u0) * mask below
    return out


def _field_and_state(family: str, p: dict, mask: Tensor | None = None):
    """The training field, its initial state, and the map state -> z_1."""
    p = _masked(family, p, mask)
    if family == "lotka_volterra":
        z0 = torch.exp(p["u0"])
        if mask is not None:
            z0 = z0 * mask
        return LotkaVolterra(p["lam"], p["A"]), z0, lambda y: y[..., 0]
    if family == "riccati":
        return Riccati(p["a"], p["b"], p["c"]), p["z0"], lambda y: y[..., 0]
    f = _SSystemLog(p["log_alpha"], p["log_beta"], p["g"], p["h"])
    return f, p["w0"], lambda w: torch.exp(w[..., 0])


def predict(family: str, params: dict, xs: Tensor, *, n=None, dt=None) -> Tensor:
    """``z_1(xs)`` for every member: shape ``(B, len(xs))``; NaN rows for failures.

    Args:
        params: from ``init_params`` or ``BatchFit.params``.
        n: the members' sizes when they are padded (``None``: none are).
        dt: the RK4 step (default: the sample spacing).
    """
    ys, out = _solve_params(family, params, xs, n=n, dt=dt)
    return out(ys).T


def predict_adaptive(
    family: str,
    params: dict,
    xs: Tensor,
    *,
    method: str = "dopri5",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    all_states: bool = False,
) -> tuple[Tensor, int]:
    """``z_1(xs)`` solved by torchdiffeq's adaptive ``method``, and the NFE.

    ``predict`` uses the fixed RK4 step of training, which steps over whatever
    happens between its nodes; an adaptive solver shrinks its step until its error
    estimate meets ``rtol`` and ``atol``, so it shows where a fitted system is stiff
    or singular. The members of a batch share one step size, so the stiffest member
    sets it for all: pass one member (``B = 1``) to see its own steps.

    Returns ``(B, len(xs))`` values of ``z_1``, or with ``all_states`` every
    component, ``(B, len(xs), n)``, in the family's own variables (``z = exp(w)``
    for the S-system); and the number of field evaluations.

    Raises:
        nodecourse.solvers.StepSizeCollapse: (a ``FloatingPointError``) the step
            size shrank to zero, at a state that reaches a finite-time singularity
            or in a stiff stretch; its message and its ``t`` say where.
    """
    import torchdiffeq

    family = _family(family)
    _check_params(family, params)
    if isinstance(method, str) and method in FIXED_GRID_METHODS:
        raise ValueError(
            f"predict_adaptive solves with an adaptive method, and {method!r} takes "
            "fixed steps; for fixed RK4 steps use sode.predict(family, params, xs, "
            "dt=...), or pick an adaptive method such as 'dopri5'"
        )
    settings = solver_settings(method, rtol, atol, None)
    check_ts(xs, "xs")
    f, y0, out = _field_and_state(family, params)
    counted = CountNFE(f)  # counts evaluations and keeps the last time asked
    xs = xs.to(y0)
    with torch.no_grad(), explained_underflow(method, xs, lambda: counted.last_t):
        ys = torchdiffeq.odeint(counted, y0, xs, **settings)
    if not all_states:
        return out(ys).T, counted.nfe
    zs = torch.exp(ys) if family == "s_system" else ys
    return zs.transpose(0, 1), counted.nfe


def _solve_params(family: str, params: dict, xs: Tensor, *, n=None, dt=None):
    """States ``(N, B, n)`` at ``xs`` of every member, and the map state -> z_1."""
    family = _family(family)
    _check_params(family, params)
    check_ts(xs, "xs")
    batch = next(iter(params.values())).shape[0]
    dtype = next(iter(params.values())).dtype
    mask = None if n is None else padding_mask(n, batch, dtype=dtype)
    stride, substeps = _grid_plan(xs, dt or (xs[1] - xs[0]).item())
    f, y0, out = _field_and_state(family, params, mask)
    ys, _ = _solve_samples(f, y0, xs.to(y0), stride, substeps)
    return ys, out


# A solved state larger than STATE_BOUND * max(1, max|g|) counts as a blow-up.
STATE_BOUND = 1e6


def _state_bound(g: Tensor) -> Tensor:
    """``(B,)``: the largest admissible ``|z|`` per member, 1e6 max(1, max|g_b|)."""
    return STATE_BOUND * g.abs().amax(dim=1).clamp(min=1.0)


def _beyond(family: str, ys: Tensor, bound: Tensor) -> Tensor:
    """``(N, B)``: the solved state at a sample exceeds the member's bound.

    The state is measured in the family's own variables: ``z`` for Lotka-Volterra
    and Riccati, ``z = exp(w)`` for the S-system solved in log space (compared as
    ``w > log bound``, which cannot overflow). Non-finite entries count as beyond.
    """
    if family == "s_system":
        size = ys.detach().amax(dim=-1)
        limit = torch.log(bound).to(ys)
    else:
        size = ys.detach().abs().amax(dim=-1)
        limit = bound.to(ys)
    return ~(size <= limit[None, :])  # NaN compares False, so it is beyond


def _where_beyond(family, ys_b: Tensor, bound: float, xs: Tensor) -> str:
    """Why one member's states ``(N, n)`` are rejected, and between which samples."""
    bad = _beyond(family, ys_b[:, None], torch.tensor([bound]))[:, 0]
    k = int(bad.nonzero()[0])
    between = (
        f"at x = {xs[0].item():.3g}"
        if k == 0
        else f"between x = {xs[k - 1].item():.3g} and {xs[k].item():.3g}"
    )
    if bool(torch.isfinite(ys_b[k]).all()):
        return f"state exceeded the bound |z| <= {bound:.3g} {between}"
    return f"non-finite state {between}"


def mse_criterion(pred: Tensor, g: Tensor) -> Tensor:
    """The original code's stopping rule, per member: ``MSE < 0.01 * max(g)``.

    Weaker than ``eps_r < 0.01`` (for sin 3x it allows an RMS error of 0.1), and
    never met by a target whose maximum is not positive.
    """
    return ((pred - g) ** 2).mean(dim=-1) < 0.01 * g.max(dim=-1).values


@dataclass
class BatchFit:
    """Per-member results of ``fit_sode``; every list and tensor has length ``B``.

    Attributes:
        reached: ``eps_r < tol`` was reached (and the member frozen there).
        iterations: optimizer steps taken before reaching (or before stopping).
        seconds: the member's share of the batch's compute time: each iteration's
            wall time divided by the number of members it advanced, summed while
            the member was active.
        wall_s: wall time since the batch started when the member stopped.
        eps_r: final relative error on the sample grid (NaN if failed).
        eps_r_check: the same parameters re-solved with 4 times as many RK4 steps,
            to show that the fit is the ODE's and not an artefact of the step; NaN
            when that re-solve leaves the state bound or becomes non-finite, and
            ``check_failure`` then says where.
        mse_iterations: first iteration meeting the original ``MSE < 0.01 max g``
            (-1 if never).
        blowups: steps undone (and learning rate halved) after a blow-up.
        nfe: field evaluations in the forward solves of this member.
        failure: empty, or why the member failed.
        check_failure: empty, or why ``eps_r_check`` is NaN.
        params: final parameters (dict of ``(B, ...)`` tensors); ``pred``: ``z_1(xs)``.
    """

    reached: list[bool]
    iterations: list[int]
    seconds: list[float]
    wall_s: list[float]
    eps_r: list[float]
    eps_r_check: list[float]
    mse_iterations: list[int]
    blowups: list[int]
    nfe: list[int]
    failure: list[str]
    check_failure: list[str]
    params: dict = field(repr=False)
    pred: Tensor = field(repr=False)


def fit_sode(
    family: str,
    n,
    g: Tensor,
    xs: Tensor,
    *,
    seeds,
    tol: float = 0.01,
    lr: float = 0.01,
    lr_end: float | None = None,
    max_iters: int = 2000,
    max_retries: int = 20,
    clip: float | None = 1.0,
    dt: float | None = None,
    progress: bool | None = None,
    desc: str | None = None,
) -> BatchFit:
    """Fit ``z_1(xs) ~ g`` for a batch of independent systems of one family.

    Each member ``b`` minimises its own mean squared error
    ``mean_k (z_1(x_k) - g[b, k])^2`` with Adam (one full-batch step per
    iteration; the original used Adam(0.01)), and stops, its parameters frozen, at
    the first iteration where ``eps_r(z_1(xs), g[b]) < tol``. The gradient is
    backpropagation through fixed-step RK4 (step ``dt``). Only the active members
    are solved, so the batch shrinks as members finish.

    Args:
        family: one of ``FAMILIES``.
        n: number of equations, an int, or one per member (sizes may be mixed:
            smaller members are padded with zeros that never interact).
        g: targets ``(B, N)``; a row that is zero everywhere is refused, since its
            relative error is undefined.
        xs: uniform sample grid ``(N,)`` starting where ``z0`` is given.
        seeds: ``B`` ints; member ``b`` starts from ``init_params(seeds[b])``.
        tol: the tolerance on ``eps_r``.
        lr: Adam's learning rate; with ``lr_end``, it decays geometrically from
            ``lr`` to ``lr_end`` over ``max_iters`` iterations.
        max_iters: stop there; members still active have ``reached`` False.
        max_retries: blow-ups undone per member before it is marked failed.
        clip: the largest norm of a member's gradient (over all its parameters);
            larger ones are scaled down to it. ``None``: no clipping.
        dt: the RK4 step: a whole number of sample intervals (the samples in
            between come from cubic Hermite interpolation, O(dt^4) like RK4) or a
            whole fraction of one. Default: the sample spacing.
        progress: show a tqdm bar of iterations. ``None`` (default) decides as
            ``nodecourse.fit`` does: a bar in a terminal or a notebook, none when
            ``NODECOURSE_PROGRESS=0`` (the book build and the tests).
        desc: the bar's label (default: the family).

    Blow-ups. A member's solve counts as a blow-up when its state at some sample
    leaves the bound ``|z| <= STATE_BOUND * max(1, max_k |g[b, k]|)`` (1e6 times
    the target's scale; for the S-system ``z = exp(w)``) or becomes non-finite, or
    when its gradient is non-finite. The bound is far above anything a fit needs:
    ``z_1`` must stay near ``g``, and a hidden component a million times larger
    than the target could only enter ``z_1`` through a coefficient below 1e-6.
    And a state that large is no longer resolved by the fixed step: a quadratic
    field ``c z^2`` at ``|z| = 1e6`` (``c`` ~ 0.01) blows up within ``1 / (c z)``
    ~ 1e-4, a thousandth of the RK4 step ``dt`` = 0.1. Without the bound, a
    diverging step is seen only when it overflows, several steps later, and
    undoing one step then lands on parameters that have already diverged. After
    a blow-up the member's last step is undone and its learning rate halved
    (counted in ``blowups``); at iteration 0, or after ``max_retries`` such
    retries, it is marked failed with the reason (which bound was left, where,
    and at which iteration), its ``eps_r`` is NaN, and the others go on.

    Warning: a fixed step can make a stiff or unstable member look fine, or fail,
    where the exact ODE would not; ``eps_r_check`` re-solves every member with a
    quarter of the step to expose that.
    """
    family = _family(family)
    check_ts(xs, "xs")
    if not isinstance(g, Tensor) or g.ndim != 2 or g.shape[1] != xs.numel():
        shape = tuple(g.shape) if isinstance(g, Tensor) else type(g).__name__
        raise ValueError(
            f"g must be a tensor of shape (B, N) = (B, {xs.numel()}) with one target "
            f"per row sampled at xs, got {shape}"
        )
    if not g.is_floating_point():
        raise TypeError(
            f"g must have a floating dtype, got {g.dtype}; use g.float() (or "
            "g.double())"
        )
    seeds = _seeds(seeds, " (one per row of g)")
    batch = g.shape[0]
    if len(seeds) != batch:
        raise ValueError(
            f"need one seed per target row: {len(seeds)} seeds for {batch} rows"
        )
    ns = _sizes(n, batch)
    finite = torch.isfinite(g)
    if not bool(finite.all()):
        row, k = (int(i) for i in (~finite).nonzero()[0])
        raise ValueError(
            f"target row {row} is not finite at xs[{k}] = {fmt(xs[k])}: g[{row}, {k}] "
            f"= {fmt(g[row, k])}; every target value must be a finite number (drop "
            "that sample, or fill it in)"
        )
    zero = (g == 0).all(dim=1)
    if bool(zero.any()):
        raise ValueError(
            f"target row {int(zero.nonzero()[0])} is zero everywhere, so its relative "
            "error eps_r is undefined (and the original rule MSE < 0.01 max g can "
            "never hold); fit it with an absolute tolerance instead, or shift it"
        )
    tol = positive_float("tol", tol)
    lr = positive_float("lr", lr)
    max_retries = positive_int("max_retries", max_retries + 1) - 1
    decay = 1.0
    max_iters = positive_int("max_iters", max_iters)
    if lr_end is not None:
        decay = (positive_float("lr_end", lr_end) / lr) ** (1 / max_iters)
    xs = xs.to(g)
    dt = (xs[1] - xs[0]).item() if dt is None else dt
    stride, substeps = _grid_plan(xs, dt)
    dtype, device = g.dtype, g.device
    bound = _state_bound(g)  # (B,)

    params = init_params(family, ns, seeds, dtype=dtype, device=device)
    mask = padding_mask(ns, batch, dtype=dtype, device=device)
    padded = len(set(ns)) > 1
    m = {k: torch.zeros_like(v) for k, v in params.items()}
    v2 = {k: torch.zeros_like(v) for k, v in params.items()}
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8

    active = torch.ones(batch, dtype=torch.bool)
    iterations = [0] * batch
    seconds = [0.0] * batch
    wall = [0.0] * batch
    errors = [math.nan] * batch
    mse_iters = [-1] * batch
    reached = [False] * batch
    failure = [""] * batch
    blowups = [0] * batch
    lr_scale = torch.ones(batch, dtype=dtype, device=device)
    prev = {k: v.clone() for k, v in params.items()}
    nfe_per_solve = 0

    bar = None
    if _progress_wanted(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iters, desc=desc or f"{family}", leave=False)

    start = time.perf_counter()
    for it in range(max_iters + 1):
        idx = active.nonzero().flatten()
        if idx.numel() == 0:
            break
        tick = time.perf_counter()
        # Forward: solve the active members only; their parameters are the leaves.
        sub = {k: v[idx].requires_grad_() for k, v in params.items()}
        f, y0, out = _field_and_state(family, sub, mask[idx] if padded else None)
        ys, nfe_per_solve = _solve_samples(f, y0, xs, stride, substeps)
        pred = out(ys).T  # (b, N)
        target_rows = g[idx]
        mse = ((pred - target_rows) ** 2).mean(dim=1)

        # The stopping test, eps_r per member, for states inside their bound.
        finite = ~_beyond(family, ys, bound[idx]).any(dim=0)
        err = torch.full((idx.numel(),), math.inf, dtype=torch.float64)
        if bool(finite.any()):
            err[finite] = eps_r(pred[finite], target_rows[finite], dim=1)
        weak = mse_criterion(pred.detach(), target_rows)
        done = err < tol
        if it == max_iters:
            done[:] = True
        bad = ~finite & ~done

        # Backward for the members still training: the sum of their own losses.
        train = ~done & ~bad
        grads = None
        if bool(train.any()):
            grads = torch.autograd.grad(mse[train].sum(), list(sub.values()))
            grads = dict(zip(sub.keys(), grads, strict=True))
            grad_ok = torch.ones(idx.numel(), dtype=torch.bool)
            for value in grads.values():
                grad_ok &= torch.isfinite(value.reshape(idx.numel(), -1)).all(dim=1)
            bad |= train & ~grad_ok
            train &= grad_ok
            if clip is not None:
                # Clip each member's gradient norm: one spike near a blow-up would
                # otherwise inflate Adam's second moment and stall it for
                # hundreds of iterations.
                sq = sum(
                    torch.nan_to_num(v).reshape(idx.numel(), -1).pow(2).sum(1)
                    for v in grads.values()
                )
                factor = (clip / (sq.sqrt() + 1e-12)).clamp(max=1.0)
                grads = {
                    k: v * factor.reshape(-1, *([1] * (v.ndim - 1)))
                    for k, v in grads.items()
                }

        # A blow-up (a state beyond its bound or non-finite, or a non-finite
        # gradient) after a step: undo that step and halve the member's learning
        # rate; at the start, or too often, it fails.
        can_retry = torch.tensor(
            [it > 0 and blowups[b] < max_retries for b in idx.tolist()],
            dtype=torch.bool,
        )
        retry = bad & can_retry
        done |= bad & ~can_retry
        if bool(retry.any()):
            rows = idx[retry]
            with torch.no_grad():
                for k, p in params.items():
                    p[rows] = prev[k][rows]
            lr_scale[rows] *= 0.5
            for b in rows.tolist():
                blowups[b] += 1

        # Adam on the rows still training (bias correction: each has taken it + 1
        # steps, since every member trains from iteration 0 until it stops).
        if grads is not None and bool(train.any()):
            rows = idx[train]
            rate = lr * decay**it * lr_scale[rows]
            with torch.no_grad():
                for k, p in params.items():
                    grad = grads[k][train]
                    prev[k][rows] = p[rows]
                    m[k][rows] = beta1 * m[k][rows] + (1 - beta1) * grad
                    v2[k][rows] = beta2 * v2[k][rows] + (1 - beta2) * grad**2
                    m_hat = m[k][rows] / (1 - beta1 ** (it + 1))
                    v_hat = v2[k][rows] / (1 - beta2 ** (it + 1))
                    step = m_hat / (v_hat.sqrt() + adam_eps)
                    scale = rate.reshape(-1, *([1] * (step.ndim - 1)))
                    p[rows] = p[rows] - scale * step

        # Book-keeping per member.
        share = (time.perf_counter() - tick) / idx.numel()
        for local, b in enumerate(idx.tolist()):
            seconds[b] += share
            if weak[local] and mse_iters[b] < 0:
                mse_iters[b] = it
            if not done[local]:
                continue
            active[b] = False
            iterations[b] = it
            wall[b] = time.perf_counter() - start
            errors[b] = float(err[local]) if finite[local] else math.nan
            reached[b] = bool(err[local] < tol)
            retried = f" after {blowups[b]} blow-ups undone" if blowups[b] else ""
            if not finite[local]:
                where = _where_beyond(family, ys[:, local], float(bound[b]), xs)
                failure[b] = (
                    f"{where} at iteration {it}{retried} (finite-time blow-up or "
                    "divergence of the fitted system)"
                )
            elif bad[local]:
                failure[b] = f"non-finite gradient at iteration {it}{retried}"
            elif not reached[b]:
                failure[b] = f"eps_r = {errors[b]:.3g} after {it} iterations"
                if errors[b] > 100:
                    failure[b] += " (the fitted solution grows without bound)"
        if bar is not None:
            bar.update(1)
            bar.set_postfix(active=int(active.sum()))
    if bar is not None:
        bar.close()

    # Final predictions, and the step check with a quarter of the step.
    with torch.no_grad():
        pred = predict(family, params, xs, n=ns, dt=dt)
        ys_fine, out = _solve_params(family, params, xs, n=ns, dt=dt / 4)
    fine = out(ys_fine).T
    inside = ~_beyond(family, ys_fine, bound).any(dim=0)
    check = [math.nan] * batch
    check_failure = [""] * batch
    for b in range(batch):
        if inside[b]:
            check[b] = float(eps_r(fine[b], g[b]))
        else:
            where = _where_beyond(family, ys_fine[:, b], float(bound[b]), xs)
            check_failure[b] = f"re-solved with dt/4 = {dt / 4:.3g}: {where}"
            if math.isnan(errors[b]):
                check_failure[b] += ", as with dt: the fit stopped at a blow-up"
            else:
                check_failure[b] += (
                    f", although with dt = {dt:.3g} it stayed inside: the fixed step "
                    "hides a blow-up or a stiff transient of the fitted ODE"
                )
    return BatchFit(
        reached=reached,
        iterations=iterations,
        seconds=seconds,
        wall_s=wall,
        eps_r=errors,
        eps_r_check=check,
        mse_iterations=mse_iters,
        blowups=blowups,
        nfe=[(it_b + 1) * nfe_per_solve for it_b in iterations],
        failure=failure,
        check_failure=check_failure,
        params=params,
        pred=pred,
    )
