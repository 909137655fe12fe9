"""nodecourse: the helper package of a course on neural networks and Neural ODEs.

The notebooks of the course import what they need from here::

    import nodecourse as nc

    nc.seed_everything(0)
    device = nc.get_device()
    sol = nc.rk4(lambda t, y: -y, y0, ts, dt=0.1)

Modules: ``device`` (device, seeds, dtype policy), ``solvers`` (Euler and RK4 for
teaching), ``models`` (one-hidden-layer net, residual net, vector fields, Neural
ODE, augmented Neural ODE), ``adjoint`` (the adjoint method from scratch),
``training`` (the fit loop), ``memory`` (graph and peak memory of a backward
pass), ``metrics`` (``eps_r``, the relative error; ``trajectory_mse``, a loss on
trajectories), ``sode`` (Lotka-Volterra, Riccati and
S-systems as function approximators), ``data`` (data sets), ``forecast`` (a Neural
ODE on a growing window, forecasting baselines, RMSE), ``ude`` (universal
differential equations: SIR with a learned quarantine term), ``plotting`` (pure
plotting functions); ``experiments`` holds the long runs (``python -m``).
"""

from nodecourse import adjoint, data, forecast, memory, plotting, sode, ude
from nodecourse.adjoint import adjoint_odeint
from nodecourse.device import as_device, get_device, resolve_dtype, seed_everything
from nodecourse.metrics import eps_r, trajectory_mse
from nodecourse.models import (
    AugmentedNODE,
    CountNFE,
    MLPVectorField,
    NeuralODE,
    OneHiddenLayer,
    ResidualNet,
    count_nfe,
    reset_nfe,
)
from nodecourse.solvers import (
    Solution,
    check_ts,
    convergence_order,
    euler,
    euler_step,
    odeint_fixed,
    rk4,
    rk4_step,
    step_counts,
)
from nodecourse.training import History, TrainingDiverged, fit

__version__ = "0.1.0"

__all__ = [
    "AugmentedNODE",
    "CountNFE",
    "History",
    "MLPVectorField",
    "NeuralODE",
    "OneHiddenLayer",
    "ResidualNet",
    "Solution",
    "TrainingDiverged",
    "adjoint",
    "adjoint_odeint",
    "as_device",
    "check_ts",
    "convergence_order",
    "count_nfe",
    "data",
    "eps_r",
    "euler",
    "euler_step",
    "fit",
    "forecast",
    "get_device",
    "memory",
    "odeint_fixed",
    "plotting",
    "reset_nfe",
    "resolve_dtype",
    "rk4",
    "rk4_step",
    "seed_everything",
    "sode",
    "step_counts",
    "trajectory_mse",
    "ude",
]
