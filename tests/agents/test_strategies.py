"""Rule-based strategies: identical in the env and in the fast backtester, no look-ahead,
hand-checked signals, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmml.agents.protocol import Agent
from qmml.agents.strategies import (
    STRATEGIES,
    BollingerReversion,
    CrossSectionalMomentum,
    RandomStrategy,
    RsiReversion,
    SmaCrossover,
    TimeSeriesMomentum,
)
from qmml.envs.market import ExecutionModel, Market, StockTradingEnv
from qmml.envs.market.backtest.engine import backtest
from qmml.envs.market.synthetic import gbm

PARAMS = {
    "ts-momentum": {"lookback_days": 40},
    "xs-momentum": {"lookback_days": 40},
    "sma-crossover": {"fast": 5, "slow": 20},
    "random": {"p_trade": 0.1, "seed": 3},
}
MODELS = {
    "default": ExecutionModel(),
    "whole-costly-short": ExecutionModel(
        commission_bps=10, slippage_bps=5, borrow_bps=50, allow_short=True, units="whole"
    ),
    "close-fill": ExecutionModel(fill="close", commission_bps=2),
}


def _make(name: str, short: bool = False):
    kw = dict(PARAMS.get(name, {}))
    if short and name in ("sma-crossover", "ts-momentum", "random"):
        kw["allow_short"] = True
    return STRATEGIES[name](**kw)


def run_in_env(strategy, market: Market, ex: ExecutionModel, start: str) -> dict:
    env = StockTradingEnv(
        market,
        window=strategy.lookback + 3,
        action_mode="weights",
        execution=ex,
        rebalance_every=strategy.rebalance_every,
        start=start,
        features=("rel_close", "ret"),
    )
    strategy.learn(env)
    obs, _ = env.reset()
    done = False
    while not done:
        obs, _, term, trunc, _ = env.step(strategy.predict(obs))
        done = term or trunc
    return env.history()


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize(
    ("name", "n_assets"),
    [(s, n) for s in STRATEGIES for n in (1, 4) if not (s == "xs-momentum" and n == 1)],
)
def test_env_and_fast_path_identical(name: str, model: str, n_assets: int) -> None:
    ex = MODELS[model]
    market = gbm(260, n_assets, seed=7, sigma=0.35)
    h = run_in_env(_make(name, ex.allow_short), market, ex, "2000-04-03")
    r = backtest(_make(name, ex.allow_short), market, start="2000-04-03", execution=ex)
    assert r.t0 == h["t"][0]
    np.testing.assert_array_equal(r.equity, h["equity"])  # bit for bit
    np.testing.assert_array_equal(r.units, h["units"])
    steps = sorted({fi for fi, _ in h["trades"]})
    lag = 0 if ex.fill == "close" else 1
    assert sorted(set(r.fill_arrays[:, 0].astype(int) + r.t0 + lag)) == steps
    assert len(r.fills) == sum(int(np.count_nonzero(d)) for _, d in h["trades"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(60, 140),
    factor=st.floats(0.3, 3.0),
    seed=st.integers(0, 5),
    name=st.sampled_from(sorted(STRATEGIES)),
)
def test_strategies_decide_without_future_prices(cut, factor, seed, name) -> None:
    m = gbm(170, 3, seed=seed, sigma=0.3)
    bump = np.where(np.arange(m.n_days)[:, None] > cut, factor, 1.0)
    m2 = Market(
        m.dates, m.tickers, m.close * bump, m.open * bump, m.high * bump, m.low * bump, m.volume
    )
    a = backtest(_make(name), m, start="2000-02-15")
    b = backtest(_make(name), m2, start="2000-02-15")
    k = cut - a.t0  # decisions at days <= cut, and every bar marked up to the close of cut
    np.testing.assert_array_equal(a.targets[: k + 1], b.targets[: k + 1])
    np.testing.assert_array_equal(a.equity[: k + 1], b.equity[: k + 1])


def _market(close: np.ndarray) -> Market:
    close = np.asarray(close, dtype=float).reshape(len(close), -1)
    dates = pd.bdate_range("2020-01-01", periods=len(close))
    return Market(dates, tuple(f"A{i}" for i in range(close.shape[1])), close)


def _decide(strategy, market: Market) -> np.ndarray:
    from qmml.envs.market.features import FeatureTable

    tab = FeatureTable.build(market, ("rel_close",))
    t = market.n_days - 1
    return strategy.decide(tab.windows(np.array([t]), strategy.lookback), tab.features)[0]


def test_sma_crossover_signals_by_hand() -> None:
    falling_then_up = np.r_[np.linspace(20, 10, 30), 30.0]  # jump: fast SMA crosses above
    s = SmaCrossover(fast=3, slow=10)
    assert _decide(s, _market(falling_then_up)) == pytest.approx([1.0])
    assert np.isnan(_decide(s, _market(np.linspace(10, 20, 31)))[0])  # no cross: hold
    rising_then_drop = np.r_[np.linspace(10, 20, 30), 5.0]
    assert _decide(s, _market(rising_then_drop)) == [0.0]
    assert _decide(SmaCrossover(3, 10, allow_short=True), _market(rising_then_drop)) == [-1.0]


def test_momentum_and_reversion_by_hand() -> None:
    up = np.linspace(10, 20, 30)
    assert _decide(TimeSeriesMomentum(20), _market(up)) == [1.0]
    assert _decide(TimeSeriesMomentum(20, allow_short=True), _market(up[::-1])) == [-1.0]
    three = np.c_[np.linspace(10, 11, 30), np.linspace(10, 15, 30), np.linspace(10, 9, 30)]
    np.testing.assert_allclose(
        _decide(CrossSectionalMomentum(20, top=0.34), _market(three)), [0.0, 1.0, 0.0]
    )
    np.testing.assert_allclose(
        _decide(CrossSectionalMomentum(20, top=0.34, allow_short=True), _market(three)),
        [0.0, 0.5, -0.5],
    )
    # top=0.5 of 3 assets rounds to 2 per basket: capped at 1, so no asset is long and short
    w = _decide(CrossSectionalMomentum(20, top=0.5, allow_short=True), _market(three))
    np.testing.assert_allclose(w, [0.0, 0.5, -0.5])
    assert w.sum() == pytest.approx(0.0) and np.abs(w).sum() == pytest.approx(1.0)
    down = np.linspace(20, 10, 20)  # only losses: RSI 0 -> buy
    assert _decide(RsiReversion(14), _market(down)) == [1.0]
    assert _decide(RsiReversion(14), _market(down[::-1])) == [0.0]  # RSI 100 -> sell
    spike_down = np.r_[np.full(19, 10.0) + 0.01 * np.sin(np.arange(19)), 9.0]
    assert _decide(BollingerReversion(20, 2.0), _market(spike_down)) == [1.0]
    assert _decide(BollingerReversion(20, 2.0), _market(np.r_[np.full(19, 10.0), 10.5])) == [0.0]


def test_random_strategy_is_seeded() -> None:
    m = gbm(300, 2, seed=1)
    a = backtest(RandomStrategy(0.1, seed=4), m)
    b = backtest(RandomStrategy(0.1, seed=4), m)
    c = backtest(RandomStrategy(0.1, seed=5), m)
    np.testing.assert_array_equal(a.equity, b.equity)
    assert not np.array_equal(a.equity, c.equity)
    assert 0 < len(a.fills) < 150


def test_validation_and_agent_protocol() -> None:
    with pytest.raises(ValueError, match="fast < slow"):
        SmaCrossover(fast=30, slow=10)
    with pytest.raises(ValueError, match="lookback_days"):
        TimeSeriesMomentum(0)
    with pytest.raises(ValueError, match="top"):
        CrossSectionalMomentum(top=0.8, allow_short=True)
    with pytest.raises(ValueError, match="buy_below"):
        RsiReversion(buy_below=80, sell_above=70)
    with pytest.raises(ValueError, match="period"):
        BollingerReversion(period=1)
    with pytest.raises(ValueError, match="p_trade"):
        RandomStrategy(p_trade=0)
    with pytest.raises(ValueError, match="rebalance_every"):
        STRATEGIES["equal-weight"](rebalance_every=0)
    with pytest.raises(ValueError, match="at least 2 tickers"):
        backtest(CrossSectionalMomentum(), gbm(300, seed=0))
    s = SmaCrossover(5, 40)
    assert isinstance(s, Agent)
    with pytest.raises(RuntimeError, match="learn"):
        s.predict(np.zeros(10))
    with pytest.raises(ValueError, match="window >= 41"):
        s.learn(StockTradingEnv(gbm(300, seed=0), window=10, action_mode="weights"))
