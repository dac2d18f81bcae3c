"""Market data at the bottom of the data layer: the :class:`Market` container, its errors
(:class:`DataError`, :class:`GapError`), date parsing and the validation of price frames.

Nothing here reads a file or the network: every source (bundled files, a user's CSV, Yahoo,
synthetic paths) lives in :mod:`qmml.envs.market.sources` and builds a :class:`Market` through
:func:`market_from_frames`. This module imports nothing else of the project.
"""

from __future__ import annotations

import builtins
import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DataError",
    "GapError",
    "Market",
    "bar_columns",
    "did_you_mean",
    "market_from_frames",
    "parse_date",
    "parse_date_column",
]

_FIELDS = ("open", "high", "low", "close", "volume")
# the fix for a gap in the Python API; front ends (CLI, specs) word their own
FILL_HINT = "pass fill='ffill' to carry the last close forward"


# column names (lower case, spaces/underscores ignored) that are one asset's bar fields,
# never a ticker's closes
_BAR_NAMES = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj close",
    "adjustedclose": "adj close",
    "volume": "volume",
}


def bar_columns(columns: object) -> dict[str, str]:
    """The columns among ``columns`` named like one asset's bar fields (``Open``,
    ``adj_close``, ``VOLUME`` ...) as ``{column: field}``, when they make a table of closes
    suspect: a volume column, or two fields or more. One such name alone (Lowe's trades as
    ``LOW``) is taken as a ticker and gives ``{}``."""
    out = {}
    for c in columns:  # type: ignore[attr-defined]
        key = str(c).strip().lower().replace(" ", "").replace("_", "").replace("*", "")
        if key in _BAR_NAMES:
            out[str(c)] = _BAR_NAMES[key]
    return out if "volume" in out.values() or len(out) >= 2 else {}


class DataError(ValueError):
    """A problem with market data a user asked for (missing file, unknown ticker, bad range)."""


def did_you_mean(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` (every envs message)."""
    hint = difflib.get_close_matches(value, list(choices), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


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
        check_tickers(tickers, self.tickers)
        cols = [self.tickers.index(t) for t in tickers]
        return self._take(slice(None), cols, tuple(tickers))

    def _take(
        self,
        rows: builtins.slice,
        cols: builtins.slice | list[int],
        tickers: tuple[str, ...] | None = None,
    ) -> Market:
        # ``builtins.slice``: the ``slice`` method above shadows the type in the class body
        optional: dict[str, np.ndarray | None] = {
            f: (None if getattr(self, f) is None else getattr(self, f)[rows][:, cols])
            for f in _FIELDS
            if f != "close"
        }
        close = self.close[rows][:, cols]
        return Market(self.dates[rows], tickers or self.tickers, close, name=self.name, **optional)

    def closes(self) -> pd.DataFrame:
        """The closes as a DataFrame (dates x tickers), e.g. for the stock-picking bandit."""
        return self.to_frame("close")

    def to_frame(self, field: str = "close") -> pd.DataFrame:
        """One field as a DataFrame (dates x tickers)."""
        return pd.DataFrame(getattr(self, field), index=self.dates, columns=list(self.tickers))


def check_tickers(wanted: list[str] | tuple[str, ...], available: tuple[str, ...]) -> None:
    for t in wanted:
        if t not in available:
            raise DataError(
                f"unknown ticker {t!r}; available: {', '.join(available)}"
                + did_you_mean(t, available)
            )
    check_repeats(wanted)
    if not wanted:
        raise DataError("empty ticker list; name at least one ticker")


def check_repeats(wanted: list[str] | tuple[str, ...]) -> None:
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
