"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmml.envs.market.backtest import metrics as mx

EQ = np.array([100.0, 110.0, 99.0, 121.0])  # returns +10%, -10%, +22.2%


def test_returns_total_and_cagr() -> None:
    np.testing.assert_allclose(mx.returns_of(EQ), [0.1, -0.1, 22 / 99], rtol=1e-12)
    assert mx.total_return_pct(EQ) == pytest.approx(21.0)
    assert mx.cagr_pct(EQ, periods_per_year=3) == pytest.approx(21.0)  # exactly one year
    assert mx.cagr_pct(EQ, periods_per_year=6) == pytest.approx(100 * (1.21**2 - 1))  # half
    assert math.isnan(mx.cagr_pct(np.array([100.0])))
    assert mx.cagr_pct(np.array([100.0, 0.0])) == -100.0


def test_volatility_sharpe_sortino() -> None:
    r = np.array([0.1, -0.1, 22 / 99])
    mean = (0.1 - 0.1 + 22 / 99) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)  # sample standard deviation
    assert mx.annual_volatility_pct(r, periods_per_year=4) == pytest.approx(100 * sd * 2)
    assert mx.sharpe_ratio(r, periods_per_year=4) == pytest.approx(mean / sd * 2)
    assert mx.sharpe_ratio(r, risk_free_annual=0.04, periods_per_year=4) == pytest.approx(
        (mean - 0.01) / sd * 2
    )
    downside = math.sqrt(0.01 / 3)  # only -10% is below zero, averaged over all 3 bars
    assert mx.sortino_ratio(r, periods_per_year=4) == pytest.approx(mean / downside * 2)
    assert math.isnan(mx.sharpe_ratio(np.array([0.01, 0.01])))  # no variation
    assert mx.sortino_ratio(np.array([0.01, 0.02])) == math.inf  # no downside
    assert math.isnan(mx.annual_volatility_pct(np.array([0.1])))


def test_drawdowns_and_calmar() -> None:
    eq = np.array([100.0, 120.0, 90.0, 96.0, 130.0, 117.0])
    np.testing.assert_allclose(mx.drawdown(eq), [0, 0, -0.25, -0.2, 0, -0.1])
    assert mx.max_drawdown_pct(eq) == pytest.approx(-25.0)
    assert mx.max_drawdown_duration_bars(eq) == 2  # days 2 and 3 under the 120 peak
    assert mx.max_drawdown_duration_bars(np.array([1.0, 0.5, 0.6, 0.7, 0.8])) == 4  # never back
    assert mx.max_drawdown_pct(np.array([1.0, 2.0, 3.0])) == 0.0
    assert mx.calmar_ratio(eq, periods_per_year=5) == pytest.approx(17.0 / 25.0)
    assert math.isnan(mx.calmar_ratio(np.array([1.0, 2.0])))


def test_exposure_turnover_trades() -> None:
    assert mx.exposure_pct(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, -2.0], [0.0, 0.0]])) == 50.0
    assert mx.exposure_pct(np.array([0.0, 3.0, 3.0, 3.0])) == 75.0
    # 200 traded over 4 bars (= 1 year at 4 bars a year) on an average equity of 100
    assert mx.turnover_annual(
        np.array([100.0, 0, 100.0, 0]), np.full(5, 100.0), periods_per_year=4
    ) == pytest.approx(2.0)
    pnl = np.array([10.0, -5.0, 20.0, -5.0, 0.0])
    assert mx.win_rate_pct(pnl) == pytest.approx(40.0)
    assert mx.profit_factor(pnl) == pytest.approx(3.0)
    assert mx.profit_factor(np.array([1.0])) == math.inf
    assert math.isnan(mx.profit_factor(np.array([])))
    assert math.isnan(mx.win_rate_pct(np.array([])))


def test_constant_return_and_empty_inputs_give_nan_not_noise() -> None:
    # a steady 0.1% a day: the returns differ only by rounding (sd ~1e-18), which used to
    # give a Sharpe ratio of 1e14 that sorted to the top of a grid
    steady = 100.0 * 1.001 ** np.arange(300)
    r = mx.returns_of(steady)
    assert 0 < r.std(ddof=1) < 1e-15  # the rounding noise is really there
    assert math.isnan(mx.sharpe_ratio(r))
    empty = np.array([])
    assert math.isnan(mx.total_return_pct(empty)) and math.isnan(mx.max_drawdown_pct(empty))
    assert math.isnan(mx.exposure_pct(np.zeros((0, 2))))
    assert mx.max_drawdown_duration_bars(empty) == 0
