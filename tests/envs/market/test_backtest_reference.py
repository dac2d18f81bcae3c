"""The backtester's outputs, bit for bit, against fingerprints recorded before its numba
kernels replaced the per-portfolio Python loops (``backtest_reference.json``).

Every array of every result (equity, cash, units, targets, costs, traded value, fills), every
metric and the grid table are hashed from their raw bytes, so any change in any bit fails.
The scenarios cover each engine path: one asset and several, whole and fractional units,
every fill timing, slippage, shorts, borrow fees, forced rebalances, stateful strategies,
a bankrupt account and the real-data 10 x 10 SMA grid of the speed benchmark.

Regenerate (only after a change that is *meant* to alter results):
``PYTHONPATH=. .venv/bin/python tests/envs/market/test_backtest_reference.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmml.agents.strategies import (
    BollingerReversion,
    BuyAndHold,
    EqualWeight,
    RandomStrategy,
    RsiReversion,
    SmaCrossover,
    TimeSeriesMomentum,
)
from qmml.envs.market import ExecutionModel, Market, load_market
from qmml.envs.market.backtest.engine import (
    BacktestResult,
    backtest,
    backtest_batch,
    backtest_grid,
)
from qmml.envs.market.synthetic import gbm

REFERENCE = Path(__file__).with_name("backtest_reference.json")
FAST = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
SLOW = [60, 80, 100, 120, 140, 160, 180, 200, 220, 240]
BENCH = ExecutionModel(commission_bps=5.0, units="whole", fill="next_open")


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:24]


def _result(r: BacktestResult) -> dict[str, object]:
    arrays = ("equity", "cash", "units", "targets", "costs", "traded_value", "fill_arrays")
    out: dict[str, object] = {k: _digest(getattr(r, k)) for k in arrays}
    out["t0"] = r.t0
    out["metrics"] = {k: repr(v) for k, v in r.metrics().items()}
    tr = r.trades()
    out["trades"] = _digest(tr[["pnl"]].to_numpy(float)) + f"/{len(tr)}"
    return out


def _table(t: pd.DataFrame) -> dict[str, object]:
    return {
        "columns": list(t.columns),
        "dtypes": [str(d) for d in t.dtypes],
        "values": _digest(t.to_numpy(np.float64)),
    }


def _batch(strategies: list, market, **kw) -> list[dict[str, object]]:
    return [_result(r) for r in backtest_batch(strategies, market, **kw)]


def _grid(factory, grid, market, **kw) -> dict[str, object]:
    table, results = backtest_grid(factory, grid, market, **kw)
    return {"table": _table(table), "results": [_result(r) for r in results]}


class _Levered(SmaCrossover):
    """An SMA cross at 8x leverage: on a wild market it goes bankrupt (equity <= 0)."""

    def decide(self, window, features, cache=None):
        return 8.0 * super().decide(window, features, cache)


def _sma_grid(allow_short: bool = False) -> list[SmaCrossover]:
    return [SmaCrossover(f, s, allow_short) for f in (3, 5, 10) for s in (12, 20, 40)]


@functools.cache
def _markets() -> tuple[Market, ...]:
    return (
        gbm(500, seed=11, sigma=0.35, s0=37.0),
        gbm(400, 3, seed=12, sigma=0.3, corr=0.3),
        dataclasses.replace(gbm(300, seed=13), open=None),
        gbm(300, seed=14, mu=-3.0, sigma=1.5),
        load_market("sp500-ohlcv", start="2010-01-01", end="2018-12-31"),
    )


def _scenarios() -> dict[str, Callable[[], object]]:
    one, three, close_only, crash, sp = _markets()
    ex = ExecutionModel
    return {
        "sp500_grid_bench": lambda: _grid(
            SmaCrossover, {"fast": FAST, "slow": SLOW}, sp, execution=BENCH
        ),
        "sp500_single_bench": lambda: _result(backtest(SmaCrossover(10, 30), sp, execution=BENCH)),
        "sp500_single_default": lambda: _result(backtest(SmaCrossover(), sp)),
        "one_fractional": lambda: _batch(_sma_grid(), one),
        "one_whole": lambda: _batch(
            _sma_grid(), one, execution=ex(units="whole", commission_bps=7)
        ),
        "one_slippage_close": lambda: _batch(
            _sma_grid(), one, execution=ex(slippage_bps=10, commission_bps=3, fill="close")
        ),
        "one_next_close": lambda: _batch(_sma_grid(), one, execution=ex(fill="next_close")),
        "one_short": lambda: _batch(
            _sma_grid(True), one, execution=ex(allow_short=True, slippage_bps=5, max_leverage=1.5)
        ),
        "one_short_whole": lambda: _batch(
            _sma_grid(True), one, execution=ex(allow_short=True, units="whole", commission_bps=0)
        ),
        "one_borrow": lambda: _batch(
            _sma_grid(True), one, execution=ex(allow_short=True, borrow_bps=200)
        ),
        "one_borrow_single": lambda: _result(
            backtest(SmaCrossover(5, 20, True), one, execution=ex(allow_short=True, borrow_bps=50))
        ),
        "one_mixed": lambda: _batch(
            [
                BuyAndHold(),
                EqualWeight(7),
                RandomStrategy(0.1, seed=3),
                RsiReversion(),
                BollingerReversion(),
                TimeSeriesMomentum(30),
                SmaCrossover(5, 20),
            ],
            one,
            execution=ex(units="whole", slippage_bps=2),
        ),
        "one_warmup_window": lambda: _batch(
            _sma_grid(), one, start="2000-06-01", end="2001-06-01", warmup=60
        ),
        "one_close_only": lambda: _batch(_sma_grid(), close_only, execution=ex(units="whole")),
        "one_crash_leverage": lambda: _batch(
            [SmaCrossover(2, 5, True), BuyAndHold(), _Levered(2, 5, True), _Levered(3, 9)],
            crash,
            execution=ex(allow_short=True, max_leverage=10.0),
        ),
        "three_assets": lambda: _batch(
            [SmaCrossover(5, 20), EqualWeight(5), RandomStrategy(0.2, seed=1), BuyAndHold()],
            three,
            execution=ex(slippage_bps=3, units="whole"),
        ),
        "three_assets_borrow": lambda: _batch(
            [SmaCrossover(5, 20, True), RandomStrategy(0.2, seed=2, allow_short=True)],
            three,
            execution=ex(allow_short=True, borrow_bps=100, max_leverage=2.0),
        ),
        "grid_constraint": lambda: _grid(
            SmaCrossover,
            {"fast": [5, 10, 30], "slow": [20, 40]},
            one,
            constraint=lambda p: p["fast"] < p["slow"],
            execution=ex(units="whole"),
        ),
        "grid_rsi": lambda: _grid(
            RsiReversion, {"period": [5, 14], "buy_below": [20.0, 35.0]}, one
        ),
    }


def _record() -> dict[str, object]:
    return {name: make() for name, make in _scenarios().items()}


@pytest.fixture(scope="module")
def reference() -> dict[str, object]:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", list(_scenarios()))
def test_outputs_equal_the_recorded_reference(
    name: str, reference: dict[str, object], recorded_math: None
) -> None:
    assert _scenarios()[name]() == reference[name]


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps(_record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE}")
