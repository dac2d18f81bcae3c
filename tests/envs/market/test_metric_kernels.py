"""The compiled metrics equal the NumPy functions of ``backtest.metrics`` (with the trades of
``round_trips``) bit for bit, on random and on degenerate paths."""

from __future__ import annotations

import numpy as np
import pytest

from qmml.envs.market.backtest import metrics as mx
from qmml.envs.market.backtest.metric_kernels import (
    METRIC_NAMES,
    batch_metrics,
    pairwise_sum,
    path_metrics,
)
from qmml.envs.market.backtest.results import round_trips


def _reference(e, units, traded, costs, fills, n_assets, last_close) -> dict[str, float]:
    """``BacktestResult.metrics`` as it was written before the kernel: NumPy throughout."""
    r = mx.returns_of(e)
    rows = round_trips(fills, n_assets, last_close)
    closed = np.array([row[4] for row in rows if not row[5]])
    tv = float(np.sum(traded))
    return {
        "total_return_pct": mx.total_return_pct(e),
        "cagr_pct": mx.cagr_pct(e),
        "annual_volatility_pct": mx.annual_volatility_pct(r),
        "sharpe_ratio": mx.sharpe_ratio(r),
        "sortino_ratio": mx.sortino_ratio(r),
        "calmar_ratio": mx.calmar_ratio(e),
        "max_drawdown_pct": mx.max_drawdown_pct(e),
        "max_drawdown_duration_bars": float(mx.max_drawdown_duration_bars(e)),
        "exposure_pct": mx.exposure_pct(units),
        "turnover_annual": mx.turnover_annual(traded, e),
        "n_trades": float(len(rows)),
        "win_rate_pct": mx.win_rate_pct(closed),
        "profit_factor": mx.profit_factor(closed),
        "costs_pct": float(100.0 * costs.sum() / e[0]),
        "final_equity": float(e[-1]),
        "costs": float(costs.sum()),
        "costs_pct_traded": float(100.0 * costs.sum() / tv) if tv > 0 else 0.0,
    }


def _kernel(e, units, traded, costs, fills, n_assets) -> dict[str, float]:
    out = np.empty(len(METRIC_NAMES))
    path_metrics(e, units, traded, costs, fills, n_assets, out)
    return dict(zip(METRIC_NAMES, out.tolist(), strict=True))


def _random_path(rng: np.random.Generator, k: int, n_assets: int):
    e = 1e5 * np.exp(np.cumsum(np.r_[0.0, rng.normal(0, 0.02, k)]))
    units = np.where(rng.random((k, n_assets)) < 0.6, rng.integers(-50, 50, (k, n_assets)), 0.0)
    traded = np.where(rng.random(k) < 0.1, rng.uniform(0, 1e5, k), 0.0)
    costs = traded * 5e-4
    m = int(rng.integers(0, 60))
    fills = np.column_stack(
        [
            np.sort(rng.integers(0, max(k, 1), m)),
            rng.integers(0, n_assets, m),
            rng.choice([-30.0, -10.0, -3.0, 3.0, 10.0, 30.0], m),
            rng.uniform(50, 150, m),
            rng.uniform(0, 2, m),
        ]
    ).reshape(-1, 5)
    return e, units.astype(float), traded, costs, fills


def _same(got: dict[str, float], want: dict[str, float]) -> None:
    assert list(got) == list(want)
    for key in want:  # repr: every bit, nan == nan, inf == inf
        assert repr(got[key]) == repr(want[key]), key


@pytest.mark.parametrize("seed", range(12))
def test_path_metrics_equal_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.choice([0, 1, 2, 3, 7, 8, 9, 127, 128, 129, 300, 1000, 2263]))
    n = int(rng.integers(1, 4))
    e, units, traded, costs, fills = _random_path(rng, k, n)
    last = rng.uniform(50, 150, n)
    _same(
        _kernel(e, units, traded, costs, fills, n),
        _reference(e, units, traded, costs, fills, n, last),
    )


def test_degenerate_paths() -> None:
    k = 50
    flat = np.full(k + 1, 1e5)
    none = np.zeros((k, 1))
    zero = np.zeros(k)
    cases = [
        (flat, none, zero, zero),  # never trades
        (np.linspace(1e5, 2e5, k + 1), none + 1, zero + 1.0, zero + 0.1),  # no losing bar
        (np.r_[1e5, 9e4, -5e3, -5e3, -5e3], none[:4], zero[:4], zero[:4]),  # bankrupt
        (np.r_[1e5], none[:0], zero[:0], zero[:0]),  # one row
        (1e5 * (1.0 + 1e-3) ** np.arange(k + 1), none, zero, zero),  # constant return
    ]
    fills = np.empty((0, 5))
    for e, units, traded, costs in cases:
        got = _kernel(e, units, traded, costs, fills, 1)
        _same(got, _reference(e, units, traded, costs, fills, 1, np.array([1.0])))


def test_pairwise_sum_equals_np_sum() -> None:
    rng = np.random.default_rng(3)
    for n in [*range(300), 1000, 1031, 4097, 9000, 20001]:
        a = rng.standard_normal(n) * rng.uniform(0.1, 1e4)
        assert pairwise_sum(a) == a.sum()
        assert pairwise_sum(a[::3]) == a[::3].sum()  # a strided view sums the same way


def test_batch_metrics_rows_are_path_metrics() -> None:
    rng = np.random.default_rng(9)
    b, k = 4, 200
    eq = 1e5 * np.exp(np.cumsum(rng.normal(0, 0.01, (b, k + 1)), axis=1))
    units = np.where(rng.random((b, k + 1, 1)) < 0.5, 3.0, 0.0)
    traded, costs = rng.uniform(0, 10, (b, k)), rng.uniform(0, 0.1, (b, k))
    off = np.array([0, 5, 17, 60])
    fills = np.array([[0, 0, 2.0, 100.0, 0.1], [4, 0, -2.0, 101.0, 0.1], [9, 0, 5.0, 99.0, 0.2]])
    start = np.array([0, 2, 2, 3, 3])
    table = batch_metrics(eq, units, traded, costs, off, fills, start, 1)
    for i in range(b):
        o = off[i]
        row = fills[start[i] : start[i + 1]]
        want = _kernel(eq[i, o:], units[i, o + 1 :], traded[i, o:], costs[i, o:], row, 1)
        assert table[i].tobytes() == np.array(list(want.values())).tobytes()
