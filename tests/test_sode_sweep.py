"""The committed results of the sweep: complete, consistent, and reproducible."""

import json
import math

import pytest
import torch

import nodecourse as nc
from nodecourse import sode
from nodecourse.experiments import sode_sweep

TABLE = sode_sweep.load()
META = json.loads(sode_sweep.SETTINGS_FILE.read_text())


def test_the_table_covers_the_whole_grid():
    seeds = META["seeds"]
    assert list(TABLE.columns) == sode_sweep.COLUMNS
    assert len(TABLE) == len(sode.FAMILIES) * 3 * len(sode.TARGETS) * len(seeds)
    keys = TABLE[["family", "n", "target", "seed"]].drop_duplicates()
    assert len(keys) == len(TABLE)
    assert set(TABLE["n"]) == {2, 5, 10}
    assert set(TABLE["target"]) == set(sode.TARGETS)
    assert META["settings"] == sode_sweep.SETTINGS


def test_the_table_is_internally_consistent():
    tol = META["settings"]["tol"]
    for row in TABLE.itertuples():
        assert row.n_params == sode.n_params(row.family, row.n, with_z0=True)
        if row.reached:
            assert row.eps_r < tol and row.failure == ""
            assert row.iterations < META["settings"]["max_iters"]
        else:
            assert row.failure != ""
            assert not row.eps_r < tol
        assert row.nfe > 0 and row.seconds >= 0
        # eps_r_check is NaN exactly when its re-solve says why.
        assert (row.check_failure != "") == math.isnan(row.eps_r_check), row
        # No diverged state is recorded as an error: blow-ups are failures.
        assert math.isnan(row.eps_r) or row.eps_r < 1e3, row


def test_the_stored_parameters_reproduce_the_recorded_errors():
    xs = sode.sample_grid(META["settings"]["n_points"], dtype=torch.float64)
    rows = TABLE[TABLE["n"].isin(sode_sweep.PARAM_NS)]
    assert len(rows) == len(sode.FAMILIES) * len(sode.TARGETS) * len(META["seeds"])
    for row in rows.itertuples():
        params = sode_sweep.load_params(row.family, row.n, row.target, row.seed)
        pred = sode.predict(row.family, params, xs, dt=META["settings"]["dt"])[0]
        if math.isnan(row.eps_r):
            continue  # a failed fit: its parameters are those of the failure
        error = nc.eps_r(pred, sode.target(row.target, xs))
        # The sweep solved this fit padded to n = 10: equal up to round-off.
        assert error == pytest.approx(row.eps_r, rel=1e-6), row


# A slice re-run from scratch, with the committed settings: fits that reach the
# tolerance in a few hundred iterations, one of which (Riccati on 3/(x+1)) is not
# confirmed: re-solved with dt/4 its error is just above the tolerance.
SLICE = [
    ("s_system", 2, ("constant", "3/(x+1)")),
    ("riccati", 2, ("constant", "3/(x+1)")),
]


@pytest.mark.parametrize(("family", "n", "targets"), SLICE)
def test_a_slice_rerun_agrees_with_the_committed_table(family, n, targets):
    fresh = sode_sweep.run_family(family, (n,), targets, (0,))
    for row in fresh.itertuples():
        committed = TABLE[
            (TABLE["family"] == family)
            & (TABLE["n"] == n)
            & (TABLE["target"] == row.target)
            & (TABLE["seed"] == 0)
        ].iloc[0]
        assert bool(row.reached) == bool(committed["reached"]), row.target
        # In the sweep this fit shared a batch padded to n = 10, so round-off
        # differs slightly; the stopping iteration may move by a few.
        assert abs(row.iterations - committed["iterations"]) <= max(
            5, 0.02 * committed["iterations"]
        )
        assert row.eps_r == pytest.approx(committed["eps_r"], rel=0.02, abs=2e-4)
        assert row.eps_r_check == pytest.approx(
            committed["eps_r_check"], rel=0.02, abs=2e-4
        )
    confirmed = sode_sweep.confirmed(fresh).tolist()
    if family == "riccati":
        assert confirmed == [True, False]  # 3/(x+1): eps_r_check >= tol
    else:
        assert confirmed == [True, True]
