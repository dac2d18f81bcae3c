"""Market data: the :class:`Market` container, a validating CSV loader for a user's own files,
and access to the bundled real data (no network needed).

Bundled sources (provenance in ``envs/data/README.md``):

============== ============================================= ==========================
name           what                                          columns
============== ============================================= ==========================
``stocks20``   20 large US stocks, 1990-01-02 .. 2022-12-28  adjusted close only
``sp500``      S&P 500 index level, 1990-01-02 .. 2022-12-28 close only
``sp500-ohlcv`` S&P 500 index, 1999-01-04 .. 2018-12-31      open, high, low, close, volume
``nasdaq-ohlcv`` NASDAQ Composite, 1999-01-04 .. 2018-12-31  open, high, low, close, volume
============== ============================================= ==========================
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from envs.datasets import DataError, load_sp500_index, load_stock_closes

__all__ = ["BUNDLED", "Market", "load_bundled", "load_csv", "load_market", "market_from_frames"]

BUNDLED = {
    "stocks20": "us_stocks_20_daily_close_1990_2022.csv.gz",
    "sp500": "sp500_index_daily_1990_2022.csv.gz",
    "sp500-ohlcv": "sp500_ohlcv_daily_1999_2018.csv.gz",
    "nasdaq-ohlcv": "nasdaq_ohlcv_daily_1999_2018.csv.gz",
}
_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class Market:
    """Daily bars of one or more assets on a common calendar.

    Attributes:
        dates: trading days, strictly increasing.
        tickers: asset names, one per column of the price arrays.
        close: (T, N) closing prices, all finite and > 0.
        open, high, low, volume: (T, N) arrays, or None for close-only data.
        name: a label for plots and errors.
    """

    dates: pd.DatetimeIndex
    tickers: tuple[str, ...]
    close: np.ndarray
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None
    name: str = "market"

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.tickers))
        for f in _FIELDS:
            a = getattr(self, f)
            if a is None:
                continue
            a = np.ascontiguousarray(a, dtype=np.float64)
            if a.shape != shape:
                raise DataError(
                    f"{self.name}: {f} has shape {a.shape}, expected {shape} (days, tickers)"
                )
            a.setflags(write=False)  # shared by envs: nobody may edit prices in place
            object.__setattr__(self, f, a)
        if shape[0] < 2:
            raise DataError(f"{self.name}: {shape[0]} day(s) of data; need at least 2")
        if not self.dates.is_monotonic_increasing or self.dates.has_duplicates:
            raise DataError(f"{self.name}: dates must be strictly increasing")
        for f in ("open", "high", "low", "close"):
            a = getattr(self, f)
            if a is not None and not (np.isfinite(a).all() and (a > 0).all()):
                raise DataError(f"{self.name}: {f} prices must be finite and > 0")

    @property
    def n_days(self) -> int:
        """Number of bars T."""
        return len(self.dates)

    @property
    def n_assets(self) -> int:
        """Number of assets N."""
        return len(self.tickers)

    @property
    def has_open(self) -> bool:
        """Whether opening prices exist (orders then fill at the next open)."""
        return self.open is not None

    def index_of(self, date: str | pd.Timestamp, side: str = "left") -> int:
        """Bar index of the first day >= ``date`` (``side='left'``) or last day <= it."""
        ts = pd.Timestamp(date)
        i = int(self.dates.searchsorted(ts, side="left" if side == "left" else "right"))
        return i if side == "left" else i - 1

    def slice(self, start: str | None = None, end: str | None = None) -> Market:
        """The bars with ``start <= date <= end`` (inclusive; None = open-ended)."""
        lo = 0 if start is None else self.index_of(start, "left")
        hi = self.n_days - 1 if end is None else self.index_of(end, "right")
        if hi - lo + 1 < 2:
            raise DataError(
                f"{self.name}: fewer than 2 days in {start}..{end} (data covers "
                f"{self.dates[0].date()}..{self.dates[-1].date()}); widen the range"
            )
        return self._take(slice(lo, hi + 1), slice(None))

    def select(self, tickers: list[str] | tuple[str, ...]) -> Market:
        """The given tickers only, in that order."""
        _check_tickers(tickers, self.tickers)
        cols = [self.tickers.index(t) for t in tickers]
        return self._take(slice(None), cols, tuple(tickers))

    def _take(self, rows: slice, cols, tickers: tuple[str, ...] | None = None) -> Market:
        arrays = {
            f: (None if getattr(self, f) is None else getattr(self, f)[rows][:, cols])
            for f in _FIELDS
        }
        return Market(self.dates[rows], tickers or self.tickers, name=self.name, **arrays)

    def to_frame(self, field: str = "close") -> pd.DataFrame:
        """One field as a DataFrame (dates x tickers)."""
        return pd.DataFrame(getattr(self, field), index=self.dates, columns=list(self.tickers))


def _check_tickers(wanted: list[str] | tuple[str, ...], available: tuple[str, ...]) -> None:
    for t in wanted:
        if t not in available:
            hint = difflib.get_close_matches(t, list(available), n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
            raise DataError(f"unknown ticker {t!r}; available: {', '.join(available)}{did}")
    if len(set(wanted)) != len(wanted):
        raise DataError(f"tickers repeated in {list(wanted)}; list each once")
    if not wanted:
        raise DataError("empty ticker list; name at least one ticker")


def market_from_frames(
    frames: dict[str, pd.DataFrame], *, name: str = "market", fill: str | None = None
) -> Market:
    """Build a :class:`Market` from per-field DataFrames (dates x tickers), validating them.

    Args:
        frames: ``{"close": df, "open": df, ...}``; ``close`` is required.
        name: label used in error messages.
        fill: None to reject missing prices, ``"ffill"`` to carry the last price forward.

    Raises:
        DataError: missing close, non-positive prices, NaN gaps (unless filled), OHLC whose
            high is below its low.
    """
    if "close" not in frames:
        raise DataError(f"{name}: no close prices; a 'Close' column is required")
    if fill not in (None, "ffill"):
        raise DataError(f"fill={fill!r}: choose None (reject gaps) or 'ffill'")
    close = frames["close"]
    out: dict[str, np.ndarray] = {}
    for f in _FIELDS:
        if f not in frames:
            continue
        df = frames[f].reindex(index=close.index, columns=close.columns)
        df = _check_gaps(df, f, name, fill)
        if f != "volume" and (df <= 0).any().any():
            col = df.columns[(df <= 0).any()][0]
            day = df.index[(df[col] <= 0).to_numpy()][0].date()
            raise DataError(
                f"{name}: non-positive {f} price for {col!r} on {day}; prices must "
                "be > 0 (fix or drop the row)"
            )
        if f == "volume" and (df < 0).any().any():
            raise DataError(f"{name}: negative volume; volumes must be >= 0")
        out[f] = df.to_numpy(np.float64)
    if ("high" in out) != ("low" in out):
        raise DataError(f"{name}: 'High' and 'Low' come together; give both or neither")
    if "high" in out:
        bad = out["high"] < out["low"]
        if bad.any():
            day = close.index[np.argwhere(bad)[0, 0]].date()
            raise DataError(f"{name}: high below low on {day}; check the OHLC columns")
    return Market(
        pd.DatetimeIndex(close.index, name="Date"), tuple(map(str, close.columns)), name=name, **out
    )


def _check_gaps(df: pd.DataFrame, field: str, name: str, fill: str | None) -> pd.DataFrame:
    nan = df.isna()
    if not nan.any().any():
        return df
    col = df.columns[nan.any()][0]
    n = int(nan.to_numpy().sum())
    first = df.index[nan[col].to_numpy()][0].date()
    if fill is None:
        raise DataError(
            f"{name}: {n} missing {field} value(s), first for {col!r} on {first}; "
            "pass fill='ffill' to carry the last price forward, or choose another "
            "range or tickers"
        )
    filled = df.ffill()
    if filled.isna().any().any():
        col = filled.columns[filled.isna().any()][0]
        start = df[col].first_valid_index()
        raise DataError(
            f"{name}: {col!r} has no {field} before {start.date() if start else '?'}"
            "; forward-fill cannot invent a first price: start the range later "
            "or drop the ticker"
        )
    return filled


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"data file {str(path)!r} not found; give an existing CSV path or a "
            f"bundled name ({', '.join(BUNDLED)})"
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(
            f"{path}: cannot read as CSV ({str(err).splitlines()[0]}); expected a "
            "header row with a Date column"
        ) from None


def _dates(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, str]:
    cols = {str(c).strip().lower(): c for c in df.columns}
    key = next((k for k in ("date", "datetime", "time", "timestamp") if k in cols), None)
    if key is None:
        raise DataError(
            f"{path}: no date column; columns are {', '.join(map(str, df.columns))}"
            "; add a 'Date' column"
        )
    col = cols[key]
    dates = pd.to_datetime(df[col], errors="coerce", format="mixed")
    if dates.isna().any():
        bad = df[col][dates.isna()].iloc[0]
        raise DataError(f"{path}: unparsable date {bad!r} in column {col!r}; use YYYY-MM-DD")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    return df.assign(**{col: dates}), col


def _unique_sorted(dates: pd.Series, path: Path, what: str = "") -> None:
    if dates.duplicated().any():
        day = dates[dates.duplicated()].iloc[0].date()
        raise DataError(f"{path}: duplicate date {day}{what}; each date must appear once")
    if not dates.is_monotonic_increasing:
        i = int(np.argmax(np.diff(dates.to_numpy()) < np.timedelta64(0)))
        raise DataError(
            f"{path}: rows are not sorted by date ({dates.iloc[i].date()} comes "
            f"before {dates.iloc[i + 1].date()}{what}); sort them ascending"
        )


def load_csv(
    path: str | Path,
    *,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    fill: str | None = None,
) -> Market:
    """Load a user's daily price CSV into a :class:`Market`.

    Three layouts are recognised (column names are case-insensitive):

    * one asset, OHLCV: ``Date, [Open, High, Low,] Close, [Volume]`` (``Adj Close`` is used
      when there is no ``Close``); the ticker is ``tickers[0]`` or the file name;
    * many assets, long: ``Date, Ticker (or Symbol), [Open, High, Low,] Close, [Volume]``;
    * many assets, wide, close only: ``Date`` and one column of closes per ticker.

    Args:
        path: the CSV file (``.csv`` or ``.csv.gz``).
        tickers: tickers to keep (default: all).
        start, end: inclusive date range (``YYYY-MM-DD``).
        fill: None rejects missing prices with an error that reports them; ``"ffill"``
            carries the last price forward.

    Raises:
        DataError: missing file or columns, unparsable, duplicate or unsorted dates,
            non-positive prices, NaN gaps, unknown tickers, an empty range.
    """
    path = Path(path)
    df, date_col = _dates(_read(path), path)
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
                _unique_sorted(g[date_col].reset_index(drop=True), path, f" for {t!r}")
            for f, c in fields.items():
                frames[f] = _numeric(df.pivot(index=date_col, columns=tick_col, values=c), path)
        else:
            _unique_sorted(df[date_col], path)
            name = (tickers or [path.name.split(".")[0]])[0]
            if tickers and len(tickers) > 1:
                raise DataError(
                    f"{path}: holds one asset but {len(tickers)} tickers were "
                    "asked for; give one ticker or a multi-asset file"
                )
            frames = {
                f: _numeric(df.set_index(date_col)[[c]].set_axis([name], axis=1), path)
                for f, c in fields.items()
            }
            tickers = None
    else:  # wide close-only
        _unique_sorted(df[date_col], path)
        frames = {"close": _numeric(df.set_index(date_col), path)}
    market = market_from_frames(frames, name=path.name, fill=fill)
    if tickers:
        market = market.select(tickers)
    return market.slice(start, end) if (start or end) else market


def _numeric(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    bad = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise DataError(
            f"{path}: non-numeric values in column(s) {', '.join(bad)}; prices "
            "must be numbers (use an empty cell for a missing price)"
        )
    return df.astype(np.float64)


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
        hint = difflib.get_close_matches(name, list(BUNDLED), n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
        raise DataError(f"unknown bundled data {name!r}; choose from {', '.join(BUNDLED)}{did}")
    if name == "stocks20":
        df = load_stock_closes(tickers, start, end)
        return market_from_frames({"close": df}, name=name)
    if name == "sp500":
        s = load_sp500_index(start, end)
        m = market_from_frames({"close": s.to_frame("SP500")}, name=name)
        return m.select(tickers) if tickers else m
    path = Path(str(resources.files("envs") / "data" / BUNDLED[name]))
    ticker = "SP500" if name.startswith("sp500") else "NASDAQ"
    if tickers and tickers != [ticker]:
        _check_tickers(tickers, (ticker,))
    m = load_csv(path, tickers=[ticker])
    m = Market(m.dates, m.tickers, m.close, m.open, m.high, m.low, m.volume, name=name)
    return m.slice(start, end) if (start or end) else m


def load_market(
    source: str = "stocks20",
    *,
    tickers: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    fill: str | None = None,
) -> Market:
    """A market from a bundled name, ``"yahoo"`` (download with an on-disk cache) or a CSV path.

    Raises:
        DataError: a problem with the source, the tickers or the range.
    """
    if source in BUNDLED or source == "bundled":
        return load_bundled(
            "stocks20" if source == "bundled" else source, tickers=tickers, start=start, end=end
        )
    if source == "yahoo":
        from envs.market.yahoo import download

        if not tickers:
            raise DataError("data 'yahoo' needs tickers, e.g. --tickers AAPL MSFT")
        return download(tickers, start=start, end=end)
    if not source.lower().endswith((".csv", ".csv.gz")) and not Path(source).exists():
        hint = difflib.get_close_matches(source, [*BUNDLED, "yahoo"], n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
        raise DataError(
            f"unknown data source {source!r}; give a bundled name "
            f"({', '.join(BUNDLED)}), 'yahoo' or a CSV path{did}"
        )
    return load_csv(source, tickers=tickers, start=start, end=end, fill=fill)
