"""The command lines of the experiments: help, defaults and bad values.

Only the argument parsing runs here (``parse_args``); the experiments take minutes.
"""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from nodecourse.experiments import sode_sweep  # noqa: E402


def test_sweep_figures_of_a_family_not_swept_have_no_legend_and_no_warning():
    table = sode_sweep.load()
    table = table[table["family"] == "riccati"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = sode_sweep.plot_across_n(table, "s_system")
        full = sode_sweep.plot_across_n(table, "riccati")
        by_family = sode_sweep.plot_by_family(table, 2)
    assert empty.axes[0].get_legend() is None
    assert full.axes[0].get_legend() is not None
    assert by_family.axes[0].get_legend() is not None
    plt.close("all")
