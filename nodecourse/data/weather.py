"""Real daily weather for Seattle, 2012-2015, aggregated to monthly means.

The daily table ships inside the ``vega_datasets`` package (``seattle-weather``,
public-domain NOAA data: 1461 days, 2012-01-01 to 2015-12-31), so nothing is
downloaded. ``seattle_daily`` validates a daily frame; ``monthly_weather`` turns it
into the monthly series of the forecasting chapter::

    data = monthly_weather(n_train=24)
    data.ts            # (48,) months since January 2012: 0.0, 1.0, ..., 47.0
    data.ys            # (48, 4) standardised with the training months' statistics
    data.ys_train      # (24, 4), the first 24 months; data.ys_test the rest

The checks are strict on purpose. A day that appears twice, a day that is missing,
dates out of order or a missing value would each bias a monthly mean without any
visible sign, so each is an error that names the first offending date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from nodecourse._checks import positive_int

__all__ = ["VARIABLES", "UNITS", "MonthlyWeather", "monthly_weather", "seattle_daily"]

#: The four numeric variables, in the order of the columns of ``ys``.
VARIABLES = ("precipitation", "temp_max", "temp_min", "wind")
#: Their units in the daily table (daily totals and extremes; monthly means keep them).
UNITS = {"precipitation": "mm", "temp_max": "°C", "temp_min": "°C", "wind": "m/s"}


def _default_frame() -> pd.DataFrame:
    from vega_datasets import local_data

    return local_data.seattle_weather()


def _day(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def seattle_daily(frame: pd.DataFrame | None = None, *, sort: bool = False):
    """The daily weather table, checked: one row per day, no gaps, no missing values.

    Args:
        frame: a table with a ``date`` column and the columns of ``VARIABLES``;
            ``None`` (default) reads the ``seattle-weather`` table of
            ``vega_datasets`` (offline).
        sort: dates out of order are an error by default (in a file that should be
            chronological they signal a mistake upstream); ``sort=True`` sorts them
            instead. Duplicates and gaps are errors either way.

    Returns:
        A new DataFrame indexed by date (daily, consecutive) with the columns of
        ``VARIABLES`` as float64.

    Raises:
        TypeError: if ``frame`` is not a DataFrame.
        ValueError: naming the first offending date, for a missing column, a date
            that does not parse, dates out of order, a duplicated day, a missing day,
            or a missing or non-finite value.
    """
    if frame is None:
        frame = _default_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"frame must be a pandas DataFrame, got {type(frame).__name__}; "
            "pass None to use the Seattle table of vega_datasets"
        )
    missing = [c for c in ("date", *VARIABLES) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the weather table lacks the columns {missing}; it has "
            f"{list(frame.columns)}"
        )
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise ValueError(
            f"row {i}: date {frame['date'].iloc[i]!r} is not a date; fix or drop "
            "that row"
        )
    dates = dates.dt.normalize()
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    values = frame[list(VARIABLES)].apply(pd.to_numeric, errors="coerce")
    table = values.astype("float64").set_axis(pd.DatetimeIndex(dates), axis=0)

    # Phase 1: order, then duplicates, then gaps (each needs the one before).
    steps = np.diff(table.index.to_numpy()).astype("timedelta64[D]").astype(int)
    if (steps < 0).any():
        if not sort:
            i = int(np.flatnonzero(steps < 0)[0]) + 1
            raise ValueError(
                f"the dates are out of order: row {i} ({_day(table.index[i])}) comes "
                f"after {_day(table.index[i - 1])}; sort the table by date, or pass "
                "sort=True"
            )
        table = table.sort_index(kind="stable")
        steps = np.diff(table.index.to_numpy()).astype("timedelta64[D]").astype(int)
    if (steps == 0).any():
        day = table.index[int(np.flatnonzero(steps == 0)[0]) + 1]
        count = int((table.index == day).sum())
        raise ValueError(
            f"the day {_day(day)} appears {count} times; keep one row per day (e.g. "
            "frame.drop_duplicates('date')) after checking which row is right"
        )
    if (steps > 1).any():
        i = int(np.flatnonzero(steps > 1)[0])
        first_missing = table.index[i] + pd.Timedelta(days=1)
        n_missing = int(steps[i]) - 1
        raise ValueError(
            f"the day {_day(first_missing)} is missing ({n_missing} day(s) missing "
            f"after {_day(table.index[i])}); a monthly mean over a gap is biased, "
            "so fill the gap or cut the table there"
        )

    # Phase 2: every value present and finite.
    bad = ~np.isfinite(table.to_numpy())
    if bad.any():
        row, col = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"{VARIABLES[col]} on {_day(table.index[row])} is "
            f"{table.iloc[row, col]}, not a finite number (a missing or unreadable "
            "value); fill or drop that day"
        )
    table.index.name = "date"
    return table


@dataclass(frozen=True)
class MonthlyWeather:
    """Monthly means of the daily weather, split by time and standardised.

    Attributes:
        ts: months since the first month, ``(T,)`` float (0.0, 1.0, ...): time in
            real units, which stays right if a month is ever left out.
        ys: the standardised series, ``(T, 4)``: ``(raw - mean) / std``.
        raw: the monthly means in original units (``UNITS``), ``(T, 4)``.
        names: the variables, in the order of the columns.
        n_train: the first ``n_train`` months are the training part, the rest
            the test part (a split by time: every test month is later).
        mean, std: ``(4,)``, statistics of the training months only (population
            standard deviation), so nothing of the test period leaks into them.
        dates: the first day of each month, ``(T,)`` ``pandas.DatetimeIndex``.
    """

    ts: Tensor
    ys: Tensor
    raw: Tensor
    names: tuple[str, ...]
    n_train: int
    mean: Tensor
    std: Tensor
    dates: pd.DatetimeIndex

    @property
    def ts_train(self) -> Tensor:
        return self.ts[: self.n_train]

    @property
    def ts_test(self) -> Tensor:
        return self.ts[self.n_train :]

    @property
    def ys_train(self) -> Tensor:
        return self.ys[: self.n_train]

    @property
    def ys_test(self) -> Tensor:
        return self.ys[self.n_train :]

    @property
    def raw_train(self) -> Tensor:
        return self.raw[: self.n_train]

    @property
    def raw_test(self) -> Tensor:
        return self.raw[self.n_train :]

    def to_original(self, ys: Tensor) -> Tensor:
        """Undo the standardisation: ``ys * std + mean``, for ``(..., 4)``."""
        return ys * self.std.to(ys) + self.mean.to(ys)

    def standardise(self, raw: Tensor) -> Tensor:
        """``(raw - mean) / std`` with the training statistics, for ``(..., 4)``."""
        return (raw - self.mean.to(raw)) / self.std.to(raw)


def monthly_weather(
    frame: pd.DataFrame | None = None,
    *,
    n_train: int = 24,
    sort: bool = False,
    dtype: torch.dtype = torch.float32,
) -> MonthlyWeather:
    """Monthly means of the four daily variables, split by time and standardised.

    Each month's value is the mean of its days, ``y_m = (1/|m|) sum_{d in m} y_d``;
    months are kept only if every one of their days is in the table. The split is
    by time: months ``0 .. n_train - 1`` train, the rest test. The mean and the
    standard deviation of each variable come from the training months alone.

    Args:
        frame: the daily table (see ``seattle_daily``); ``None`` reads the Seattle
            table of ``vega_datasets``.
        n_train: the number of training months (at least 2, and at least one month
            must be left for the test part).
        sort: passed to ``seattle_daily`` (sort dates out of order instead of
            rejecting them).
        dtype: the floating dtype of the tensors.

    Returns:
        A ``MonthlyWeather``.

    Raises:
        ValueError: from ``seattle_daily`` (naming the offending date); if the table
            does not start on the first day of a month or end on the last day of
            one (a partial month would be a biased mean); if ``n_train`` leaves no
            test month; if a variable is constant over the training months.
    """
    table = seattle_daily(frame, sort=sort)
    first, last = table.index[0], table.index[-1]
    if first.day != 1 or not last.is_month_end:
        which = first if first.day != 1 else last
        raise ValueError(
            f"the table runs from {_day(first)} to {_day(last)}, so the month of "
            f"{_day(which)} is incomplete; cut it to whole months"
        )
    monthly = table.resample("MS").mean()
    n_months = len(monthly)
    n_train = positive_int("n_train", n_train, " (training months)")
    if not 2 <= n_train < n_months:
        raise ValueError(
            f"n_train={n_train}, but the table has {n_months} months; choose "
            f"2 <= n_train <= {n_months - 1} so that both parts are non-empty"
        )
    dates = pd.DatetimeIndex(monthly.index)
    months = (dates.year - dates[0].year) * 12 + (dates.month - dates[0].month)

    raw64 = torch.tensor(monthly.to_numpy(), dtype=torch.float64)  # (T, 4)
    mean = raw64[:n_train].mean(dim=0)
    std = raw64[:n_train].std(dim=0, correction=0)
    if bool((std == 0).any()):
        name = VARIABLES[int((std == 0).nonzero()[0])]
        raise ValueError(
            f"{name} is constant over the {n_train} training months, so it cannot "
            "be standardised; use more training months"
        )
    return MonthlyWeather(
        ts=torch.tensor(np.asarray(months), dtype=dtype),
        ys=((raw64 - mean) / std).to(dtype),
        raw=raw64.to(dtype),
        names=VARIABLES,
        n_train=n_train,
        mean=mean.to(dtype),
        std=std.to(dtype),
        dates=dates,
    )
