"""The ``env`` section every market workload shares: which data, which tickers, which period,
what trading costs (``trading-baselines``, ``trading-rl`` and ``bandit-stocks``).

``data`` takes a bundled name (``stocks20``, ``sp500``, ``sp500-ohlcv``, ``nasdaq-ohlcv``),
``yahoo``, ``synthetic`` or a CSV path; everything is loaded through
:func:`qmml.envs.market.sources.load_market`. A workload adds its own fields by subclassing
:class:`MarketSection` (and may change the defaults).
"""

from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from qmml.envs.market.data import DataError, parse_date
from qmml.experiments.spec import StrictModel

__all__ = ["DEFAULT_SLIPPAGE_BPS", "MarketSection", "data_provenance"]

# the old spellings of the data source, and what to write instead
_OLD_DATA = {"bundled": "stocks20"}


# One slippage default for every trading command (qmml backtest, trading-baselines,
# trading-rl): half a spread of a liquid large cap, per side.
DEFAULT_SLIPPAGE_BPS = 2.0


class MarketSection(StrictModel):
    """The ``env`` section's market: data source, tickers, period and costs.

    Attributes:
        data: a bundled name, ``yahoo``, ``synthetic`` or a CSV path.
        tickers: tickers to keep (default: all of the data).
        start, end: inclusive period (``YYYY-MM-DD``; YAML dates are accepted).
        cost_bps: commission per side in basis points.
        date_format: the ``strptime`` format of a CSV's dates, e.g. ``"%d/%m/%Y"``: needed
            when slash or dot dates read both day first and month first (no day above 12).
    """

    # whether the workload passes date_format on to the loader (else setting it is an error)
    reads_date_format: ClassVar[bool] = False

    data: str = "stocks20"
    tickers: list[str] | None = None
    start: str | None = None
    end: str | None = None
    cost_bps: float = Field(default=5.0, ge=0, lt=1000)
    date_format: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_market_key(cls, values: Any) -> Any:
        if isinstance(values, dict) and "market" in values:
            new = values["market"]
            raise ValueError(f"the key 'market' is now 'data'; write data: {new}")
        return values

    @model_validator(mode="after")
    def _date_format_read(self) -> Any:
        if self.date_format is not None and not self.reads_date_format:
            raise ValueError(
                "date_format is not read by this experiment yet; write the CSV's dates as "
                "YYYY-MM-DD instead"
            )
        return self

    @field_validator("data")
    @classmethod
    def _old_data_value(cls, v: str) -> str:
        if v in _OLD_DATA:
            raise ValueError(f"{v!r} is the old spelling; write data: {_OLD_DATA[v]}")
        return v

    @field_validator("start", "end", "data_start", "data_end", mode="before", check_fields=False)
    @classmethod
    def _iso_date(cls, v: Any) -> Any:
        # YAML reads an unquoted 2018-06-01 as a date; accept it as the ISO string
        if isinstance(v, (datetime.date, datetime.datetime)):
            return v.isoformat()[:10]
        if v is not None:
            try:  # a bad date fails here, once, not as a traceback later
                parse_date(v)
            except DataError:
                raise ValueError("not a date; use YYYY-MM-DD") from None
        return v


def data_provenance(data: str) -> list[tuple[str, str]]:
    """Where a run's market data came from, for the report: the bundled file and its SHA-256,
    a CSV's path and SHA-256, or the Yahoo cache files and when they were downloaded."""
    import datetime
    import hashlib

    from qmml.envs.market import sources, yahoo

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    if data in sources.BUNDLED:
        path = Path(str(resources.files("qmml.envs") / "data" / sources.BUNDLED[data]))
        return [
            ("data", f"bundled '{data}': {path.name}, sha256 {sha(path)}… (envs/data/README.md)")
        ]
    if data == "yahoo":
        folder = yahoo.cache_dir()
        rows = []
        for name in yahoo.cached_files(folder)[:10]:
            f = folder / f"{name}.parquet"
            when = datetime.datetime.fromtimestamp(f.stat().st_mtime).isoformat(timespec="minutes")
            rows.append(("data", f"Yahoo Finance download {name}, cached {when} in {folder}"))
        return rows or [("data", f"Yahoo Finance (no cached download yet in {folder})")]
    if data == "synthetic":
        return [("data", "synthetic prices drawn from the trial's seed")]
    path = Path(data)
    if path.is_file():
        return [("data", f"CSV {path.resolve()}, sha256 {sha(path)}…")]
    return [("data", data)]
