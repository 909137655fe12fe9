"""One fit loop for every chapter.

``fit`` minimises a loss by gradient descent and returns the history of the run (loss,
validation loss, wall time and function evaluations per epoch). It stops early when a
tolerance is reached, and stops with a clear error the moment the loss or a parameter
stops being finite, instead of training on NaN.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from nodecourse._checks import positive_float, positive_int
from nodecourse.models import count_nfe, reset_nfe

__all__ = ["History", "TrainingDiverged", "fit", "progress", "PROGRESS_ENV_VAR"]

#: Set to ``0`` to keep progress bars off in automatic mode (the book build and the
#: tests do this), or to ``1`` to force them on.
PROGRESS_ENV_VAR = "NODECOURSE_PROGRESS"


@dataclass
class History:
    """What happened during ``fit``, one entry per epoch run.

    Attributes:
        loss: the training loss of each epoch, computed before that epoch's step.
        val_loss: validation loss per epoch (empty without ``val_fn``).
        time: seconds since the start of ``fit`` at the end of each epoch.
        nfe: vector-field evaluations per epoch, forward and backward together
            (zeros for models without a Neural ODE inside).
        stop_reason: ``"tolerance"`` if the loss reached ``tol``, else ``"epochs"``.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    nfe: list[int] = field(default_factory=list)
    stop_reason: str = "epochs"

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def converged(self) -> bool:
        return self.stop_reason == "tolerance"


class TrainingDiverged(FloatingPointError):
    """Raised when the loss or a parameter becomes NaN or infinite during ``fit``.

    Attributes:
        history: the ``History`` up to the last finite epoch, so nothing is lost.
    """

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def _progress_wanted(progress: bool | None, name: str = "progress") -> bool:
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(
                f"{name} must be True, False or None (automatic), got {progress!r}"
            )
        return progress
    setting = os.environ.get(PROGRESS_ENV_VAR, "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    # Automatic: a terminal, or a Jupyter kernel with a person behind it.
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def progress(iterable, *, desc: str | None = None, show: bool | None = None):
    """``iterable`` with a tqdm progress bar where ``fit`` would show one.

    For training loops written by hand: ``for step in progress(range(n)): ...``.
    ``show=None`` (default) decides as ``fit`` does: a bar in a terminal or a
    notebook, none when ``NODECOURSE_PROGRESS=0`` (the book build and the tests).
    """
    if not _progress_wanted(show, "show"):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


def _first_nonfinite_parameter(model: nn.Module) -> str | None:
    named = list(model.named_parameters())
    if not named:
        return None
    # One device synchronisation for all parameters; names only on failure.
    finite = torch.stack([torch.isfinite(p).all() for _, p in named])
    if bool(finite.all()):
        return None
    return named[int((~finite).nonzero()[0])][0]


def _validation_loss(val_fn, epoch: int, history: History) -> float:
    with torch.no_grad():
        val = val_fn()
    if not isinstance(val, Tensor | float) or torch.as_tensor(val).numel() != 1:
        raise TypeError(
            f"val_fn must return a scalar, got {type(val).__name__}; reduce the "
            "validation loss with .mean()"
        )
    val = float(val)
    if not math.isfinite(val):
        raise TrainingDiverged(
            f"the validation loss is {val} at epoch {epoch}; check the validation "
            "data for NaN, or the model for overflow",
            history,
        )
    return val


def fit(
    model: nn.Module,
    loss_fn: Callable[[], Tensor],
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-2,
    tol: float | None = None,
    val_fn: Callable[[], Tensor] | None = None,
    progress: bool | None = None,
) -> History:
    """Minimise ``loss_fn()`` over the parameters of ``model`` for up to ``epochs``.

    Each epoch computes the loss (one full batch: ``loss_fn`` closes over the data),
    backpropagates, and takes one optimizer step. When the loss is already at most
    ``tol``, training stops before stepping, so the model returned is the one that
    reached the tolerance. For mini-batches, let ``loss_fn``
    draw the next batch.

    Args:
        model: the module whose parameters are trained (and checked for NaN).
        loss_fn: a function of no arguments returning the scalar training loss.
        epochs: the largest number of epochs (optimizer steps).
        optimizer: defaults to ``torch.optim.Adam(model.parameters(), lr=lr)``.
        lr: learning rate of the default optimizer.
        tol: stop as soon as the training loss is at most ``tol``.
        val_fn: a function of no arguments returning the validation loss; called
            after each step under ``torch.no_grad()``.
        progress: show a ``tqdm`` progress bar. ``None`` (default) shows one only in
            a terminal or a Jupyter session, and never when the environment
            variable ``NODECOURSE_PROGRESS`` is ``0``.

    Returns:
        The ``History`` of the run.

    Raises:
        TrainingDiverged: when the loss, a gradient or a parameter is not finite,
            naming the quantity and the epoch; its ``history`` attribute keeps the
            epochs before it.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be an nn.Module (its parameters are trained), got "
            f"{type(model).__name__}"
        )
    epochs = positive_int("epochs", epochs)
    if tol is not None:
        tol = positive_float("tol", tol, " or None", allow_zero=True)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            "the model has no trainable parameters; check requires_grad or pass the "
            "module that owns the parameters"
        )
    if optimizer is None:
        optimizer = torch.optim.Adam(params, lr=positive_float("lr", lr))
    owned = {id(p) for p in params}
    stepped = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in owned for p in stepped):
        raise ValueError(
            "the optimizer updates none of the model's parameters; build it from "
            "this model, e.g. torch.optim.Adam(model.parameters())"
        )
    if isinstance(optimizer, torch.optim.LBFGS):
        raise TypeError(
            "fit takes one plain optimizer step per epoch, and L-BFGS needs a "
            "closure that re-evaluates the loss; write the loop with "
            "optimizer.step(closure) for L-BFGS, or use Adam or SGD here"
        )

    history = History()
    bad = _first_nonfinite_parameter(model)
    if bad is not None:
        raise TrainingDiverged(
            f"parameter {bad!r} is not finite before training (epoch 0); "
            "re-initialise the model",
            history,
        )

    bar = None
    if _progress_wanted(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="fit", leave=False)

    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            # Phase 1: forward and backward, counting function evaluations.
            reset_nfe(model)
            optimizer.zero_grad()
            loss = loss_fn()
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                shape = tuple(loss.shape) if isinstance(loss, Tensor) else loss
                raise TypeError(
                    f"loss_fn must return a scalar tensor, got {shape!r}; reduce the "
                    "loss with .mean() or .sum()"
                )
            if not loss.requires_grad:
                raise ValueError(
                    "the loss does not depend on any trainable parameter (it has no "
                    "gradient); compute it from the model's output inside loss_fn"
                )
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingDiverged(
                    f"the training loss is {loss_value} at epoch {epoch}; lower the "
                    "learning rate, check the data for NaN, or tighten the solver",
                    history,
                )
            reached = tol is not None and loss_value <= tol

            # Phase 2: unless the tolerance is met, backward and the update, then the
            # check that the update left finite parameters.
            if not reached:
                loss.backward()
                if epoch == 1 and all(p.grad is None for p in params):
                    raise ValueError(
                        "the loss does not depend on the model's parameters (none "
                        "received a gradient); compute it from the model's output "
                        "inside loss_fn"
                    )
                optimizer.step()
                bad = _first_nonfinite_parameter(model)
                if bad is not None:
                    raise TrainingDiverged(
                        f"parameter {bad!r} became non-finite at epoch {epoch}; "
                        "lower the learning rate or clip the gradients",
                        history,
                    )

            # Phase 3: validation, bookkeeping and the stopping rule.
            val = None if val_fn is None else _validation_loss(val_fn, epoch, history)
            history.loss.append(loss_value)
            history.nfe.append(count_nfe(model))
            if val is not None:
                history.val_loss.append(val)
            history.time.append(time.perf_counter() - start)
            if bar is not None:
                bar.update(1)
                # refresh=False: redrawing every epoch would slow training severalfold
                bar.set_postfix(loss=f"{loss_value:.3g}", refresh=False)
            if reached:
                history.stop_reason = "tolerance"
                break
    finally:
        if bar is not None:
            bar.close()
    return history
