"""Pure plotting functions: arrays in, ``(fig, ax)`` out.

Each function draws on ``ax`` if given (and returns its figure), or on a new figure
otherwise. Colours follow one convention across the course: observed data in black,
the model in blue, reference or exact solutions dashed in grey.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "DATA_COLOR",
    "EXACT_COLOR",
    "MODEL_COLOR",
    "plot_convergence",
    "plot_fit",
    "plot_history",
    "plot_trajectories",
    "to_numpy",
]

DATA_COLOR = "black"
MODEL_COLOR = "C0"
EXACT_COLOR = "0.45"


def to_numpy(x) -> np.ndarray:
    """A NumPy copy of a tensor (detached, on the CPU) or of any array-like."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def plot_fit(
    x, y, y_pred=None, *, x_pred=None, ax=None, label="model", title=None, legend=True
):
    """Data as black dots and, if given, a model's prediction as a blue line.

    Args:
        x, y: the data, 1-D (or ``(N, 1)``) arrays or tensors.
        y_pred: predictions at ``x_pred`` (default: at ``x``).
        x_pred: where the predictions were made, e.g. a fine grid.
        legend: draw a legend (turn off for small multiples).
    """
    fig, ax = _axes(ax)
    x, y = to_numpy(x).ravel(), to_numpy(y).ravel()
    ax.plot(x, y, "o", color=DATA_COLOR, ms=3, label="data")
    if y_pred is not None:
        xp = x if x_pred is None else to_numpy(x_pred).ravel()
        yp = to_numpy(y_pred).ravel()
        order = np.argsort(xp)
        ax.plot(xp[order], yp[order], color=MODEL_COLOR, lw=2, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend()
    return fig, ax


def plot_history(history, *, ax=None, log=True, title=None):
    """Training (and validation) loss per epoch from a ``History``."""
    fig, ax = _axes(ax)
    epochs = np.arange(1, len(history.loss) + 1)
    ax.plot(epochs, history.loss, color=MODEL_COLOR, label="training loss")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, color="C1", label="validation loss")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend()
    return fig, ax


def plot_trajectories(ts, ys, *, ax=None, exact=None, labels=None, title=None):
    """Solution components over time.

    Args:
        ts: times, shape ``(T,)``.
        ys: a trajectory, shape ``(T,)`` or ``(T, n)``, drawn in blue shades.
        exact: optional exact trajectory of the same shape, dashed grey.
        labels: optional names of the ``n`` components.
    """
    fig, ax = _axes(ax)
    ts = to_numpy(ts).ravel()
    ys = to_numpy(ys).reshape(len(ts), -1)
    for i in range(ys.shape[1]):
        name = labels[i] if labels is not None else f"$y_{i + 1}$"
        ax.plot(
            ts,
            ys[:, i],
            color=MODEL_COLOR,
            alpha=1.0 - 0.5 * i / ys.shape[1],
            label=name,
        )
    if exact is not None:
        ex = to_numpy(exact).reshape(len(ts), -1)
        for i in range(ex.shape[1]):
            ax.plot(
                ts, ex[:, i], "--", color=EXACT_COLOR, label="exact" if i == 0 else None
            )
    ax.set_xlabel("t")
    if title:
        ax.set_title(title)
    ax.legend()
    return fig, ax


def plot_convergence(
    step_sizes,
    errors: dict[str, Sequence[float]],
    *,
    ax=None,
    orders: dict[str, float] | None = None,
    anchor: int = 0,
    xlabel="step size dt",
    title=None,
):
    """Errors against step sizes on log-log axes, one line per method.

    Args:
        step_sizes: the step sizes, shape ``(K,)``.
        errors: method name -> its ``K`` errors.
        orders: optional method name -> reference order ``p``; a dotted line of
            slope ``p`` is drawn through that method's point number ``anchor``.
        anchor: which point the reference lines pass through (``-1``: the last,
            useful when the first steps are too large for the asymptotic regime).
    """
    fig, ax = _axes(ax)
    dts = to_numpy(step_sizes).ravel()
    for i, (name, errs) in enumerate(errors.items()):
        errs = to_numpy(errs).ravel()
        color = f"C{i}"
        ax.loglog(dts, errs, "o-", color=color, label=name)
        if orders and name in orders:
            p = orders[name]
            ref = errs[anchor] * (dts / dts[anchor]) ** p
            ax.loglog(
                dts,
                ref,
                ":",
                color=color,
                label=f"slope {p:g}",
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error")
    if title:
        ax.set_title(title)
    ax.legend()
    return fig, ax
