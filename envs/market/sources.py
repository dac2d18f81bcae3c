"""Every source of market data behind one :func:`load_market`: the bundled files (offline),
a user's CSV, Yahoo Finance (with an on-disk cache, :mod:`qmml.envs.market.yahoo`) and synthetic
paths (:mod:`qmml.envs.market.synthetic`, generated from a seed). The CSV reading and
validation helpers live in :mod:`qmml.envs.market.csv_parse`.

Bundled sources (provenance in ``envs/data/README.md``):

============== ============================================= ==========================
name           what                                          columns
============== ============================================= ==========================
``stocks20``   20 large US stocks, 1990-01-02 .. 2022-12-28  adjusted close only
``sp500``      S&P 500 index level, 1990-01-02 .. 2022-12-28 close only
``sp500-ohlcv`` S&P 500 index, 1999-01-04 .. 2018-12-31      open, high, low, close, volume
``nasdaq-ohlcv`` NASDAQ Composite, 1999-01-04 .. 2018-12-31  open, high, low, close, volume
============== ============================================= ==========================

To add a source: a function returning a :class:`~qmml.envs.market.data.Market` (built with
:func:`~qmml.envs.market.data.market_from_frames`), and one branch in :func:`load_market`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from qmml.envs.market.csv_parse import _dates, _numeric, _read_file, _unique_sorted
from qmml.envs.market.data import (
    _FIELDS,
    DataError,
    Market,
    bar_columns,
    check_repeats,
    check_tickers,
    did_you_mean,
    market_from_frames,
    parse_date,
    parse_date_column,
)

__all__ = ["BUNDLED", "SOURCES", "load_bundled", "load_csv", "load_market"]

BUNDLED = {
    "stocks20": "us_stocks_20_daily_close_1990_2022.csv.gz",
    "sp500": "sp500_index_daily_1990_2022.csv.gz",
    "sp500-ohlcv": "sp500_ohlcv_daily_1999_2018.csv.gz",
    "nasdaq-ohlcv": "nasdaq_ohlcv_daily_1999_2018.csv.gz",
}
# every name load_market takes besides a CSV path
SOURCES = (*BUNDLED, "yahoo", "synthetic")


def _bundled_path(name: str) -> Path:
    return Path(str(resources.files("qmml.envs") / "data" / BUNDLED[name]))


@lru_cache(maxsize=8)
def _read_csv(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"bundled file {path!r} not found; reinstall qmml")
    df = _read_file(p, "the bundled file is damaged: reinstall qmml")
    date_col = next((c for c in df.columns if str(c).lower() in ("date", "datetime", "time")), None)
    if date_col is None:
        raise DataError(f"{path}: no 'Date' column; columns are {', '.join(map(str, df.columns))}")
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


def _bundled_closes(
    name: str,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """Daily closes of a bundled close-only file, one column per ticker, indexed by date.

    Args:
        name: ``"stocks20"`` or ``"sp500"``.
        tickers: columns to keep (default: all).
        start, end: inclusive date range (``YYYY-MM-DD``); default: the whole file.

    Raises:
        DataError: missing file, unknown ticker, a range outside the data, too few rows,
            missing or non-positive prices.
    """
    df = _read_csv(str(_bundled_path(name)))
    if tickers:
        unknown = [t for t in tickers if t not in df.columns]
        if unknown:
            raise DataError(
                f"unknown ticker {unknown[0]!r}; available: {', '.join(df.columns)}"
                + did_you_mean(unknown[0], list(df.columns))
            )
        df = df[list(tickers)]
    first, last = df.index[0].date(), df.index[-1].date()
    lo = parse_date(start, "start") if start else df.index[0]
    hi = parse_date(end, "end") if end else df.index[-1]
    if start and end and lo > hi:  # the user's own range, before the data's
        raise DataError(f"start {lo.date()} is after end {hi.date()}; swap them")
    if lo > df.index[-1] or hi < df.index[0]:
        asked = f"{start or 'the start of the data'}..{end or 'the end of the data'}"
        raise DataError(
            f"date range {asked} is outside the data {name!r} ({first}..{last}); "
            "choose dates inside it"
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


def _read(path: Path) -> pd.DataFrame:
    """The CSV as read by pandas; DataError if missing, unreadable or without data rows."""
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file; give the path of a CSV file in it")
    if not path.exists():
        raise DataError(
            f"data file {str(path)!r} not found; give an existing CSV path or a "
            f"bundled name ({', '.join(BUNDLED)})"
        )
    df = _read_file(path, "expected a text CSV (or gzip-compressed .csv.gz) with a Date column")
    if df.empty:
        raise DataError(f"{path}: no data rows (only a header); add one row per date")
    return df


def load_csv(
    path: str | Path,
    *,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    fill: str | None = None,
    date_format: str | None = None,
) -> Market:
    """Load a user's daily price CSV into a :class:`Market`.

    Three layouts are recognised (column names are case-insensitive):

    * one asset, OHLCV: ``Date, [Open, High, Low,] Close, [Volume]`` (``Adj Close`` is used
      when there is no ``Close``); the ticker is ``tickers[0]`` or the file name;
    * many assets, long: ``Date, Ticker (or Symbol), [Open, High, Low,] Close, [Volume]``;
    * many assets, wide, close only: ``Date`` and one column of closes per ticker.

    A wide file with a column named like a bar field (``Volume``, ``Open``, ``Adj Close``
    ...) beside ticker columns is refused: a volume is never a price, and one asset's bars
    are not several stocks. An OHLCV file is read as one asset whose close is ``Close``
    (``Adj Close`` where there is no ``Close``).

    Args:
        path: the CSV file (``.csv`` or ``.csv.gz``).
        tickers: tickers to keep (default: all).
        start, end: inclusive date range (``YYYY-MM-DD``).
        fill: None rejects missing prices with an error that reports them; ``"ffill"``
            carries the last price forward.
        date_format: a ``strptime`` format of the dates, e.g. ``"%d/%m/%Y"``. Without it,
            slash or dot dates are read in the order a day above 12 shows (with a warning)
            and refused when every date reads both ways.

    Raises:
        DataError: missing file or columns, unparsable, duplicate or unsorted dates,
            non-positive prices, NaN gaps, unknown tickers, an empty range.
    """
    path = Path(path)
    df, date_col, hint = _dates(_read(path), path, date_format)
    lower = {str(c).strip().lower(): c for c in df.columns if c != date_col}
    tick_col = lower.get("ticker", lower.get("symbol"))
    if "close" not in lower and "adj close" in lower:
        lower["close"] = lower.pop("adj close")
    fields = {f: lower[f] for f in _FIELDS if f in lower}
    if tick_col is not None or "close" in fields or {"open", "high", "low"} & set(fields):
        if "close" not in fields:
            raise DataError(
                f"{path}: missing column 'Close' (found "
                f"{', '.join(map(str, df.columns))}); an OHLCV file needs Close"
            )
        if tick_col is not None:  # long format: one row per (date, ticker)
            frames = {}
            for t, g in df.groupby(tick_col, sort=False):
                _unique_sorted(g[date_col].reset_index(drop=True), path, f" for {t!r}", hint)
            _numeric(df, list(fields.values()), path)
            for f, c in fields.items():
                frames[f] = df.pivot(index=date_col, columns=tick_col, values=c).astype(np.float64)
        else:
            _unique_sorted(df[date_col], path, hint=hint)
            name = (tickers or [path.name.split(".")[0]])[0]
            if tickers and len(tickers) > 1:
                raise DataError(
                    f"{path}: holds one asset but {len(tickers)} tickers were "
                    "asked for; give one ticker or a multi-asset file"
                )
            # check before renaming the column to the ticker: errors name the real column
            _numeric(df, list(fields.values()), path)
            frames = {
                f: df.set_index(date_col)[[c]].set_axis([name], axis=1).astype(np.float64)
                for f, c in fields.items()
            }
            tickers = None
    else:  # wide close-only
        bars = bar_columns(c for c in df.columns if c != date_col)
        if bars:
            c, f = next(iter(bars.items()))
            what = "a volume, never a price" if f == "volume" else f"one asset's {f}"
            raise DataError(
                f"{path}: column {c!r} is {what}, yet the file has no Close column to read "
                "as one asset's bars; give one column of closes per ticker (drop "
                f"{', '.join(bars)}), or Date, Open, High, Low, Close, Volume for one asset"
            )
        _unique_sorted(df[date_col], path, hint=hint)
        _numeric(df, [c for c in df.columns if c != date_col], path)
        frames = {"close": df.set_index(date_col).astype(np.float64)}
    market = market_from_frames(frames, name=path.name, fill=fill)
    if tickers:
        market = market.select(tickers)
    return market.slice(start, end) if (start or end) else market


def load_bundled(
    name: str = "stocks20",
    *,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Market:
    """One of the bundled data sets (see the module docstring), offline.

    Raises:
        DataError: unknown name or ticker, a range outside the data.
    """
    if name not in BUNDLED:
        raise DataError(
            f"unknown bundled data {name!r}; choose from {', '.join(BUNDLED)}"
            + did_you_mean(name, list(BUNDLED))
        )
    if name == "stocks20":
        check_repeats(tickers or [])
        return market_from_frames({"close": _bundled_closes(name, tickers, start, end)}, name=name)
    if name == "sp500":
        s = _bundled_closes(name, ["SP500"], start, end)
        m = market_from_frames({"close": s}, name=name)
        return m.select(tickers) if tickers else m
    ticker = "SP500" if name.startswith("sp500") else "NASDAQ"
    if tickers and tickers != [ticker]:
        check_tickers(tickers, (ticker,))
    m = load_csv(_bundled_path(name), tickers=[ticker])
    m = Market(m.dates, m.tickers, m.close, m.open, m.high, m.low, m.volume, name=name)
    return m.slice(start, end) if (start or end) else m


def load_market(
    source: str = "stocks20",
    *,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    fill: str | None = None,
    seed: int = 0,
    n_days: int = 1000,
    date_format: str | None = None,
) -> Market:
    """A market from any source: a bundled name, ``"yahoo"`` (download with an on-disk
    cache), ``"synthetic"`` (geometric Brownian motion from ``seed``) or a CSV path.

    Args:
        source: a bundled name (see :data:`BUNDLED`), ``"yahoo"``, ``"synthetic"`` or a CSV
            path.
        tickers: tickers to keep (default: all; ``"yahoo"`` needs them; ``"synthetic"``
            makes one asset per ticker).
        start, end: inclusive date range (``YYYY-MM-DD``).
        fill: None rejects missing prices, ``"ffill"`` carries the last close forward (CSV
            and Yahoo; the bundled sets have no gaps).
        seed, n_days: the draw and length of a ``"synthetic"`` market.
        date_format: the dates' ``strptime`` format in a CSV (see :func:`load_csv`).

    Raises:
        DataError: a problem with the source, the tickers or the range.
    """
    if source in BUNDLED:
        return load_bundled(source, tickers=tickers, start=start, end=end)
    if source == "yahoo":
        from qmml.envs.market.yahoo import download

        if not tickers:
            raise DataError("data 'yahoo' needs tickers, e.g. --tickers AAPL MSFT")
        offline = f"a bundled data set ({', '.join(BUNDLED)}) or a CSV file"
        return download(tickers, start=start, end=end, fill=fill, offline=offline)
    if source == "synthetic":
        from qmml.envs.market.synthetic import gbm

        m = gbm(n_days, len(tickers or ["SYN"]), seed=seed)
        if tickers:
            m = Market(m.dates, tuple(tickers), m.close, m.open, m.high, m.low, m.volume, m.name)
        return m.slice(start, end) if (start or end) else m
    if not source.lower().endswith((".csv", ".csv.gz")) and not Path(source).exists():
        raise DataError(
            f"unknown data source {source!r}; give a bundled name "
            f"({', '.join(BUNDLED)}), 'yahoo', 'synthetic' or a CSV path"
            + did_you_mean(source, SOURCES)
        )
    return load_csv(
        source, tickers=tickers, start=start, end=end, fill=fill, date_format=date_format
    )
