"""The command lines of the experiments: help, defaults and bad values.

Only the argument parsing runs here (``parse_args``); the experiments take minutes.
"""

import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from nodecourse.experiments import epidemic, sode_sweep, weather  # noqa: E402

# module, its default output (a folder for the sweep, a JSON file for the others)
MODULES = {
    "sode_sweep": (sode_sweep, sode_sweep.RESULTS),
    "weather": (weather, weather.RESULTS_PATH),
    "epidemic": (epidemic, epidemic.RESULTS),
}


def _error(module, argv, capsys) -> str:
    """The argparse error message for ``argv`` (it exits with status 2)."""
    with pytest.raises(SystemExit) as exit_:
        module.parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m nodecourse.experiments.")
    return err


@pytest.mark.parametrize("name", MODULES)
def test_help_names_the_command_the_default_results_and_how_to_write_elsewhere(
    name, capsys
):
    module, default = MODULES[name]
    with pytest.raises(SystemExit) as exit_:
        module.parse_args(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m nodecourse.experiments.{name} ")
    assert str(default) in out  # the exact default, not wrapped
    assert "replacing the committed results" in out
    assert "--out" in out


@pytest.mark.parametrize("name", MODULES)
def test_the_default_output_is_the_committed_results(name):
    module, default = MODULES[name]
    assert module.parse_args([]).out == default
    assert default.exists()


def test_sweep_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        sode_sweep.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo the wrapping
    assert "(default: 0 1 2)" in out
    assert "(default: 2 5 10)" in out
    assert "(default: 3000)" in out


def test_sweep_default_seeds_are_those_of_the_committed_table():
    committed = json.loads(sode_sweep.SETTINGS_FILE.read_text())
    assert list(sode_sweep.SEEDS) == committed["seeds"]
    args = sode_sweep.parse_args([])
    assert args.seeds == committed["seeds"]
    assert args.ns == committed["ns"]
    assert args.max_iters == committed["settings"]["max_iters"]
    assert args.families == committed["families"]


def test_sweep_accepts_good_values(tmp_path):
    out = tmp_path / "new" / "folder"
    args = sode_sweep.parse_args(
        ["--seeds", "0", "5", "--ns", "3", "--max-iters", "1", "--out", str(out)]
    )
    assert (args.seeds, args.ns, args.max_iters, args.out) == ([0, 5], [3], 1, out)
    assert not out.exists()  # parsing creates nothing
    assert sode_sweep.parse_args(["--out", str(tmp_path)]).out == tmp_path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ns", "0"], "argument --ns: 0 is not a positive whole number"),
        (["--ns", "2", "-3"], "argument --ns: -3 is not a positive whole number"),
        (["--max-iters", "0"], "argument --max-iters: 0 is not a positive whole"),
        (["--max-iters", "1.5"], "argument --max-iters: 1.5 is not a whole number"),
        (["--seeds", "-1"], "argument --seeds: -1 is not a non-negative whole"),
        (["--seeds", "x"], "argument --seeds: x is not a whole number"),
        (["--seeds", "0", "1", "0"], "--seeds 0 1 0: seed 0 is given twice"),
        (["--ns", "2", "2"], "--ns 2 2: size 2 is given twice"),
    ],
)
def test_sweep_rejects_bad_numbers(argv, message, capsys):
    assert message in _error(sode_sweep, argv, capsys)


def test_sweep_rejects_an_out_that_is_not_a_folder(tmp_path, capsys):
    err = _error(sode_sweep, ["--out", "/dev/null"], capsys)
    assert "--out /dev/null: exists and is not a folder" in err
    file = tmp_path / "file"
    file.write_text("")
    err = _error(sode_sweep, ["--out", str(file / "sub")], capsys)
    assert f"--out {file / 'sub'}: {file} is not a folder" in err
    assert file.read_text() == ""


@pytest.mark.parametrize("name", ["weather", "epidemic"])
def test_json_experiments_reject_an_out_that_cannot_be_written(name, tmp_path, capsys):
    module = MODULES[name][0]
    err = _error(module, ["--out", str(tmp_path)], capsys)
    assert f"--out {tmp_path}: is a folder; give the path of the JSON file" in err
    file = tmp_path / "file"
    file.write_text("")
    err = _error(module, ["--out", str(file / "x.json")], capsys)
    assert f"--out {file / 'x.json'}: {file} is not a folder" in err


@pytest.mark.parametrize("name", ["weather", "epidemic"])
def test_json_experiments_accept_out(name, tmp_path):
    path = tmp_path / "new" / "results.json"
    assert MODULES[name][0].parse_args(["--out", str(path)]).out == path
    assert not path.parent.exists()


def test_weather_keeps_output_as_an_alias_of_out(tmp_path):
    path = tmp_path / "w.json"
    assert weather.parse_args(["--output", str(path)]).out == path


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


def test_an_out_that_cannot_be_written_is_rejected_before_the_run(
    tmp_path, capsys, monkeypatch
):
    from nodecourse.experiments import _cli

    monkeypatch.setattr(_cli.os, "access", lambda path, mode: False)
    err = _error(sode_sweep, ["--out", str(tmp_path)], capsys)
    assert f"--out {tmp_path}: the folder is not writable" in err
    err = _error(sode_sweep, ["--out", str(tmp_path / "new")], capsys)
    assert f"--out {tmp_path / 'new'}: the folder {tmp_path} is not writable" in err
    err = _error(weather, ["--out", str(tmp_path / "w.json")], capsys)
    assert f"--out {tmp_path / 'w.json'}: the folder {tmp_path} is not writable" in err
    (tmp_path / "e.json").write_text("")
    err = _error(epidemic, ["--out", str(tmp_path / "e.json")], capsys)
    assert f"--out {tmp_path / 'e.json'}: the file is not writable" in err


@pytest.mark.parametrize("name", MODULES)
def test_an_empty_out_is_refused_not_read_as_the_current_folder(name, capsys):
    module, _ = MODULES[name]
    assert "--out is empty; give a path" in _error(module, ["--out", ""], capsys)


@pytest.mark.parametrize("name", ["weather", "epidemic"])
def test_a_json_out_written_like_a_folder_is_refused(name, tmp_path, capsys):
    module, default = MODULES[name]
    typed = f"{tmp_path / 'new'}/"
    err = _error(module, ["--out", typed], capsys)
    assert "ends with a slash, like a folder" in err
    assert str(tmp_path / "new" / default.name) in err


@pytest.mark.parametrize("name", MODULES)
def test_progress_bars_follow_the_flags_or_the_terminal(name):
    module, _ = MODULES[name]
    assert module.parse_args([]).progress is None  # automatic, as in nc.fit
    assert module.parse_args(["--progress"]).progress is True
    assert module.parse_args(["--no-progress"]).progress is False


def test_load_params_lists_what_is_stored():
    stored = r"the targets \[.*'x'.*\] and the seeds \[0, 1, 2\]"
    with pytest.raises(KeyError, match=stored):
        sode_sweep.load_params("s_system", 2, "nope", 1)
