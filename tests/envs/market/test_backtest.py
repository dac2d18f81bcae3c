"""The fast backtester: round trips by hand, grids equal single runs, accounting guarantees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmml.agents.strategies import BuyAndHold, SmaCrossover, Strategy
from qmml.envs.market import ExecutionModel
from qmml.envs.market.backtest.engine import backtest, backtest_batch, backtest_grid, round_trips
from qmml.envs.market.synthetic import gbm


def test_round_trips_by_hand() -> None:
    # buy 10 @ 10 (commission 0.1), sell 20 @ 12 (commission 0.24): a closed long trade and
    # an open short, the reversing fill split half and half
    fills = np.array([[0, 0, 10.0, 10.0, 0.1], [5, 0, -20.0, 12.0, 0.24]])
    rows = round_trips(fills, 1, np.array([11.0]))
    assert len(rows) == 2
    _a, entry, exit_, direction, pnl, is_open = rows[0]
    assert (entry, exit_, direction, is_open) == (0, 5, 1, False)
    assert pnl == pytest.approx(-100 - 0.1 + 120 - 0.12)
    _, entry, _, direction, pnl, is_open = rows[1]
    assert (entry, direction, is_open) == (5, -1, True)
    assert pnl == pytest.approx(120 - 0.12 - 10 * 11.0)
    # scaling in and out of one position is one trade
    fills = np.array([[0, 0, 5.0, 10.0, 0.0], [1, 0, 5.0, 11.0, 0.0], [2, 0, -10.0, 12.0, 0.0]])
    rows = round_trips(fills, 1, np.array([12.0]))
    assert len(rows) == 1 and rows[0][4] == pytest.approx(-50 - 55 + 120)


class Flat(Strategy):
    name = "flat"

    def decide(self, window, features, cache=None):
        return np.zeros((window.shape[0], window.shape[2]))


def test_flat_strategy_keeps_cash_and_costs_are_never_negative() -> None:
    m = gbm(300, 2, seed=1)
    r = backtest(Flat(), m, execution=ExecutionModel(commission_bps=50, slippage_bps=20))
    assert (r.equity == 100_000.0).all() and r.costs.sum() == 0.0 and len(r.fills) == 0
    for ex in (
        ExecutionModel(commission_bps=20, slippage_bps=10),
        ExecutionModel(commission_bps=0, allow_short=True),
    ):
        r = backtest(SmaCrossover(5, 20, allow_short=ex.allow_short), m, execution=ex)
        assert (r.costs >= 0).all() and (r.traded_value >= 0).all()
        assert r.metrics()["costs_pct"] >= 0
    np.testing.assert_allclose(
        r.equity[1:], r.cash[1:] + (r.units[1:] * r.close[1:]).sum(1), rtol=1e-12
    )


def test_whole_units_never_overdraw_cash() -> None:
    m = gbm(300, seed=2, s0=37.0)
    r = backtest(SmaCrossover(5, 20), m, execution=ExecutionModel(units="whole", commission_bps=10))
    assert np.array_equal(r.units, np.round(r.units)) and r.units.max() > 0
    assert (r.cash >= -1e-9).all()


def test_grid_equals_single_runs_and_metrics_table() -> None:
    m = gbm(400, seed=3, sigma=0.3)
    table, results = backtest_grid(
        SmaCrossover,
        {"fast": [5, 10, 30], "slow": [20, 40]},
        m,
        constraint=lambda p: p["fast"] < p["slow"],
    )
    assert list(table[["fast", "slow"]].itertuples(index=False, name=None)) == [
        (5, 20),
        (5, 40),
        (10, 20),
        (10, 40),
        (30, 40),
    ]
    for p, res in zip(table[["fast", "slow"]].to_dict("records"), results, strict=True):
        single = backtest(SmaCrossover(**p), m)  # alone, from its own warm-up
        assert single.t0 == res.t0 == p["slow"]
        np.testing.assert_array_equal(res.equity, single.equity)
    for col in ("sharpe_ratio", "max_drawdown_pct", "n_trades", "win_rate_pct", "cagr_pct"):
        assert col in table
    assert table["final_equity"].tolist() == [r.equity[-1] for r in results]
    with pytest.raises(ValueError, match="at least one value"):
        backtest_grid(SmaCrossover, {"fast": []}, m)
    with pytest.raises(ValueError, match="constraint"):
        backtest_grid(SmaCrossover, {"fast": [5]}, m, constraint=lambda p: False)


def test_batch_labels_trades_and_dates() -> None:
    m = gbm(300, seed=4)
    bh, sma = backtest_batch([BuyAndHold(), SmaCrossover(5, 20)], m, names=["bh", "sma"])
    assert bh.name == "bh" and len(bh.fills) == 1 and (bh.t0, sma.t0) == (0, 20)  # own warm-up
    assert bh.fills["date"].iloc[0] == m.dates[bh.t0 + 1]  # filled at the next open
    assert bh.fills["price"].iloc[0] == m.open[bh.t0 + 1, 0]
    tr = sma.trades()
    assert list(tr.columns) == ["ticker", "entry_date", "exit_date", "direction", "pnl", "open"]
    assert (tr["exit_date"] >= tr["entry_date"]).all()
    assert sma.metrics()["n_trades"] == len(tr)
    assert bh.metrics()["exposure_pct"] == 100.0


def test_batch_members_equal_their_solo_runs() -> None:
    from qmml.agents.strategies import EqualWeight, RandomStrategy

    m = gbm(300, 3, seed=5)
    members = [RandomStrategy(0.2, seed=1), SmaCrossover(5, 60), EqualWeight(10)]
    batch = backtest_batch(members, m)
    solos = [
        backtest(s, m) for s in (RandomStrategy(0.2, seed=1), SmaCrossover(5, 60), EqualWeight(10))
    ]
    for b, s in zip(batch, solos, strict=True):
        assert b.t0 == s.t0
        np.testing.assert_array_equal(b.equity, s.equity)
        np.testing.assert_array_equal(b.fill_arrays, s.fill_arrays)


def test_grid_heatmap_figure() -> None:
    from qmml.experiments.workloads.trading.plots import grid_heatmap

    m = gbm(300, seed=6)
    table, _ = backtest_grid(SmaCrossover, {"fast": [5, 10], "slow": [20, 30, 40]}, m)
    fig = grid_heatmap(table, "fast", "slow", "total_return_pct")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3, 2)  # slow on rows, fast on columns
    row = table[(table["fast"] == 10) & (table["slow"] == 30)]["total_return_pct"].iloc[0]
    assert image[1, 1] == pytest.approx(row)
    with pytest.raises(ValueError, match="'sharpe' is not a column"):
        grid_heatmap(table, "fast", "slow", "sharpe")


def test_grid_heatmap_of_a_grid_without_finite_values() -> None:
    import warnings

    from qmml.experiments.workloads.trading.plots import grid_heatmap

    table = pd.DataFrame(
        [(5, 10, np.nan), (5, 20, np.nan), (10, 20, np.nan)],
        columns=["fast", "slow", "sharpe_ratio"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: singular-limits warnings from an empty image
        fig = grid_heatmap(table, "fast", "slow")
    assert "no finite sharpe_ratio" in fig.axes[0].texts[0].get_text()
