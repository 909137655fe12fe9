"""The committed weather results are what the code produces: re-run the first round."""

import numpy as np

from nodecourse.experiments import weather


def test_first_round_reproduces_the_committed_results():
    committed = weather.load_results()
    assert committed["config"] == weather.CONFIG, (
        "the committed results were made with another CONFIG; re-run "
        "`python -m nodecourse.experiments.weather`"
    )
    again = weather.run(rounds=1, curriculum_only=True, progress=False)
    assert again["windows"] == committed["windows"][:1]
    assert again["dates"] == committed["dates"]
    # float64 on the CPU: the same code gives the same numbers up to the rounding of
    # the file (10 decimals for losses, 6 for trajectories in mm, deg C and m/s).
    np.testing.assert_allclose(
        again["curriculum"]["loss"][0], committed["curriculum"]["loss"][0], atol=1e-9
    )
    np.testing.assert_allclose(
        again["curriculum"]["trajectories"][0],
        committed["curriculum"]["trajectories"][0],
        atol=1e-5,
    )


def test_committed_results_are_complete_and_finite():
    results = weather.load_results()
    seeds = len(results["config"]["seeds"])
    assert results["windows"] == [6, 12, 18, 24]
    curriculum = results["curriculum"]
    assert len(curriculum["loss"]) == len(results["windows"])
    assert all(
        len(round_) == results["config"]["epochs"] for round_ in curriculum["loss"]
    )
    trajectories = np.array(curriculum["trajectories"])
    assert trajectories.shape == (4, seeds, 48, 4)
    assert np.isfinite(trajectories).all()
    assert np.array(curriculum["test_rmse"]).shape == (seeds, 4)
    assert np.array(results["whole_window"]["trajectory"]).shape == (seeds, 48, 4)
