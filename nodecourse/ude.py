"""Universal differential equations: an SIR epidemic with a learned quarantine term.

A universal differential equation keeps the parts of a mechanistic model that are
trusted and replaces the part that is not known by a neural network. Here the
mechanistic model is the SIR epidemic with a quarantined compartment ``T``:

    dS/dt = -beta S I / N
    dI/dt =  beta S I / N - gamma I - Q I
    dR/dt =  gamma I + delta T
    dT/dt =  Q I - delta T

``S`` susceptible, ``I`` infectious and free to infect, ``R`` removed (recovered or
dead), ``T`` infected but quarantined; ``N`` the population. ``beta`` is the rate of
infectious contacts, ``gamma`` the rate at which free infectious people are removed,
``delta`` the rate at which quarantined people are. The quarantine strength ``Q`` is
the unknown: the rate at which free infectious people are put in quarantine. In
``QuarantineSIR`` it is a small network of the state, kept non-negative.

The module also holds the two models the course compares it with: the plain SIR
model (``SIR``, no quarantine) and a pure Neural ODE on the logarithms of the
observed counts (``LogCountsNODE``, no epidemiology at all).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nodecourse._checks import fmt, positive_float, positive_int
from nodecourse.solvers import rk4

__all__ = [
    "Forecaster",
    "LogCountsNODE",
    "QuarantineNet",
    "QuarantineSIR",
    "SIR",
    "log_mse",
    "quarantine_sir_field",
    "reproduction_number",
]


def _check_state(y, width: int, name: str = "y") -> None:
    if not isinstance(y, Tensor) or not y.is_floating_point():
        what = y.dtype if isinstance(y, Tensor) else type(y).__name__
        raise TypeError(f"{name} must be a floating torch.Tensor, got {what}")
    if y.ndim == 0 or y.shape[-1] != width:
        raise ValueError(
            f"{name} must have shape (..., {width}), got {tuple(y.shape)}; the last "
            f"axis holds the {width} compartments"
        )


def quarantine_sir_field(y: Tensor, q, beta, gamma, delta, population: float) -> Tensor:
    """The right-hand side of the SIR model with quarantine, for given rates.

        dS/dt = -beta S I / N,        dI/dt = beta S I / N - gamma I - q I,
        dR/dt = gamma I + delta T,    dT/dt = q I - delta T.

    The four right-hand sides add up to zero, so ``S + I + R + T`` (the population)
    is conserved exactly, whatever the rates.

    Args:
        y: the state ``(S, I, R, T)`` in people, shape ``(..., 4)``.
        q: the quarantine strength, a number or a tensor of shape ``y.shape[:-1]``
            (per day).
        beta, gamma, delta: the rates (per day), numbers or 0-d tensors.
        population: ``N``, the number of people.

    Returns:
        ``dy/dt``, shape ``(..., 4)``.
    """
    _check_state(y, 4)
    population = positive_float("population", population, " (the number of people N)")
    s, i, r, t = y.unbind(-1)
    infection = beta * s * i / population
    quarantine = q * i
    removal = gamma * i
    release = delta * t
    return torch.stack(
        [
            -infection,
            infection - removal - quarantine,
            removal + release,
            quarantine - release,
        ],
        dim=-1,
    )


def reproduction_number(susceptible, q, beta, gamma, population: float):
    """The effective reproduction number ``R_t = beta (S / N) / (gamma + Q)``.

    A free infectious person infects ``beta S / N`` people a day and stays free and
    infectious for ``1 / (gamma + Q)`` days on average (it leaves ``I`` at rate
    ``gamma`` by removal and at rate ``Q`` by quarantine), so ``R_t`` is the number
    of people it infects. Since ``dI/dt = (gamma + Q)(R_t - 1) I``, the number of
    free infectious people grows exactly when ``R_t > 1``. The quarantined leave at
    rate ``delta``, but they infect no one, so ``delta`` does not enter.

    Args:
        susceptible: ``S``, a number or a tensor of any shape.
        q: the quarantine strength ``Q``, broadcastable against ``susceptible``.
        beta, gamma: the rates (per day). population: ``N``.

    Returns:
        ``R_t``, of the broadcast shape of ``susceptible`` and ``q``.
    """
    population = positive_float("population", population, " (the number of people N)")
    return beta * (susceptible / population) / (gamma + q)


def _inverse_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


class QuarantineNet(nn.Module):
    """The quarantine strength as a network of the state, ``Q = softplus(MLP(u))``.

    The input is the normalised state ``u = (1 - S/N, I/N, R/N) / scale``: the
    fractions of the population infected so far, infectious, and removed, divided
    by their typical sizes so that each input is of order one. The softplus keeps
    ``Q`` positive for every input.

    Args:
        population: ``N``.
        hidden: the width of the hidden layer (one tanh layer).
        scale: three positive numbers, the typical sizes of the three fractions.
        q_init: the value of ``Q`` at the start of training, when the output
            layer's weights are zero (per day).

    Shapes: ``y`` is ``(..., 4)`` or ``(..., 3)`` (``T`` is not an input); the
    output ``Q`` is ``y.shape[:-1]``.
    """

    def __init__(
        self,
        population: float,
        *,
        hidden: int = 8,
        scale: Sequence[float] = (1.0, 1.0, 1.0),
        q_init: float = 0.05,
    ):
        super().__init__()
        self.population = positive_float("population", population)
        positive_int("hidden", hidden)
        scale = torch.as_tensor(scale, dtype=torch.get_default_dtype())
        if scale.shape != (3,) or not bool((scale > 0).all()):
            raise ValueError(
                f"scale must be three positive numbers (the typical sizes of 1 - S/N, "
                f"I/N and R/N), got {scale.tolist()}"
            )
        self.register_buffer("scale", scale)
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[2].weight)
        nn.init.constant_(
            self.net[2].bias,
            _inverse_softplus(positive_float("q_init", q_init, " (per day)")),
        )

    def inputs(self, y: Tensor) -> Tensor:
        """The normalised inputs ``u``, shape ``(..., 3)``."""
        if not isinstance(y, Tensor) or y.ndim == 0 or y.shape[-1] not in (3, 4):
            shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(
                f"QuarantineNet expects a state of shape (..., 4) (S, I, R, T) or "
                f"(..., 3) (S, I, R), got {shape}"
            )
        fractions = y[..., :3] / self.population  # (..., 3): S/N, I/N, R/N
        infected_so_far = 1 - fractions[..., :1]
        u = torch.cat([infected_so_far, fractions[..., 1:]], dim=-1)
        return u / self.scale.to(y)

    def forward(self, y: Tensor) -> Tensor:
        return F.softplus(self.net(self.inputs(y))).squeeze(-1)


class _Rates(nn.Module):
    """Rates kept positive: each is stored as its logarithm."""

    def __init__(self, **rates: float):
        super().__init__()
        for name, value in rates.items():
            value = positive_float(name, value, " (a rate per day)")
            self.register_parameter(
                f"log_{name}",
                nn.Parameter(torch.tensor(math.log(value))),
            )

    def rate(self, name: str) -> Tensor:
        return getattr(self, f"log_{name}").exp()


class QuarantineSIR(nn.Module):
    """The universal differential equation: SIR with a learned quarantine strength.

    ``f(t, y)`` is ``quarantine_sir_field`` with ``q = Q(S, I, R)`` from a
    ``QuarantineNet`` and trainable rates ``beta, gamma, delta``, each stored as its
    logarithm so that it stays positive. The model is autonomous: ``t`` is ignored,
    and ``Q`` changes in time only through the state.

    Args:
        population: ``N``.
        beta, gamma, delta: the initial rates (per day).
        hidden, scale, q_init: passed to ``QuarantineNet``.

    Shapes: ``y`` is ``(..., 4)``, the output ``(..., 4)``.

    Warning:
        Only what the data constrain is learned. From active cases ``I + T`` and
        removed ``R`` alone, a larger ``beta`` with a smaller free ``I`` fits about
        as well as the truth, and ``Q`` is pinned down mostly after it switches on.
    """

    def __init__(
        self,
        population: float,
        *,
        beta: float = 0.2,
        gamma: float = 0.05,
        delta: float = 0.05,
        hidden: int = 8,
        scale: Sequence[float] = (1.0, 1.0, 1.0),
        q_init: float = 0.05,
    ):
        super().__init__()
        self.population = positive_float("population", population)
        self.rates = _Rates(beta=beta, gamma=gamma, delta=delta)
        self.quarantine = QuarantineNet(
            population, hidden=hidden, scale=scale, q_init=q_init
        )

    @property
    def beta(self) -> Tensor:
        return self.rates.rate("beta")

    @property
    def gamma(self) -> Tensor:
        return self.rates.rate("gamma")

    @property
    def delta(self) -> Tensor:
        return self.rates.rate("delta")

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        _check_state(y, 4)
        return quarantine_sir_field(
            y, self.quarantine(y), self.beta, self.gamma, self.delta, self.population
        )

    def reproduction_number(self, y: Tensor) -> Tensor:
        """``R_t = beta (S/N) / (gamma + Q)`` along states ``y``, ``(..., 4)``."""
        _check_state(y, 4)
        return reproduction_number(
            y[..., 0], self.quarantine(y), self.beta, self.gamma, self.population
        )

    def initial_state(self, counts0: Tensor) -> Tensor:
        """``(S, I, R, T) = (N - A - R, A, R, 0)`` from counts ``(A, R)``, ``(2,)``."""
        active, removed = counts0.unbind(-1)
        zero = torch.zeros_like(active)
        return torch.stack(
            [self.population - active - removed, active, removed, zero], dim=-1
        )

    def observe(self, ys: Tensor) -> Tensor:
        """The observed counts ``(I + T, R)``, shape ``(..., 2)``, of states ``ys``."""
        return torch.stack([ys[..., 1] + ys[..., 3], ys[..., 2]], dim=-1)


class SIR(nn.Module):
    """The plain SIR model with trainable, positive ``beta`` and ``gamma``.

        dS/dt = -beta S I / N,   dI/dt = beta S I / N - gamma I,   dR/dt = gamma I.

    Args:
        population: ``N``. beta, gamma: the initial rates (per day).

    Shapes: ``y`` is ``(..., 3)`` (``S, I, R``), the output ``(..., 3)``.
    """

    def __init__(self, population: float, *, beta: float = 0.2, gamma: float = 0.05):
        super().__init__()
        self.population = positive_float("population", population)
        self.rates = _Rates(beta=beta, gamma=gamma)

    @property
    def beta(self) -> Tensor:
        return self.rates.rate("beta")

    @property
    def gamma(self) -> Tensor:
        return self.rates.rate("gamma")

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        _check_state(y, 3)
        s, i, _ = y.unbind(-1)
        infection = self.beta * s * i / self.population
        removal = self.gamma * i
        return torch.stack([-infection, infection - removal, removal], dim=-1)

    def initial_state(self, counts0: Tensor) -> Tensor:
        """``(S, I, R) = (N - A - R, A, R)`` from the counts ``(A, R)``, ``(2,)``."""
        active, removed = counts0.unbind(-1)
        return torch.stack([self.population - active - removed, active, removed], -1)

    def observe(self, ys: Tensor) -> Tensor:
        """The observed counts ``(I, R)``, ``(..., 2)``: all infected are active."""
        return ys[..., 1:]


class LogCountsNODE(nn.Module):
    """A pure Neural ODE on the logarithms of the observed counts.

    The state is ``z = (log A, log R)``, with ``A`` the active cases and ``R`` the
    removed, and ``dz/dt = MLP((z - center) / width)``: no compartments, no rates,
    nothing epidemiological. Working with logarithms is the kind choice for this
    baseline: exponential growth is a constant velocity in ``z``.

    Args:
        center, width: fixed shift and scale of the inputs (say the mean and the
            spread of the observed logarithms), numbers or two-entry sequences.
        hidden: the width of each of the two tanh hidden layers.

    Shapes: ``z`` is ``(..., 2)``, the output ``(..., 2)``.
    """

    def __init__(self, *, center=0.0, width=1.0, hidden: int = 32):
        super().__init__()
        positive_int("hidden", hidden)
        dtype = torch.get_default_dtype()
        center = torch.as_tensor(center, dtype=dtype).expand(2).clone()
        width = torch.as_tensor(width, dtype=dtype).expand(2).clone()
        if not bool((width > 0).all()):
            raise ValueError(f"width must be positive, got {width.tolist()}")
        self.register_buffer("center", center)
        self.register_buffer("width", width)
        self.net = nn.Sequential(
            nn.Linear(2, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 2),
        )

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        _check_state(z, 2, "z")
        return self.net((z - self.center.to(z)) / self.width.to(z))

    def initial_state(self, counts0: Tensor) -> Tensor:
        """``z0 = log(counts0)``, shape ``(2,)``."""
        return counts0.log()

    def observe(self, zs: Tensor) -> Tensor:
        """The counts ``exp(z)``, shape ``(..., 2)``."""
        return zs.exp()


class Forecaster(nn.Module):
    """One of the three models with its initial counts, predicting the counts.

    ``forward(ts)`` solves the model's ODE with the course's RK4 from
    ``model.initial_state(counts0)`` and returns ``model.observe(ys)``: the active
    cases and the removed on the days ``ts``. The initial counts are learned too,
    as logarithms, starting from the first (noisy) observations.

    Args:
        model: a ``QuarantineSIR``, ``SIR`` or ``LogCountsNODE``.
        counts0: the first observations ``(A, R)``, positive, shape ``(2,)``.
        dt: the RK4 step in days.

    Shapes: ``ts`` is ``(T,)``; the output ``(T, 2)``.
    """

    def __init__(self, model: nn.Module, counts0: Tensor, *, dt: float = 1.0):
        super().__init__()
        for method in ("initial_state", "observe"):
            if not callable(getattr(model, method, None)):
                raise TypeError(
                    f"model must have an {method}() method (QuarantineSIR, SIR or "
                    f"LogCountsNODE), got {type(model).__name__}"
                )
        counts0 = torch.as_tensor(counts0)
        if counts0.shape != (2,) or not bool((counts0 > 0).all()):
            raise ValueError(
                f"counts0 must be two positive counts (active, removed), got "
                f"{counts0.tolist()}"
            )
        self.model = model
        self.log_counts0 = nn.Parameter(counts0.log().to(torch.get_default_dtype()))
        self.dt = positive_float("dt", dt, " (days)")

    def states(self, ts: Tensor) -> Tensor:
        """The model's states on the days ``ts``, shape ``(T, n)``."""
        y0 = self.model.initial_state(self.log_counts0.exp())
        return rk4(self.model, y0, ts, dt=self.dt).ys

    def forward(self, ts: Tensor) -> Tensor:
        return self.model.observe(self.states(ts))


def log_mse(counts: Tensor, observed: Tensor) -> Tensor:
    """The log-scale loss ``mean((log counts - log observed)^2)``.

    Each count is compared in relative terms, so the early days (tens of cases)
    weigh as much as the peak (thousands), and multiplicative noise becomes additive.

    Args:
        counts, observed: positive tensors of the same shape, e.g. ``(T, 2)``.

    Raises:
        ValueError: if the shapes differ, or naming the first entry that is zero or
            negative (its logarithm is -inf or NaN).
    """
    if counts.shape != observed.shape:
        raise ValueError(
            f"counts has shape {tuple(counts.shape)} but observed has shape "
            f"{tuple(observed.shape)}; they must match"
        )
    remedies = {
        "counts": "the model predicts it; a smaller learning rate or solver step "
        "may keep its counts positive",
        "observed": "drop the days with zero counts, or compare on a linear scale",
    }
    for name, value in (("counts", counts), ("observed", observed)):
        bad = (value.detach() <= 0).nonzero()
        if bad.numel() > 0:
            index = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"{name}{list(index)} = {fmt(value[index])} is not positive; log_mse "
                f"compares logarithms, so every count must be > 0: {remedies[name]}"
            )
    return ((counts.log() - observed.log()) ** 2).mean()
