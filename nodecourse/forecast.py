"""Forecasting: a Neural ODE trained on a growing window, and the baselines to beat.

The Neural ODE is autonomous, ``dy/dt = f(y; theta)``, started from the first
observation, ``y(t_0) = y_0``. Fitting a whole series at once tends to end on a
trajectory that runs through the mean of the data; training on a *growing window*
(the first ``k`` observations, then more, parameters kept between rounds) fits the
start first and extends the fit step by step. ``window_loss`` slices the series
before it solves, so round ``k`` sees nothing beyond observation ``k``.

The baselines need no training: ``persistence`` (the last value),
``seasonal_naive`` (the value one period earlier) and ``harmonic_regression``
(least squares on sines and cosines of the season). ``rmse`` scores any of them.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import Tensor, nn

from nodecourse._checks import positive_float, positive_int
from nodecourse.training import History, fit

__all__ = [
    "EnsembleField",
    "fit_growing_window",
    "growing_windows",
    "harmonic_features",
    "harmonic_regression",
    "persistence",
    "rmse",
    "seasonal_naive",
    "window_loss",
]


def _series(ys, name: str = "ys") -> Tensor:
    if not isinstance(ys, Tensor) or ys.ndim != 2 or not ys.is_floating_point():
        what = (
            f"shape {tuple(ys.shape)}, dtype {ys.dtype}"
            if isinstance(ys, Tensor)
            else type(ys).__name__
        )
        raise ValueError(
            f"{name} must be a floating tensor of shape (T, n), time first, got "
            f"{what}; for a single variable use {name}.unsqueeze(-1)"
        )
    if len(ys) == 0:
        raise ValueError(
            f"{name} has no observations (shape {tuple(ys.shape)}); it needs at "
            "least one time step"
        )
    return ys


def _times(ts, length: int, name: str = "ts") -> Tensor:
    if not isinstance(ts, Tensor) or ts.ndim != 1 or len(ts) != length:
        what = tuple(ts.shape) if isinstance(ts, Tensor) else type(ts).__name__
        raise ValueError(
            f"{name} must be a 1-D tensor with one time per observation ({length}), "
            f"got {what}"
        )
    return ts


# --- several seeds at once ---------------------------------------------------


class EnsembleField(nn.Module):
    """``S`` independent MLP vector fields evaluated together, one per row of ``y``.

    Member ``s`` maps row ``y[s]`` to ``W_L^s act(... act(W_1^s y[s] + b_1^s) ...)
    + b_L^s`` with its own weights, as a batched matrix product, so training ``S``
    seeds costs about as much time as training one (for small fields the time goes
    into the solver's bookkeeping, not into arithmetic). With a fixed-step solver
    the members never interact: each row's trajectory and, under a loss that sums
    the members' losses, each member's gradient are exactly what the member alone
    would give (up to round-off).

    Build it from ordinary fields with ``EnsembleField.from_fields``, for example
    ``nc.MLPVectorField`` modules made under different seeds: the ensemble starts
    from their weights.

    Shapes: ``t`` a scalar tensor; ``y`` ``(S, dim)``; output ``(S, dim)``.
    """

    def __init__(self, weights: list[Tensor], biases: list[Tensor], activation):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(w) for w in weights])
        self.biases = nn.ParameterList([nn.Parameter(b) for b in biases])
        self.activation = activation
        self.n_members = weights[0].shape[0]
        self.dim = weights[0].shape[1]

    @classmethod
    def from_fields(cls, fields: list[nn.Module]) -> EnsembleField:
        """Stack the linear layers of autonomous MLP fields of identical architecture.

        Args:
            fields: ``nc.MLPVectorField`` modules (``time_dependent=False``), all of
                the same widths and activation.
        """
        if not fields or not all(hasattr(f, "net") for f in fields):
            raise TypeError("fields must be a non-empty list of nc.MLPVectorField")
        if any(getattr(f, "time_dependent", False) for f in fields):
            raise ValueError("EnsembleField stacks autonomous fields only")
        layers = [[m for m in f.net if isinstance(m, nn.Linear)] for f in fields]
        shapes = [[tuple(lin.weight.shape) for lin in ls] for ls in layers]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"the fields differ in their layer shapes: {shapes}")
        activation = next(m for m in fields[0].net if not isinstance(m, nn.Linear))
        weights = [  # (S, in, out): y @ W, so the weight is transposed
            torch.stack([ls[i].weight.detach().T for ls in layers]).clone()
            for i in range(len(layers[0]))
        ]
        biases = [  # (S, 1, out)
            torch.stack([ls[i].bias.detach()[None] for ls in layers]).clone()
            for i in range(len(layers[0]))
        ]
        return cls(weights, biases, activation)

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        if y.shape != (self.n_members, self.dim):
            raise ValueError(
                f"EnsembleField of {self.n_members} members of width {self.dim} got a "
                f"state of shape {tuple(y.shape)}; it needs ({self.n_members}, "
                f"{self.dim}), one row per member"
            )
        h = y[:, None, :]  # (S, 1, dim)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)  # (S, 1, out)
            if i < last:
                h = self.activation(h)
        return h[:, 0, :]


# --- the growing window ------------------------------------------------------


def growing_windows(n_train: int, first: int, step: int) -> list[int]:
    """The window sizes ``first, first + step, ...``, ending exactly at ``n_train``.

    >>> growing_windows(24, 6, 6)
    [6, 12, 18, 24]
    >>> growing_windows(20, 8, 8)
    [8, 16, 20]
    """
    n_train = positive_int("n_train", n_train)
    first = positive_int("first", first, " (the first window)")
    step = positive_int("step", step, " (the growth per round)")
    if not 2 <= first <= n_train:
        raise ValueError(
            f"first={first} must be between 2 (a window needs a start and one more "
            f"observation) and n_train={n_train}"
        )
    windows = list(range(first, n_train, step))
    return windows + [n_train]


def window_loss(
    model: nn.Module, ts: Tensor, ys: Tensor, k: int, members: int | None = None
) -> Tensor:
    """The mean squared error of the model over the first ``k`` observations.

    ``L_k(theta) = 1 / (k n) sum_{i < k} || y(t_i; theta) - ys[i] ||^2`` with
    ``y(.; theta)`` solved from ``y(t_0) = ys[0]``. Both ``ts`` and ``ys`` are sliced
    *before* the solve, so neither the loss nor its gradient can depend on any
    observation from ``k`` on, and the solve stops at ``ts[k - 1]``.

    Args:
        model: called as ``model(y0, ts)``, returning ``(len(ts), n)`` (for example
            ``nc.NeuralODE``), or ``(len(ts), S, n)`` for ``members=S``.
        members: ``None`` for one model; ``S`` for an ensemble (a Neural ODE on an
            ``EnsembleField``): ``y0`` is repeated ``S`` times and the loss is the
            *sum* of the members' losses, so each member gets the gradient of its
            own loss.
        ts: observation times, ``(T,)``.
        ys: observations, ``(T, n)``, time first.
        k: how many observations, ``2 <= k <= T``.

    Returns:
        A scalar tensor.
    """
    ys = _series(ys)
    ts = _times(ts, len(ys))
    k = positive_int("k", k, " (the window size)")
    if not 2 <= k <= len(ys):
        raise ValueError(f"k={k} must be between 2 and the series length {len(ys)}")
    ts_k, ys_k = ts[:k], ys[:k]  # the window: nothing after observation k - 1
    if members is None:
        pred, target = model(ys_k[0], ts_k), ys_k  # (k, n)
    else:
        members = positive_int("members", members)
        y0 = ys_k[0].expand(members, -1)  # (S, n): every member starts at ys[0]
        pred, target = model(y0, ts_k), ys_k[:, None, :].expand(-1, members, -1)
    if pred.shape != target.shape:
        raise ValueError(
            f"the model returned shape {tuple(pred.shape)} for a window of shape "
            f"{tuple(target.shape)}; it must return one state per time, time first"
        )
    per_member = ((pred - target) ** 2).mean(dim=(0, -1))  # () or (S,)
    return per_member.sum()


def fit_growing_window(
    model: nn.Module,
    ts: Tensor,
    ys: Tensor,
    windows: list[int],
    *,
    epochs: int,
    lr: float = 5e-3,
    members: int | None = None,
    progress: bool | None = None,
) -> list[History]:
    """Train on the first ``k`` observations for each ``k`` in ``windows``, in turn.

    Each round is one call of ``nc.fit`` on ``window_loss(model, ts, ys, k)``: a fresh
    Adam optimizer with learning rate ``lr``, for ``epochs`` steps, starting from the
    parameters the previous round ended with.

    Args:
        model: called as ``model(y0, ts)``; its parameters are trained in place.
        ts, ys: the training series, ``(T,)`` and ``(T, n)``.
        windows: increasing window sizes, e.g. ``growing_windows(T, 6, 6)``.
        epochs: optimizer steps per round.
        lr: the learning rate of each round's Adam.
        members: ``S`` to train an ensemble (see ``window_loss``).
        progress: progress bars, as in ``nc.fit``.

    Returns:
        One ``History`` per round.

    Warning: a later round can undo what an earlier one learned (nothing ties the
    parameters to the earlier fit except the starting point), and the final fit is
    judged on the training window only. Look at the losses of every round.
    """
    ys = _series(ys)
    ts = _times(ts, len(ys))
    windows = [positive_int("windows[i]", k) for k in windows]
    pairs = zip(windows[:-1], windows[1:], strict=True)
    if not windows or any(b <= a for a, b in pairs):
        raise ValueError(f"windows must be a non-empty increasing list, got {windows}")
    if windows[-1] > len(ys):
        raise ValueError(
            f"the last window ({windows[-1]}) is longer than the series ({len(ys)})"
        )
    return [
        fit(
            model,
            partial(window_loss, model, ts, ys, k, members),
            epochs=epochs,
            lr=lr,
            progress=progress,
        )
        for k in windows
    ]


# --- baselines ---------------------------------------------------------------


def persistence(ys_train: Tensor, horizon: int) -> Tensor:
    """Every future value equals the last observed one: ``y_hat(T + h) = y(T)``.

    Shapes: ``ys_train`` ``(T, n)``; returns ``(horizon, n)``.
    """
    ys_train = _series(ys_train, "ys_train")
    horizon = positive_int("horizon", horizon)
    return ys_train[-1].expand(horizon, -1).clone()


def seasonal_naive(ys_train: Tensor, horizon: int, period: int = 12) -> Tensor:
    """Each future value equals the last observed value of the same season.

    ``y_hat(T + h) = y(T + h - period * ceil(h / period))`` for ``h = 1, 2, ...``:
    the same month one year earlier, and for horizons beyond a year, the last
    observed year repeated. Assumes equally spaced observations.

    Shapes: ``ys_train`` ``(T, n)`` with ``T >= period``; returns ``(horizon, n)``.
    """
    ys_train = _series(ys_train, "ys_train")
    horizon = positive_int("horizon", horizon)
    period = positive_int("period", period)
    if len(ys_train) < period:
        raise ValueError(
            f"seasonal_naive needs at least one full period ({period}) of training "
            f"data, got {len(ys_train)}"
        )
    last_season = ys_train[-period:]  # (period, n)
    return last_season[torch.arange(horizon) % period].clone()


def harmonic_features(ts: Tensor, period: float, n_harmonics: int) -> Tensor:
    """The design matrix ``[1, cos(w t), sin(w t), ..., cos(H w t), sin(H w t)]``.

    ``w = 2 pi / period``. Shapes: ``ts`` ``(T,)``; returns ``(T, 1 + 2 H)``.
    """
    period = positive_float("period", period)
    n_harmonics = positive_int("n_harmonics", n_harmonics)
    t = ts.to(torch.float64)
    columns = [torch.ones_like(t)]
    for j in range(1, n_harmonics + 1):
        angle = 2 * math.pi * j * t / period
        columns += [torch.cos(angle), torch.sin(angle)]
    return torch.stack(columns, dim=1)


def harmonic_regression(
    ts_train: Tensor,
    ys_train: Tensor,
    ts_new: Tensor,
    *,
    period: float = 12.0,
    n_harmonics: int = 1,
) -> Tensor:
    """Least-squares fit of a mean plus sines and cosines of the season.

    Each variable gets its own coefficients ``c``,

    ``y(t) ~ c_0 + sum_{j=1}^{H} (a_j cos(2 pi j t / P) + b_j sin(2 pi j t / P))``,

    fitted to the training data by least squares (in float64) and evaluated at
    ``ts_new``. It reproduces a climatology: the average seasonal cycle, the same
    every year.

    Args:
        ts_train: ``(T,)`` training times; ys_train: ``(T, n)``.
        ts_new: ``(M,)`` where to predict.
        period: the season's length ``P`` in the units of ``ts`` (12 months).
        n_harmonics: ``H``; the fit needs ``T >= 1 + 2 H`` observations.

    Returns:
        ``(M, n)``, in the dtype of ``ys_train``.
    """
    ys_train = _series(ys_train, "ys_train")
    ts_train = _times(ts_train, len(ys_train), "ts_train")
    if not isinstance(ts_new, Tensor) or ts_new.ndim != 1:
        raise ValueError("ts_new must be a 1-D tensor of times")
    design = harmonic_features(ts_train, period, n_harmonics)  # (T, 1 + 2H)
    if len(ts_train) < design.shape[1]:
        raise ValueError(
            f"{design.shape[1]} coefficients per variable need at least as many "
            f"observations, got {len(ts_train)}; lower n_harmonics"
        )
    coef = torch.linalg.lstsq(design, ys_train.to(torch.float64)).solution
    pred = harmonic_features(ts_new, period, n_harmonics) @ coef  # (M, n)
    return pred.to(ys_train.dtype)


# --- scoring -----------------------------------------------------------------


def rmse(pred: Tensor, target: Tensor) -> Tensor:
    """The root-mean-square error of each variable over time.

    ``RMSE_j = sqrt( (1/M) sum_i (pred[i, j] - target[i, j])^2 )``, in the units of
    the data. Shapes: ``pred`` and ``target`` ``(M, n)``; returns ``(n,)`` float64.
    """
    pred, target = _series(pred, "pred"), _series(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred has shape {tuple(pred.shape)} but target has shape "
            f"{tuple(target.shape)}; they must match (time first, (M, n))"
        )
    diff = pred.detach().to("cpu", torch.float64) - target.detach().to(
        "cpu", torch.float64
    )
    if not bool(torch.isfinite(diff).all()):
        raise ValueError("pred or target holds NaN or inf; rmse needs finite values")
    return diff.pow(2).mean(dim=0).sqrt()
