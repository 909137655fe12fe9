"""The weather loader: strict checks on the daily table, monthly means, the split."""

import numpy as np
import pandas as pd
import pytest
import torch
from vega_datasets import local_data

from nodecourse.data import VARIABLES, monthly_weather, seattle_daily


def daily_frame(start="2020-01-01", end="2020-06-30", seed=0):
    """A small synthetic daily table with the columns of the Seattle one."""
    dates = pd.date_range(start, end, freq="D")
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"date": dates})
    for i, name in enumerate(VARIABLES):
        frame[name] = rng.normal(loc=5.0 * i, scale=1.0 + i, size=len(dates))
    frame["weather"] = "sun"
    return frame


# --- the real table ----------------------------------------------------------


def test_seattle_table_is_complete_and_monthly_shapes():
    daily = seattle_daily()
    assert daily.shape == (1461, 4)
    assert daily.index[0] == pd.Timestamp("2012-01-01")
    assert daily.index[-1] == pd.Timestamp("2015-12-31")
    data = monthly_weather(n_train=24)
    assert data.ts.shape == (48,) and data.ys.shape == (48, 4)
    assert data.raw.shape == (48, 4) and len(data.dates) == 48
    assert data.names == VARIABLES
    assert data.ys_train.shape == (24, 4) and data.ys_test.shape == (24, 4)
    assert data.ts.dtype == data.ys.dtype == torch.float32
    # Time in months since January 2012.
    assert torch.equal(data.ts, torch.arange(48, dtype=torch.float32))
    assert data.dates[24] == pd.Timestamp("2014-01-01")


def test_monthly_mean_of_february_2012_by_hand():
    # Read the package's CSV file directly, without the loader.
    raw = pd.read_csv(local_data.seattle_weather.filepath, parse_dates=["date"])
    feb = raw[(raw.date >= "2012-02-01") & (raw.date <= "2012-02-29")]
    assert len(feb) == 29  # a leap year
    by_hand = [sum(feb[name]) / 29 for name in VARIABLES]
    data = monthly_weather(dtype=torch.float64)
    assert data.dates[1] == pd.Timestamp("2012-02-01")
    np.testing.assert_allclose(data.raw[1].numpy(), by_hand, rtol=1e-12)


def test_monthly_mean_of_a_synthetic_month():
    frame = daily_frame()
    march = frame[frame.date.dt.month == 3]
    data = monthly_weather(frame, n_train=3, dtype=torch.float64)
    assert len(data.ts) == 6
    np.testing.assert_allclose(
        data.raw[2].numpy(), march[list(VARIABLES)].mean().to_numpy(), rtol=1e-12
    )


# --- the split and the statistics --------------------------------------------


def test_split_is_by_time_and_statistics_are_from_training_months_only():
    data = monthly_weather(n_train=24, dtype=torch.float64)
    assert data.ts_train.max() < data.ts_test.min()
    assert (data.dates[: data.n_train] < data.dates[data.n_train]).all()
    train = data.raw_train.numpy()
    np.testing.assert_allclose(data.mean.numpy(), train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(data.std.numpy(), train.std(axis=0), rtol=1e-12)
    assert abs(data.ys_train.mean(dim=0)).max() < 1e-12
    assert abs(data.ys_train.std(dim=0, correction=0) - 1).max() < 1e-12
    # Round trip to the original units.
    assert torch.allclose(data.to_original(data.ys), data.raw, rtol=1e-12)


def test_changing_the_test_period_leaves_the_statistics_unchanged():
    frame = daily_frame(end="2020-12-31")
    changed = frame.copy()
    late = changed.date >= "2020-07-01"
    changed.loc[late, list(VARIABLES)] = changed.loc[late, list(VARIABLES)] * 10 + 99
    a = monthly_weather(frame, n_train=6, dtype=torch.float64)
    b = monthly_weather(changed, n_train=6, dtype=torch.float64)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert torch.equal(a.ys_train, b.ys_train)
    assert not torch.allclose(a.ys_test, b.ys_test)
    # ... while changing one training day moves them.
    changed.loc[0, "wind"] += 30.0
    c = monthly_weather(changed, n_train=6, dtype=torch.float64)
    assert not torch.equal(a.mean, c.mean)


# --- bad tables: each error names the date -----------------------------------


def test_duplicated_day_is_rejected_with_its_date():
    frame = daily_frame()
    frame = pd.concat([frame.iloc[:40], frame.iloc[39:]], ignore_index=True)
    with pytest.raises(ValueError, match=r"2020-02-09 appears 2 times"):
        monthly_weather(frame)
    with pytest.raises(ValueError, match=r"2020-02-09 appears 2 times"):
        monthly_weather(frame, sort=True)


def test_unsorted_dates_are_rejected_with_the_date_or_sorted_on_request():
    frame = daily_frame()
    swapped = frame.copy()
    swapped.iloc[[10, 11]] = swapped.iloc[[11, 10]].to_numpy()
    message = r"row 11 \(2020-01-11\) comes after 2020-01-12"
    with pytest.raises(ValueError, match=message):
        monthly_weather(swapped)
    a = monthly_weather(frame, n_train=3)
    b = monthly_weather(swapped, n_train=3, sort=True)
    assert torch.equal(a.ys, b.ys) and torch.equal(a.raw, b.raw)


def test_missing_day_is_rejected_with_its_date():
    frame = daily_frame()
    gap = frame[(frame.date < "2020-03-05") | (frame.date > "2020-03-07")]
    with pytest.raises(ValueError, match=r"2020-03-05 is missing \(3 day\(s\)"):
        monthly_weather(gap)


def test_missing_value_is_rejected_with_its_date_and_variable():
    frame = daily_frame()
    frame.loc[frame.date == "2020-04-02", "temp_min"] = np.nan
    with pytest.raises(ValueError, match=r"temp_min on 2020-04-02 is nan"):
        monthly_weather(frame)


def test_unparsable_date_missing_column_and_partial_month_are_rejected():
    frame = daily_frame().astype({"date": object})
    frame.loc[5, "date"] = "not a date"
    with pytest.raises(ValueError, match=r"row 5: date 'not a date'"):
        monthly_weather(frame)
    with pytest.raises(ValueError, match=r"lacks the columns \['wind'\]"):
        monthly_weather(daily_frame().drop(columns="wind"))
    with pytest.raises(ValueError, match=r"month of 2020-06-29 is incomplete"):
        monthly_weather(daily_frame(end="2020-06-29"))
    with pytest.raises(TypeError, match="DataFrame"):
        monthly_weather(np.zeros((3, 5)))


@pytest.mark.parametrize("n_train", [0, 1, 6, 7])
def test_n_train_must_leave_both_parts(n_train):
    with pytest.raises(ValueError, match="n_train"):
        monthly_weather(daily_frame(), n_train=n_train)
