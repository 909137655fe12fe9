"""A synthetic outbreak: SIR with quarantine, a known policy, and noisy counts.

The outbreak follows the SIR model with a quarantined compartment ``T`` of
``nodecourse.ude``,

    dS/dt = -beta S I / N,        dI/dt = beta S I / N - gamma I - Q(t) I,
    dR/dt = gamma I + delta T,    dT/dt = Q(t) I - delta T,

with known rates and a known quarantine policy ``Q(t)`` that switches on around a
known day. What is observed is what a health agency reports: the *active cases*
``I + T`` (quarantined people are still ill and still counted) and the *removed*
``R``, each with multiplicative log-normal noise. Because everything is known, a
model fitted to the observations can be checked against the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nodecourse._checks import positive_float, positive_int
from nodecourse.solvers import rk4
from nodecourse.ude import quarantine_sir_field, reproduction_number

__all__ = ["EpidemicTruth", "Outbreak", "make_outbreak", "quarantine_policy"]


def quarantine_policy(t, q_max: float, switch_day: float, switch_width: float = 0.0):
    """The quarantine strength of the synthetic outbreak, ``Q(t)`` per day.

    Smooth (``switch_width > 0``): a logistic ramp centred on the switch day,

        Q(t) = q_max / (1 + exp(-(t - switch_day) / switch_width)),

    which rises from 12 % to 88 % of ``q_max`` within two widths either side of
    ``switch_day`` and is half of ``q_max`` on it. A step (``switch_width = 0``):
    ``Q(t) = 0`` before ``switch_day`` and ``q_max`` from it on.

    Args:
        t: times in days, a number or a tensor of any shape.
        q_max: the strength once the policy is fully on (per day), at least 0.
        switch_day: the day the policy switches on.
        switch_width: the time scale of the ramp in days, at least 0.

    Returns:
        ``Q(t)``, a tensor of the shape of ``t``.

    Warning:
        With a step, the vector field jumps at ``switch_day``, and the one solver
        step that touches the jump is only first-order accurate: simulate with a
        small step (``make_outbreak`` uses 0.05 day by default).
    """
    q_max = positive_float("q_max", q_max, " (per day)", allow_zero=True)
    switch_width = positive_float(
        "switch_width", switch_width, " (days; 0 for a step)", allow_zero=True
    )
    if not math.isfinite(float(switch_day)):
        raise ValueError(f"switch_day must be a finite number, got {switch_day!r}")
    if not isinstance(t, Tensor) or not t.is_floating_point():
        t = torch.as_tensor(t, dtype=torch.get_default_dtype())
    if switch_width == 0:
        return q_max * (t >= switch_day).to(t.dtype)
    return q_max * torch.sigmoid((t - switch_day) / switch_width)


@dataclass(frozen=True)
class EpidemicTruth:
    """The parameters behind a synthetic outbreak.

    Attributes:
        population: ``N``, the number of people.
        beta, gamma, delta: the rates (per day) of infection, removal of the free
            infectious, and removal of the quarantined.
        q_max, switch_day, switch_width: the quarantine policy (see
            ``quarantine_policy``).
    """

    population: float
    beta: float
    gamma: float
    delta: float
    q_max: float
    switch_day: float
    switch_width: float

    def quarantine(self, t) -> Tensor:
        """The true ``Q(t)``, of the shape of ``t``."""
        return quarantine_policy(t, self.q_max, self.switch_day, self.switch_width)

    def reproduction_number(self, t, susceptible) -> Tensor:
        """The true ``R_t = beta (S/N) / (gamma + Q(t))`` at times ``t``."""
        return reproduction_number(
            susceptible, self.quarantine(t), self.beta, self.gamma, self.population
        )


@dataclass(frozen=True)
class Outbreak:
    """A synthetic outbreak: the true states, the noisy observations and the truth.

    Attributes:
        ts: the observation days ``0, 1, ..., days - 1``, shape ``(T,)``.
        states: the true ``(S, I, R, T)`` on those days, shape ``(T, 4)``.
        infected: the observed active cases, noisy ``I + T``, shape ``(T,)``.
        removed: the observed removed, noisy ``R``, shape ``(T,)``.
        truth: the parameters and the policy (an ``EpidemicTruth``).
        noise: the standard deviation of the log-normal noise.
    """

    ts: Tensor
    states: Tensor
    infected: Tensor
    removed: Tensor
    truth: EpidemicTruth
    noise: float

    @property
    def y0(self) -> Tensor:
        """The true initial state ``(S, I, R, T)``, shape ``(4,)``."""
        return self.states[0]

    @property
    def active(self) -> Tensor:
        """The true active cases ``I + T``, shape ``(T,)``."""
        return self.states[:, 1] + self.states[:, 3]


def make_outbreak(
    days: int = 100,
    *,
    population: float = 1e6,
    infected0: float = 50.0,
    removed0: float = 10.0,
    beta: float = 0.3,
    gamma: float = 0.1,
    delta: float = 0.05,
    q_max: float = 0.3,
    switch_day: float = 25.0,
    switch_width: float = 2.0,
    noise: float = 0.05,
    seed: int = 0,
    dt: float = 0.05,
    dtype: torch.dtype = torch.float64,
) -> Outbreak:
    """Simulate an outbreak under a quarantine policy and observe it with noise.

    The true state starts at ``S = N - infected0 - removed0``, ``I = infected0``,
    ``R = removed0``, ``T = 0`` and is integrated with the course's RK4 at step
    ``dt``, then sampled once a day. The observations are

        infected_k = (I_k + T_k) exp(noise * e_k),   removed_k = R_k exp(noise * e'_k)

    with independent standard normal ``e_k, e'_k`` drawn from a generator seeded
    with ``seed``: multiplicative (log-normal) noise, a fixed relative error that
    suits counts spanning orders of magnitude, with median the true count. The
    counts are not rounded to integers.

    Args:
        days: the number of daily observations, at least 2.
        population: ``N``. infected0, removed0: the initial ``I`` and ``R``.
        beta, gamma, delta: the true rates (per day); ``beta = 0`` is allowed.
        q_max, switch_day, switch_width: the policy, see ``quarantine_policy``.
        noise: the standard deviation of the logarithm of the noise factor, at
            least 0 (0 gives exact observations).
        seed: the seed of the noise.
        dt: the step of the simulation (days); it must divide one day.
        dtype: the floating dtype of every tensor returned.

    Returns:
        An ``Outbreak``.
    """
    days = positive_int("days", days)
    if days < 2:
        raise ValueError(f"days must be at least 2 (a trajectory), got {days}")
    population = positive_float("population", population, " (the number of people)")
    infected0 = positive_float("infected0", infected0, " (people)")
    removed0 = positive_float("removed0", removed0, " (people)", allow_zero=True)
    if infected0 + removed0 >= population:
        raise ValueError(
            f"infected0 + removed0 = {infected0 + removed0:g} must be smaller than "
            f"the population {population:g}; someone must be susceptible"
        )
    beta = positive_float("beta", beta, " (per day)", allow_zero=True)
    gamma = positive_float("gamma", gamma, " (per day)", allow_zero=True)
    delta = positive_float("delta", delta, " (per day)", allow_zero=True)
    noise = positive_float("noise", noise, " (log-normal sigma)", allow_zero=True)
    dt = positive_float("dt", dt, " (days)")
    steps_per_day = round(1.0 / dt)
    if dt > 1 or abs(steps_per_day * dt - 1.0) > 1e-9:
        raise ValueError(f"dt must divide one day (1/dt an integer), got dt={dt}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    truth = EpidemicTruth(
        population=population,
        beta=beta,
        gamma=gamma,
        delta=delta,
        q_max=q_max,
        switch_day=float(switch_day),
        switch_width=switch_width,
    )
    truth.quarantine(0.0)  # checks the policy's arguments

    # Simulate in float64 whatever the requested dtype, then convert.
    def field(t: Tensor, y: Tensor) -> Tensor:
        return quarantine_sir_field(
            y, truth.quarantine(t), beta, gamma, delta, population
        )

    f64 = torch.float64
    y0 = torch.tensor(
        [population - infected0 - removed0, infected0, removed0, 0.0], dtype=f64
    )
    ts = torch.arange(days, dtype=f64)  # (T,)
    states = rk4(field, y0, ts, n_steps=steps_per_day).ys  # (T, 4)

    # Observe active cases and removed with multiplicative noise.
    rng = np.random.default_rng(int(seed))
    factors = torch.from_numpy(np.exp(noise * rng.standard_normal((2, days))))
    infected = (states[:, 1] + states[:, 3]) * factors[0]
    removed = states[:, 2] * factors[1]
    return Outbreak(
        ts=ts.to(dtype),
        states=states.to(dtype),
        infected=infected.to(dtype),
        removed=removed.to(dtype),
        truth=truth,
        noise=noise,
    )
