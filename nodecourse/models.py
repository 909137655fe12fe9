"""The models of the course: a one-hidden-layer net, a residual net, Neural ODEs.

The thread that ties them together: a residual block ``h + dt * f(t, h)`` is one step
of Euler's method for ``dh/dt = f(t, h)``, so a residual net with many small blocks
approximates the flow of an ODE, and a Neural ODE solves that ODE directly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

from nodecourse._checks import (
    check_param_dtype,
    check_y0,
    positive_int,
    solver_for,
    solver_settings,
)
from nodecourse.solvers import (
    check_field_output,
    check_field_signature,
    check_initial_state,
    check_ts,
    explained_underflow,
)

__all__ = [
    "AugmentedNODE",
    "CountNFE",
    "MLPVectorField",
    "NeuralODE",
    "OneHiddenLayer",
    "ResidualNet",
    "count_nfe",
    "reset_nfe",
]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
}


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}"
        )
    return _ACTIVATIONS[name]()


class OneHiddenLayer(nn.Module):
    """The network of the lecture: ``Linear -> activation -> Linear``.

    ``y = W2 sigma(W1 x + b1) + b2`` with ``W1`` of shape ``(n_hidden, n_in)`` and
    ``W2`` of shape ``(n_out, n_hidden)``.

    Args:
        n_in: input features. n_hidden: hidden units. n_out: outputs.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softplus"`` or ``"silu"``.

    Shapes: input ``(B, n_in)``, output ``(B, n_out)``.
    """

    def __init__(
        self, n_in: int = 1, n_hidden: int = 32, n_out: int = 1, activation="relu"
    ):
        super().__init__()
        for name, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            positive_int(name, value)
        self.hidden = nn.Linear(n_in, n_hidden)
        self.activation = _activation(activation)
        self.output = nn.Linear(n_hidden, n_out)

    def forward(self, x: Tensor) -> Tensor:
        n_in = self.hidden.in_features
        if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[-1] != n_in:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            hint = " (for a batch of scalars, use x.unsqueeze(-1))" if n_in == 1 else ""
            raise ValueError(
                f"OneHiddenLayer(n_in={n_in}) expects inputs of shape (B, {n_in}), "
                f"got {shape}{hint}"
            )
        check_param_dtype(x, self.parameters(), "x", "OneHiddenLayer's")
        return self.output(self.activation(self.hidden(x)))


class MLPVectorField(nn.Module):
    """A vector field ``f(t, y)`` given by a multilayer perceptron.

    Maps a state of width ``dim`` to a velocity of the same width. With
    ``time_dependent=True`` the time ``t`` is appended to the input, so the field
    may change over time (like a residual net whose blocks differ).

    Args:
        dim: the width of the state ``y``.
        hidden: the width of each hidden layer.
        n_layers: the number of hidden layers (at least 1).
        activation: a smooth activation (``"tanh"`` by default) keeps ``f``
            Lipschitz and differentiable, which adaptive solvers like.
        time_dependent: whether ``f`` depends on ``t``.

    Shapes: ``t`` is a scalar tensor; ``y`` is ``(..., dim)``; output ``(..., dim)``.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 32,
        n_layers: int = 1,
        activation: str = "tanh",
        time_dependent: bool = False,
    ):
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("n_layers", n_layers)):
            positive_int(name, value)
        self.dim = dim
        self.time_dependent = time_dependent
        widths = [dim + int(time_dependent)] + [hidden] * n_layers
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(w_in, w_out), _activation(activation)]
        layers.append(nn.Linear(widths[-1], dim))
        self.net = nn.Sequential(*layers)

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        if y.shape[-1] != self.dim:
            raise ValueError(
                f"MLPVectorField(dim={self.dim}) got a state of shape "
                f"{tuple(y.shape)}; its last axis must have width {self.dim}"
            )
        if self.time_dependent:
            t_col = torch.as_tensor(t, dtype=y.dtype, device=y.device)
            y = torch.cat([y, t_col.expand(*y.shape[:-1], 1)], dim=-1)
        return self.net(y)


class ResidualNet(nn.Module):
    """A residual net whose blocks are Euler steps of ``dh/dt = f(t, h)``.

    Block ``k`` maps ``h_k`` to ``h_{k+1} = h_k + dt * f(t_k, h_k)`` with
    ``dt = (t1 - t0) / n_blocks`` and ``t_k = t0 + k dt``. As ``n_blocks`` grows the
    output converges to the ODE's flow ``phi_{t1}(h_0)`` (Euler's method has order
    1, so the error shrinks like ``1 / n_blocks``).

    Args:
        field: either one vector field shared by all blocks (weight tying: the
            residual net is then exactly Euler's method on ``field``), or a sequence
            of ``n_blocks`` fields, one per block (an ordinary ResNet).
        n_blocks: the number of residual blocks.
        t0, t1: the depth interval that the blocks cover.

    Shapes: input ``(..., dim)``, output ``(..., dim)``.
    """

    def __init__(
        self,
        field: nn.Module | list[nn.Module] | nn.ModuleList,
        n_blocks: int,
        t0: float = 0.0,
        t1: float = 1.0,
    ):
        super().__init__()
        positive_int("n_blocks", n_blocks)
        if not t1 > t0:
            raise ValueError(f"need t0 < t1, got t0={t0!r}, t1={t1!r}")
        if isinstance(field, (list, tuple, nn.ModuleList)):
            if len(field) != n_blocks:
                raise ValueError(
                    f"got {len(field)} vector fields for n_blocks={n_blocks}; pass one "
                    "field (shared by all blocks) or exactly one per block"
                )
            self.fields = nn.ModuleList(field)
        else:
            self.fields = nn.ModuleList([field])
        self.n_blocks = n_blocks
        self.t0, self.t1 = float(t0), float(t1)

    @property
    def dt(self) -> float:
        return (self.t1 - self.t0) / self.n_blocks

    def forward(self, h: Tensor, return_all: bool = False) -> Tensor:
        """Apply the blocks; ``return_all`` returns every ``h_k``, ``(K + 1, ...)``."""
        check_y0(h, "h")
        check_param_dtype(h, self.parameters(), "h", "the fields'")
        hs = [h]
        shared = len(self.fields) == 1
        for k in range(self.n_blocks):
            f = self.fields[0] if shared else self.fields[k]
            t = torch.tensor(self.t0 + k * self.dt, dtype=h.dtype, device=h.device)
            velocity = f(t, h)
            if k == 0:
                check_field_output(velocity, h)
            h = h + self.dt * velocity
            hs.append(h)
        return torch.stack(hs) if return_all else h


class CountNFE(nn.Module):
    """Wraps a vector field (a module, or any callable ``f(t, y)``) and counts how
    often it is evaluated (``self.nfe``).

    It also remembers the time of the latest evaluation (``self.last_t``), so that a
    failed solve can say where it stopped.
    """

    def __init__(self, field: Callable[[Tensor, Tensor], Tensor]):
        super().__init__()
        self.field = field
        self.nfe = 0
        self._last_t: Tensor | None = None

    @property
    def last_t(self) -> float | None:
        return None if self._last_t is None else float(self._last_t)

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        self.nfe += 1
        self._last_t = t.detach()  # kept as a tensor: no device sync per evaluation
        return self.field(t, y)


def count_nfe(model: nn.Module) -> int:
    """Total function evaluations counted by every ``CountNFE`` inside ``model``."""
    return sum(m.nfe for m in model.modules() if isinstance(m, CountNFE))


def reset_nfe(model: nn.Module) -> None:
    """Set every ``CountNFE`` counter inside ``model`` to zero."""
    for m in model.modules():
        if isinstance(m, CountNFE):
            m.nfe = 0


class NeuralODE(nn.Module):
    """A Neural ODE: ``ys = ODESolve(f, y0, ts)`` with torchdiffeq.

    Solves ``dy/dt = f(t, y)``, ``y(ts[0]) = y0`` and returns ``y`` at every time
    in ``ts``. Gradients flow either by backpropagation through the solver's
    operations (``adjoint=False``, memory grows with the number of steps) or by the
    adjoint method (``adjoint=True``, ``torchdiffeq.odeint_adjoint``: memory constant
    in the number of steps, but the gradient is only as accurate as the backward
    solve, whose tolerances are those given here).

    Args:
        field: the vector field, an ``nn.Module`` called as ``field(t, y)``.
        method: a torchdiffeq method, e.g. ``"dopri5"`` (adaptive, default),
            ``"rk4"`` or ``"euler"`` (fixed-step: pass ``options={"step_size": dt}``).
        rtol, atol: tolerances of adaptive methods.
        adjoint: train with the adjoint method instead of backpropagation.
        options: extra solver options passed to torchdiffeq.

    Attributes:
        nfe: evaluations of ``field`` counted since the last ``reset_nfe()``;
            forward and, after ``backward()``, the backward (adjoint) evaluations.

    Shapes: ``y0`` is ``(..., dim)``; ``ts`` is ``(T,)``; output ``(T, ..., dim)``.
    """

    def __init__(
        self,
        field: nn.Module,
        *,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-6,
        adjoint: bool = False,
        options: dict | None = None,
    ):
        super().__init__()
        if not isinstance(field, nn.Module):
            raise TypeError(
                f"field must be an nn.Module called as field(t, y), got "
                f"{type(field).__name__}; wrap plain functions in an nn.Module so "
                "that their parameters are trained"
            )
        check_field_signature(field)
        self.counter = CountNFE(field)
        self.solver = solver_settings(method, rtol, atol, options)
        self.method = method
        self.rtol, self.atol = self.solver["rtol"], self.solver["atol"]
        self.adjoint = adjoint
        self._checked_shape: tuple[int, ...] | None = None

    @property
    def field(self) -> nn.Module:
        return self.counter.field

    @property
    def nfe(self) -> int:
        return self.counter.nfe

    def reset_nfe(self) -> None:
        self.counter.nfe = 0

    def _check_field(self, ts: Tensor, y0: Tensor) -> None:
        """Evaluate the field once on ``y0`` and compare shapes (not counted in nfe)."""
        with torch.no_grad():
            out = self.field(ts[0], y0)
        check_field_output(out, y0)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(
                f"the vector field is not finite at the initial state (t = "
                f"{ts[0].item():.6g}); check its parameters for NaN or inf"
            )
        self._checked_shape = tuple(y0.shape)

    def forward(self, y0: Tensor, ts: Tensor) -> Tensor:
        check_y0(y0)
        check_param_dtype(y0, self.field.parameters())
        check_ts(ts)
        ts = ts.to(dtype=y0.dtype, device=y0.device)
        check_initial_state(self.field, y0)
        if self._checked_shape != tuple(y0.shape):
            self._check_field(ts, y0)
        solve = odeint_adjoint if self.adjoint else odeint
        kwargs = {}
        if self.adjoint:
            kwargs["adjoint_params"] = tuple(self.parameters())
        try:
            with explained_underflow(self.method, ts, lambda: self.counter.last_t):
                solver = solver_for(self.solver, y0)
                return solve(self.counter, y0, ts, **solver, **kwargs)
        except FloatingPointError:
            self._checked_shape = None
            self._check_field(ts, y0)  # a field that turned NaN explains the failure
            raise


class AugmentedNODE(nn.Module):
    """An augmented Neural ODE (ANODE): a Neural ODE on ``[x, 0]`` in ``d + p`` dims.

    The input ``x`` of width ``d`` is padded with ``p`` zeros, the state
    ``h = [x, a]`` follows ``dh/dt = f(t, h)`` in ``R^(d + p)`` from
    ``h(ts[0]) = [x, 0_p]``, and the readout is the first ``d`` coordinates of
    ``h`` (a fixed projection, nothing learned):

        h(t0) = [x, 0_p],   dh/dt = f(t, h),   output = h(t)[..., :d].

    The flow of ``f`` on ``R^(d + p)`` is still a homeomorphism, but its projection
    back to ``R^d`` need not be, so the model can represent maps that no Neural ODE
    on ``R^d`` can (for example ``x -> -x`` in 1-D, with ``p = 1``). With ``p = 0``
    it is exactly ``NeuralODE(field)``.

    The field is built here, at the augmented width ``d + p``: an
    ``MLPVectorField(d + p, hidden, n_layers, activation, time_dependent)``, or
    ``field_factory(d + p)`` if a factory is given. A factory whose field has
    another width is refused with a ``ValueError`` naming both shapes, before any
    integration.

    Args:
        dim: ``d``, the width of the inputs ``x``.
        augment_dim: ``p >= 0``, the number of zero-initialised extra dimensions.
        field_factory: optional callable ``width -> nn.Module`` building the field
            ``f(t, h)`` for states of that width.
        hidden, n_layers, activation, time_dependent: the default MLP field (see
            ``MLPVectorField``); ignored when ``field_factory`` is given.
        method, rtol, atol, adjoint, options: the solver (see ``NeuralODE``).

    Attributes:
        node: the ``NeuralODE`` on the augmented state (it counts ``nfe``).

    Shapes: ``x`` is ``(..., d)``, ``ts`` is ``(T,)``; ``forward`` returns
    ``(T, ..., d)`` and ``trajectory`` the augmented ``(T, ..., d + p)``.

    Warning:
        The model is no longer a flow on the data space: two inputs can reach the
        same output (their trajectories pass each other in the extra dimensions),
        and the map ``x -> output`` need not be invertible.
    """

    def __init__(
        self,
        dim: int,
        augment_dim: int,
        *,
        field_factory: Callable[[int], nn.Module] | None = None,
        hidden: int = 32,
        n_layers: int = 1,
        activation: str = "tanh",
        time_dependent: bool = False,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-6,
        adjoint: bool = False,
        options: dict | None = None,
    ):
        super().__init__()
        self.dim = positive_int("dim", dim)
        if (
            isinstance(augment_dim, bool)
            or not isinstance(augment_dim, int)
            or augment_dim < 0
        ):
            raise ValueError(
                f"augment_dim must be a non-negative int (0 gives a plain Neural "
                f"ODE), got {augment_dim!r}"
            )
        self.augment_dim = augment_dim
        width = dim + augment_dim
        if field_factory is None:
            field = MLPVectorField(
                width,
                hidden=hidden,
                n_layers=n_layers,
                activation=activation,
                time_dependent=time_dependent,
            )
        elif not callable(field_factory):
            raise TypeError(
                f"field_factory must be a callable width -> nn.Module, got "
                f"{type(field_factory).__name__}"
            )
        else:
            field = field_factory(width)
        self.node = NeuralODE(
            field, method=method, rtol=rtol, atol=atol, adjoint=adjoint, options=options
        )

    @property
    def width(self) -> int:
        """``d + p``, the width of the augmented state."""
        return self.dim + self.augment_dim

    @property
    def field(self) -> nn.Module:
        return self.node.field

    @property
    def nfe(self) -> int:
        return self.node.nfe

    def reset_nfe(self) -> None:
        self.node.reset_nfe()

    def augment(self, x: Tensor) -> Tensor:
        """``[x, 0_p]``: the input padded with ``p`` zeros, ``(..., d + p)``."""
        check_y0(x, "x")
        if x.ndim == 0 or x.shape[-1] != self.dim:
            shape = tuple(x.shape)
            raise ValueError(
                f"AugmentedNODE(dim={self.dim}) expects inputs of shape (..., "
                f"{self.dim}), got {shape}"
                + (" (for a batch of scalars, use x.unsqueeze(-1))" if shape else "")
            )
        if self.augment_dim == 0:
            return x
        zeros = x.new_zeros(*x.shape[:-1], self.augment_dim)
        return torch.cat([x, zeros], dim=-1)

    def trajectory(self, x: Tensor, ts: Tensor) -> Tensor:
        """The augmented trajectory ``h(t)`` at ``ts``, ``(T, ..., d + p)``."""
        h0 = self.augment(x)
        check_param_dtype(x, self.field.parameters(), "x")
        check_ts(ts)
        if self.node._checked_shape != tuple(h0.shape):
            # The field was built here; say so if its width is not the state's.
            try:
                self.node._check_field(ts.to(dtype=h0.dtype, device=h0.device), h0)
            except ValueError as err:
                raise ValueError(
                    f"AugmentedNODE(dim={self.dim}, augment_dim={self.augment_dim}) "
                    f"integrates states of width {self.width}: {err}"
                ) from None
        return self.node(h0, ts)

    def forward(self, x: Tensor, ts: Tensor) -> Tensor:
        """The first ``d`` coordinates of ``h`` at ``ts``, shape ``(T, ..., d)``.

        That is ``trajectory(x, ts)[..., :d]``.
        """
        return self.trajectory(x, ts)[..., : self.dim]
