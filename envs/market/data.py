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

from qmml.envs.datasets import DataError, load_sp500_index, load_stock_closes, parse_date

__all__ = [
    "BUNDLED",
    "GapError",
    "Market",
    "load_bundled",
    "load_csv",
    "load_market",
    "market_from_frames",
    "parse_date_column",
]

BUNDLED = {
    "stocks20": "us_stocks_20_daily_close_1990_2022.csv.gz",
    "sp500": "sp500_index_daily_1990_2022.csv.gz",
    "sp500-ohlcv": "sp500_ohlcv_daily_1999_2018.csv.gz",
    "nasdaq-ohlcv": "nasdaq_ohlcv_daily_1999_2018.csv.gz",
}
_FIELDS = ("open", "high", "low", "close", "volume")
# the fix for a gap in the Python API; front ends (CLI, specs) word their own
FILL_HINT = "pass fill='ffill' to carry the last close forward"


class GapError(DataError):
    """Missing prices that ``fill='ffill'`` would carry forward.

    Attributes:
        problem: what is missing and where, without the hint on how to fill it.
    """

    def __init__(self, problem: str, how: str = FILL_HINT) -> None:
        super().__init__(f"{problem}; {how}, or choose another range or tickers")
        self.problem = problem


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
        ts = parse_date(date, "date")
        i = int(self.dates.searchsorted(ts, side="left" if side == "left" else "right"))
        return i if side == "left" else i - 1

    def slice(self, start: str | None = None, end: str | None = None) -> Market:
        """The bars with ``start <= date <= end`` (inclusive; None = open-ended)."""
        lo = 0 if start is None else self.index_of(start, "left")
        hi = self.n_days - 1 if end is None else self.index_of(end, "right")
        if hi - lo + 1 < 2:
            raise DataError(
                f"{self.name}: fewer than 2 days in {start or 'the start of the data'}.."
                f"{end or 'the end of the data'} (data covers "
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
    _check_repeats(wanted)
    if not wanted:
        raise DataError("empty ticker list; name at least one ticker")


def _check_repeats(wanted: list[str] | tuple[str, ...]) -> None:
    """Raise DataError if a ticker is listed twice (it would be traded twice)."""
    if len(set(wanted)) != len(wanted):
        raise DataError(f"tickers repeated in {list(wanted)}; list each once")


def market_from_frames(
    frames: dict[str, pd.DataFrame], *, name: str = "market", fill: str | None = None
) -> Market:
    """Build a :class:`Market` from per-field DataFrames (dates x tickers), validating them.

    Args:
        frames: ``{"close": df, "open": df, ...}``; ``close`` is required.
        name: label used in error messages.
        fill: None to reject missing prices, ``"ffill"`` to carry the last close forward (a
            day without a bar becomes a flat bar at that close with zero volume).

    Raises:
        GapError: missing prices and ``fill`` is None.
        DataError: missing close, non-positive prices, a gap before a ticker's first price,
            OHLC whose high is below its low.
    """
    if "close" not in frames:
        raise DataError(f"{name}: no close prices; a 'Close' column is required")
    if fill not in (None, "ffill"):
        raise DataError(f"fill={fill!r}: choose None (reject gaps) or 'ffill'")
    close = frames["close"]
    aligned = {
        f: frames[f].reindex(index=close.index, columns=close.columns)
        for f in _FIELDS
        if f in frames
    }
    if fill == "ffill":
        aligned = _fill_bars(aligned)
    out: dict[str, np.ndarray] = {}
    for f, df in aligned.items():
        _check_gaps(df, f, name, fill)
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


def _fill_bars(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Fill missing bars from the last close, never from an earlier open, high or low.

    A missing open gets the previous close (the last price known before it), a missing high
    or low the day's own open and close, a missing volume zero. A day without a bar thus
    becomes a flat bar at the last close: an order decided at the close before it fills at
    that close, not at a price from before the decision.

    Args:
        frames: per-field frames on a common index and columns, ``close`` included.

    Returns:
        The filled frames; NaN remains only before a ticker's first price.
    """
    out = dict(frames)
    close = frames["close"].ffill()
    out["close"] = close
    if "open" in frames:
        out["open"] = frames["open"].fillna(close.shift(1))
    opened = out.get("open", close)
    if "high" in frames:
        out["high"] = frames["high"].fillna(np.maximum(opened, close))
    if "low" in frames:
        out["low"] = frames["low"].fillna(np.minimum(opened, close))
    if "volume" in frames:
        out["volume"] = frames["volume"].fillna(0.0)  # no bar, no recorded trading
    return out


def _check_gaps(df: pd.DataFrame, field: str, name: str, fill: str | None) -> None:
    """Raise GapError for missing values, or DataError for what ffill could not fill."""
    nan = df.isna()
    if not nan.any().any():
        return
    col = df.columns[nan.any()][0]
    if fill is None:
        n = int(nan.to_numpy().sum())
        first = df.index[nan[col].to_numpy()][0].date()
        raise GapError(f"{name}: {n} missing {field} value(s), first for {col!r} on {first}")
    start = df[col].first_valid_index()
    raise DataError(
        f"{name}: {col!r} has no {field} before {start.date() if start else '?'}"
        "; forward-fill cannot invent a first price: start the range later "
        "or drop the ticker"
    )


def _read(path: Path) -> pd.DataFrame:
    """The CSV as read by pandas; DataError if missing, unreadable or without data rows."""
    if not path.is_file():
        raise DataError(
            f"data file {str(path)!r} not found; give an existing CSV path or a "
            f"bundled name ({', '.join(BUNDLED)})"
        )
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(
            f"{path}: cannot read as CSV ({str(err).splitlines()[0]}); expected a "
            "header row with a Date column"
        ) from None
    if df.empty:
        raise DataError(f"{path}: no data rows (only a header); add one row per date")
    return df


# dates like 01/02/2020: pandas reads them month first unless the day is > 12
_SLASH_DATE = r"^\s*\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"


def _dates(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, str, str]:
    """Parse the date column in place.

    Returns:
        The frame with parsed dates, the date column's name and a hint to add to an
        "unsorted" error (non-empty for day/month-ambiguous dates like 01/02/2020).
    """
    cols = {str(c).strip().lower(): c for c in df.columns}
    key = next((k for k in ("date", "datetime", "time", "timestamp") if k in cols), None)
    if key is None:
        raise DataError(
            f"{path}: no date column; columns are {', '.join(map(str, df.columns))}"
            "; add a 'Date' column"
        )
    col = cols[key]
    raw = df[col]
    dates = parse_date_column(raw, path, col)
    if dates.isna().any():
        bad = raw[dates.isna()].iloc[0]
        bad = bad.item() if isinstance(bad, np.generic) else bad  # 20201345, not np.int64(...)
        raise DataError(f"{path}: unparsable date {bad!r} in column {col!r}; use YYYY-MM-DD")
    text = raw.astype(str)
    slash = not pd.api.types.is_numeric_dtype(raw) and bool(text.str.match(_SLASH_DATE).any())
    hint = " (if the dates are day/month/year, write them as YYYY-MM-DD)" if slash else ""
    return df.assign(**{col: dates}), col, hint


def parse_date_column(raw: pd.Series, path: Path, col: str) -> pd.Series:
    """Dates of a column (NaT where unparsable), without time zone.

    A time zone is dropped keeping each value's local wall-clock time, so a date never moves
    to the next or previous day, even where the UTC offset changes (daylight saving).
    """
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return _yyyymmdd(raw, path, col)
    try:
        dates = pd.to_datetime(raw, errors="coerce", format="mixed")
    except ValueError:  # mixed UTC offsets: pandas refuses; parse value by value
        dates = pd.to_datetime(pd.Series([_local_date(v) for v in raw], index=raw.index))
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    return dates


def _local_date(value: object) -> pd.Timestamp:
    """One value as a naive timestamp in its own local time (NaT if unparsable)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _yyyymmdd(raw: pd.Series, path: Path, col: str) -> pd.Series:
    """A numeric date column: YYYYMMDD integers, never epoch nanoseconds (pandas' default)."""
    ok = raw.notna() & (raw % 1 == 0) & raw.between(10000101, 99991231)
    if not ok.all():
        bad = float(raw[~ok].iloc[0])
        shown = int(bad) if bad.is_integer() else bad
        raise DataError(
            f"{path}: date column {col!r} holds numbers ({shown}), not dates; write the "
            "dates as YYYY-MM-DD (or YYYYMMDD)"
        )
    text = raw.astype(np.int64).astype(str)
    return pd.to_datetime(text, format="%Y%m%d", errors="coerce")


def _unique_sorted(dates: pd.Series, path: Path, what: str = "", hint: str = "") -> None:
    """Raise DataError for a repeated date or dates out of order (``hint`` for the latter)."""
    if dates.duplicated().any():
        day = dates[dates.duplicated()].iloc[0].date()
        raise DataError(f"{path}: duplicate date {day}{what}; each date must appear once")
    if not dates.is_monotonic_increasing:
        i = int(np.argmax(np.diff(dates.to_numpy()) < np.timedelta64(0)))
        raise DataError(
            f"{path}: rows are not sorted by date ({dates.iloc[i].date()} comes "
            f"before {dates.iloc[i + 1].date()}{what}); sort them ascending{hint}"
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
    df, date_col, hint = _dates(_read(path), path)
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
        _unique_sorted(df[date_col], path, hint=hint)
        _numeric(df, [c for c in df.columns if c != date_col], path)
        frames = {"close": df.set_index(date_col).astype(np.float64)}
    market = market_from_frames(frames, name=path.name, fill=fill)
    if tickers:
        market = market.select(tickers)
    return market.slice(start, end) if (start or end) else market


def _numeric(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    """Raise DataError naming the first non-numeric price column, value and line."""
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if not bad:
        return
    col = df[bad[0]]
    wrong = col.notna() & pd.to_numeric(col, errors="coerce").isna()
    where = ""
    if wrong.any():
        row = int(np.argmax(wrong.to_numpy()))
        where = f" (e.g. {col.iloc[row]!r} on line {row + 2})"  # line 1 is the header
    raise DataError(
        f"{path}: non-numeric values in column(s) {', '.join(map(str, bad))}{where}; prices "
        "must be numbers without thousands separators (use an empty cell for a missing price)"
    )


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
        _check_repeats(tickers or [])
        df = load_stock_closes(tickers, start, end)
        return market_from_frames({"close": df}, name=name)
    if name == "sp500":
        s = load_sp500_index(start, end)
        m = market_from_frames({"close": s.to_frame("SP500")}, name=name)
        return m.select(tickers) if tickers else m
    path = Path(str(resources.files("qmml.envs") / "data" / BUNDLED[name]))
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

    Args:
        source: a bundled name (see :data:`BUNDLED`), ``"yahoo"`` or a CSV path.
        tickers: tickers to keep (default: all; ``"yahoo"`` needs them).
        start, end: inclusive date range (``YYYY-MM-DD``).
        fill: None rejects missing prices, ``"ffill"`` carries the last close forward (CSV
            and Yahoo; the bundled sets have no gaps).

    Raises:
        DataError: a problem with the source, the tickers or the range.
    """
    if source in BUNDLED or source == "bundled":
        return load_bundled(
            "stocks20" if source == "bundled" else source, tickers=tickers, start=start, end=end
        )
    if source == "yahoo":
        from qmml.envs.market.yahoo import download

        if not tickers:
            raise DataError("data 'yahoo' needs tickers, e.g. --tickers AAPL MSFT")
        return download(tickers, start=start, end=end, fill=fill)
    if not source.lower().endswith((".csv", ".csv.gz")) and not Path(source).exists():
        hint = difflib.get_close_matches(source, [*BUNDLED, "yahoo"], n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
        raise DataError(
            f"unknown data source {source!r}; give a bundled name "
            f"({', '.join(BUNDLED)}), 'yahoo' or a CSV path{did}"
        )
    return load_csv(source, tickers=tickers, start=start, end=end, fill=fill)
