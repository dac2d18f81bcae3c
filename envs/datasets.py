"""Bundled real price data (offline) and a loader for a user's own close-price CSV.

The bundled files are described, with provenance, in ``envs/data/README.md``.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "SP500_FILE",
    "STOCKS_FILE",
    "DataError",
    "load_closes",
    "load_sp500_index",
    "load_stock_closes",
    "parse_date",
]

STOCKS_FILE = "us_stocks_20_daily_close_1990_2022.csv.gz"
SP500_FILE = "sp500_index_daily_1990_2022.csv.gz"


class DataError(ValueError):
    """A problem with market data a user asked for (missing file, unknown ticker, bad range)."""


def parse_date(value: object, what: str = "date") -> pd.Timestamp:
    """``value`` as a timestamp.

    Args:
        value: a date such as ``"2020-01-31"`` (or a timestamp).
        what: how the caller names the value in the error, e.g. ``"--start"``.

    Raises:
        DataError: one line naming the value, instead of pandas' parse error.
    """
    ts = pd.NaT
    # a number would be read as nanoseconds since 1970: never what a user means
    if not isinstance(value, (int, float, np.number)):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            pass
    if ts is pd.NaT:
        raise DataError(f"{what} {value!r} is not a date; use YYYY-MM-DD")
    return ts


def _bundled(name: str) -> Path:
    return Path(str(resources.files("qmml.envs") / "data" / name))


@lru_cache(maxsize=8)
def _read_csv(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {path!r} not found; give an existing CSV path or 'bundled'")
    try:
        df = pd.read_csv(p)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise DataError(
            f"{path}: cannot read as CSV ({err}); expected a header row with a "
            "'Date' column and one column of closes per ticker"
        ) from None
    date_col = next((c for c in df.columns if str(c).lower() in ("date", "datetime", "time")), None)
    if date_col is None:
        raise DataError(f"{path}: no 'Date' column; columns are {', '.join(map(str, df.columns))}")
    from qmml.envs.market.data import (
        parse_date_column,  # here: envs.market.data imports this module
    )

    dates = parse_date_column(df[date_col], p, str(date_col))  # YYYYMMDD, local dates, no tz
    if dates.isna().any():
        bad = df[date_col][dates.isna()].iloc[0]
        raise DataError(f"{path}: unparsable date {bad!r} in column {date_col!r}; use YYYY-MM-DD")
    df = df.drop(columns=[date_col]).set_index(pd.DatetimeIndex(dates, name="Date"))
    if df.index.has_duplicates:
        raise DataError(
            f"{path}: duplicate date {df.index[df.index.duplicated()][0].date()}; "
            "each date must appear once"
        )
    if not df.index.is_monotonic_increasing:
        raise DataError(f"{path}: rows are not sorted by date; sort them ascending")
    non_num = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_num:
        raise DataError(f"{path}: non-numeric price column(s) {', '.join(non_num)}")
    return df.astype(np.float64)


def load_closes(
    path: str | Path | None = None,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """Daily closes, one column per ticker, indexed by date.

    Args:
        path: a CSV with a ``Date`` column and one close column per ticker; None for the
            bundled 20-stock file.
        tickers: columns to keep (default: all).
        start, end: inclusive date range (``YYYY-MM-DD``); default: the whole file.

    Raises:
        DataError: missing file, unknown ticker, a range outside the data, too few rows,
            missing or non-positive prices.
    """
    src = str(path) if path is not None else str(_bundled(STOCKS_FILE))
    df = _read_csv(src)
    if tickers:
        unknown = [t for t in tickers if t not in df.columns]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], list(df.columns), n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
            raise DataError(
                f"unknown ticker {unknown[0]!r}; available: {', '.join(df.columns)}{did}"
            )
        df = df[list(tickers)]
    first, last = df.index[0].date(), df.index[-1].date()
    lo = parse_date(start, "start") if start else df.index[0]
    hi = parse_date(end, "end") if end else df.index[-1]
    if lo > hi:
        raise DataError(f"start {lo.date()} is after end {hi.date()}")
    if lo > df.index[-1] or hi < df.index[0]:
        raise DataError(
            f"date range {lo.date()}..{hi.date()} is outside the data "
            f"({first}..{last}); choose dates inside it"
        )
    out = df.loc[lo:hi]
    if len(out) < 3:
        raise DataError(
            f"only {len(out)} trading days in {lo.date()}..{hi.date()}; need at least 3"
        )
    if out.isna().any().any():
        col = out.columns[out.isna().any()][0]
        raise DataError(
            f"ticker {col!r} has missing prices in {lo.date()}..{hi.date()}; "
            "choose another range or drop the ticker"
        )
    if (out <= 0).any().any():
        col = out.columns[(out <= 0).any()][0]
        raise DataError(f"ticker {col!r} has non-positive prices; prices must be > 0")
    return out.copy()


def load_stock_closes(
    tickers: list[str] | None = None, start: str | None = None, end: str | None = None
) -> pd.DataFrame:
    """The bundled 20-stock daily closes (1990-01-02 .. 2022-12-28); see :func:`load_closes`."""
    return load_closes(None, tickers, start, end)


def load_sp500_index(start: str | None = None, end: str | None = None) -> pd.Series:
    """The bundled S&P 500 index level, daily (1990-01-02 .. 2022-12-28)."""
    return load_closes(_bundled(SP500_FILE), ["SP500"], start, end)["SP500"]
