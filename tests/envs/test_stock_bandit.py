import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from qmml.agents.bandits import EpsilonGreedy, RandomAgent, simulate
from qmml.envs.market.data import DataError
from qmml.envs.market.sources import load_market
from qmml.envs.stock_bandit import (
    StockBanditBatch,
    StockPickingEnv,
    costs_and_wealth,
    kept_after,
    net_returns,
)


def load_stock_closes(tickers=None, start=None, end=None) -> pd.DataFrame:
    return load_market("stocks20", tickers=tickers, start=start, end=end).closes()


def _closes() -> pd.DataFrame:
    idx = pd.date_range("2020-01-01", periods=4, freq="D")
    return pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1], "B": [20.0, 18.0, 18.0, 19.8]}, index=idx)


def test_bundled_data_shape_and_range():
    df = load_stock_closes()
    assert df.shape == (8313, 20)
    assert str(df.index[0].date()) == "1990-01-02" and str(df.index[-1].date()) == "2022-12-28"
    assert (df > 0).all().all()
    sp = load_market("sp500", start="2022-01-01")
    assert sp.dates[0] >= pd.Timestamp("2022-01-01") and sp.close[0, 0] > 1000


def test_data_errors():
    with pytest.raises(DataError, match="did you mean 'AAPL'"):
        load_stock_closes(["AAPLE"])
    with pytest.raises(DataError, match="only 1 trading days"):
        load_stock_closes(start="2022-12-28", end="2022-12-28")


def test_env_hand_computed_returns_and_costs():
    env = StockPickingEnv(_closes(), cost_bps=100.0)  # 1% per side, easy to check
    obs, info = env.reset(seed=0)
    assert obs == 2 and info["wealth"] == 1.0  # holding nothing yet
    obs, r, _term, trunc, info = env.step(0)  # buy A: +10%, one side of cost
    assert obs == 0 and r == pytest.approx(100 * (1.1 * 0.99 - 1))
    _, r, _, _, _ = env.step(0)  # hold A: +10%, no cost
    assert r == pytest.approx(10.0)
    _, r, _, trunc, info = env.step(1)  # switch to B: +10%, two sides
    assert r == pytest.approx(100 * (1.1 * 0.98 - 1))
    assert trunc and info["wealth"] == pytest.approx(1.1 * 0.99 * 1.1 * 1.1 * 0.98)


def test_batch_matches_env_and_vectorised_wealth():
    closes = load_stock_closes(["AAPL", "MSFT", "KO"], start="2021-01-01", end="2021-06-30")
    prices = closes.to_numpy()
    returns = prices[1:] / prices[:-1] - 1
    trace = simulate(
        EpsilonGreedy(epsilon=0.2),
        StockBanditBatch(returns, 3, cost_bps=5),
        len(returns),
        rng=np.random.default_rng(0),
        record_actions=True,
    )
    net, wealth = costs_and_wealth(returns, trace.actions, 5.0)
    np.testing.assert_allclose(100 * net.mean(axis=1), trace.mean_reward, rtol=1e-12)
    env = gym.make("qmml/StockPicking-v0", closes=closes, cost_bps=5.0)
    env.reset(seed=0)
    for a in trace.actions[:, 1]:
        *_, info = env.step(int(a))
    assert info["wealth"] == pytest.approx(wealth[-1, 1], rel=1e-12)


def test_random_pickers_pay_costs():
    closes = load_stock_closes(start="2019-01-01", end="2019-12-31")
    prices = closes.to_numpy()
    returns = prices[1:] / prices[:-1] - 1
    free = simulate(
        RandomAgent(),
        StockBanditBatch(returns, 200, cost_bps=0),
        len(returns),
        rng=np.random.default_rng(1),
    )
    costly = simulate(
        RandomAgent(),
        StockBanditBatch(returns, 200, cost_bps=10),
        len(returns),
        rng=np.random.default_rng(1),
    )
    # same picks, so the gap is exactly the costs: about 2 sides x 10 bps x (1 - 1/k) a day
    gap = free.mean_reward.mean() - costly.mean_reward.mean()
    assert 0.17 < gap < 0.20  # in percent per day (19 bps)


def test_env_validation():
    with pytest.raises(ValueError, match="cost_bps"):
        StockPickingEnv(_closes(), cost_bps=-1)
    env = StockPickingEnv(_closes())
    env.reset()
    with pytest.raises(ValueError, match="action must be in"):
        env.step(5)


def test_one_cost_function_for_rewards_and_wealth(monkeypatch):
    """Batch rewards, the env's wealth and the vectorised wealth all come from net_returns."""
    import qmml.envs.stock_bandit as sb

    calls = []
    real = sb.net_returns

    def spy(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(sb, "net_returns", spy)
    closes = _closes()
    returns = closes.to_numpy()[1:] / closes.to_numpy()[:-1] - 1
    actions = np.array([[0], [0], [1]])
    net, wealth = sb.costs_and_wealth(returns, actions, 100.0)
    batch = sb.StockBanditBatch(returns, 1, cost_bps=100.0)
    rewards = [batch.step(a)[0] for a in actions]
    assert len(calls) == 1 + 3
    np.testing.assert_array_equal(100.0 * net[:, 0], rewards)  # byte-identical, not approx
    env = StockPickingEnv(closes, cost_bps=100.0)
    env.reset(seed=0)
    for a in actions[:, 0]:
        *_, info = env.step(int(a))
    assert info["wealth"] == pytest.approx(wealth[-1, 0], rel=1e-15)
    assert kept_after(1.0, 100.0) == 0.99
    assert net_returns(np.array([0.1]), np.array([1]), np.array([0]), 100.0)[0] == pytest.approx(
        1.1 * 0.98 - 1
    )
