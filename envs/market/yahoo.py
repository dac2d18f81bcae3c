"""Download daily bars from Yahoo Finance (``yfinance``) into an on-disk Parquet cache.

The first call for a set of tickers and a date range downloads and writes
``<cache>/<TICKERS>__<start>__<end>.parquet``; later calls read that file and never touch the
network. Without a network (or when Yahoo refuses) the error says so and names the cached
files and the bundled data sets that would work offline.

The cache folder is ``$QMML_CACHE/yahoo`` if ``QMML_CACHE`` is set, else ``~/.cache/qmml/yahoo``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from qmml.envs.market.data import DataError, Market, market_from_frames, parse_date

__all__ = ["cache_dir", "cached_files", "download"]

_COLS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}


def cache_dir() -> Path:
    """The folder of the Parquet cache."""
    root = os.environ.get("QMML_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "qmml") / "yahoo"


def cached_files(folder: Path | None = None) -> list[str]:
    """Names of the cached downloads, e.g. ``AAPL-MSFT__2015-01-01__2020-12-31``."""
    folder = folder or cache_dir()
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []


def _key(tickers: list[str], start: str | None, end: str | None) -> str:
    safe = "-".join(re.sub(r"[^A-Za-z0-9.^=]", "_", t) for t in tickers)
    return f"{safe}__{start or 'first'}__{end or 'last'}"


def download(
    tickers: list[str],
    *,
    start: str | None = None,
    end: str | None = None,
    cache: str | Path | None = None,
    refresh: bool = False,
    fill: str | None = None,
    offline: str = "a bundled data set or a CSV file",
) -> Market:
    """Daily OHLCV bars of ``tickers`` (adjusted for splits and dividends) as a :class:`Market`.

    Args:
        tickers: Yahoo symbols, e.g. ``["AAPL", "^GSPC"]``.
        start, end: inclusive date range (``YYYY-MM-DD``).
        cache: cache folder (default: :func:`cache_dir`).
        refresh: download again even if the cache has this request.
        fill: None rejects a ticker's missing day (e.g. an exchange holiday), ``"ffill"``
            carries its last close forward (see :func:`market_from_frames`).
        offline: what the "cannot download" error suggests instead (``load_market`` names
            the bundled sets).

    Raises:
        DataError: no network or an empty answer from Yahoo (naming the cached alternatives),
            or data that fails validation.
    """
    if not tickers:
        raise DataError("yahoo download needs at least one ticker")
    for what, value in (("start", start), ("end", end)):
        if value is not None:
            parse_date(value, what)  # here, not as an 'offline' error from the download
    folder = Path(cache) if cache else cache_dir()
    path = folder / f"{_key(tickers, start, end)}.parquet"
    if path.is_file() and not refresh:
        return _to_market(_read_cache(path), tickers, path.stem, fill)
    try:
        import yfinance as yf

        # yfinance's `end` is exclusive: add a day so the range is inclusive like everywhere else
        end_excl = (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d") if end else None
        raw = yf.download(
            tickers,
            start=start,
            end=end_excl,
            auto_adjust=True,
            progress=False,
            group_by="column",
            threads=False,
        )
    except Exception as err:  # yfinance raises many types when offline
        raise DataError(
            _offline(tickers, folder, f"{type(err).__name__}: {err}", offline)
        ) from None
    if raw is None or raw.empty:
        raise DataError(_offline(tickers, folder, "Yahoo returned no rows", offline))
    long = _tidy(raw, tickers)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    long.to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a half-written file never looks like a cache hit
    return _to_market(long, tickers, path.stem, fill)


def _read_cache(path: Path) -> pd.DataFrame:
    """A cached download; one DataError line if the file is unreadable or damaged."""
    try:
        long = pd.read_parquet(path)
    except PermissionError:
        raise DataError(
            f"{path}: permission denied reading the Yahoo cache; make it readable or delete it"
        ) from None
    except (OSError, ValueError) as err:  # truncated, not Parquet, ...
        cause = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(
            f"{path}: damaged Yahoo cache file ({cause}); delete it to download again "
            "(or pass refresh=True)"
        ) from None
    if not {"date", "ticker", "close"} <= set(long.columns):
        raise DataError(
            f"{path}: not a qmml Yahoo cache file (columns {', '.join(map(str, long.columns))}); "
            "delete it to download again"
        )
    return long


def _offline(tickers: list[str], folder: Path, why: str, instead: str) -> str:
    cached = cached_files(folder)
    have = (
        f"cached downloads in {folder}: {', '.join(cached)}"
        if cached
        else f"nothing cached in {folder}"
    )
    return (
        f"cannot download {', '.join(tickers)} from Yahoo Finance (no network? {why}); "
        f"{have}; offline, use {instead}"
    )


def _tidy(raw: pd.DataFrame, tickers: list[str]) -> pd.DataFrame:
    """yfinance's frame (columns (field, ticker), or flat for one ticker) in long format."""
    rows = []
    if isinstance(raw.columns, pd.MultiIndex):
        for t in tickers:
            part = {_COLS[f]: raw[(f, t)] for f in _COLS if (f, t) in raw.columns}
            rows.append(pd.DataFrame(part).assign(ticker=t))
    else:
        part = {_COLS[f]: raw[f] for f in _COLS if f in raw.columns}
        rows.append(pd.DataFrame(part).assign(ticker=tickers[0]))
    long = pd.concat(rows)
    long.index = pd.DatetimeIndex(long.index).tz_localize(None)
    return long.rename_axis("date").reset_index()


def _to_market(long: pd.DataFrame, tickers: list[str], name: str, fill: str | None) -> Market:
    missing = sorted(set(tickers) - set(long["ticker"]))
    if missing:
        raise DataError(
            f"{name}: no data for {', '.join(missing)} in the download; check the "
            "symbols (Yahoo spells indices with '^', e.g. ^GSPC)"
        )
    frames = {
        f: long.pivot(index="date", columns="ticker", values=f)[tickers]
        for f in _COLS.values()
        if f in long.columns
    }
    for f in frames:
        frames[f].index = pd.DatetimeIndex(frames[f].index, name="Date")
    # Yahoo leaves holes where one exchange trades and another does not: drop all-empty
    # rows, then fill or report any remaining gap through the normal validation
    close = frames["close"]
    keep = close.notna().any(axis=1)
    return market_from_frames({f: df[keep] for f, df in frames.items()}, name=name, fill=fill)
