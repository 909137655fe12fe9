"""Plotting functions are pure: arrays in, (fig, ax) out, on a given ax if any."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import nodecourse as nc  # noqa: E402
from nodecourse import plotting  # noqa: E402


def test_plot_fit_draws_data_and_model_on_the_given_ax():
    fig, ax = plt.subplots()
    x = torch.linspace(0, 1, 10)
    out_fig, out_ax = plotting.plot_fit(x, x**2, x, x_pred=x)
    assert out_fig is not fig  # a new figure when no ax is given
    out_fig, out_ax = plotting.plot_fit(x, x**2, x, ax=ax)
    assert out_ax is ax and out_fig is fig
    data, model = ax.lines
    assert data.get_color() == plotting.DATA_COLOR
    np.testing.assert_allclose(model.get_ydata(), x.numpy())
    plt.close("all")


def test_plot_history_convergence_and_trajectories():
    history = nc.History(loss=[1.0, 0.5, 0.2], val_loss=[1.1, 0.6, 0.4])
    _, ax = plotting.plot_history(history)
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    dts = np.array([0.1, 0.05])
    _, ax = plotting.plot_convergence(dts, {"euler": dts}, orders={"euler": 1})
    np.testing.assert_allclose(ax.lines[1].get_ydata(), dts)
    _, ax = plotting.plot_convergence(
        dts, {"rk4": [1.0, 0.1]}, orders={"rk4": 4}, anchor=-1
    )
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.6, 0.1])
    ts = torch.linspace(0, 1, 5)
    ys = torch.stack([ts, 2 * ts], dim=1)
    _, ax = plotting.plot_trajectories(ts, ys, exact=ys)
    assert len(ax.lines) == 4
    plt.close("all")
