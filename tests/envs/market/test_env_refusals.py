"""StockTradingEnv and MarketVecEnv refusals and episode ends: bad arguments, actions outside
the action space, steps before reset or after the end, bankruptcy, numpy numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import qmml.envs as envs  # noqa: F401  (registers the ids)
from qmml.envs.market import ExecutionModel, Market, MarketVecEnv, StockTradingEnv
from qmml.envs.market.data import DataError
from qmml.envs.market.synthetic import gbm


def test_errors() -> None:
    m = gbm(100, seed=0)
    with pytest.raises(DataError, match=r"no decision possible.*shorter window"):
        StockTradingEnv(m, window=90)
    with pytest.raises(ValueError, match="action_mode='dicsrete'"):
        StockTradingEnv(m, action_mode="dicsrete")
    with pytest.raises(ValueError, match="include shorts"):
        StockTradingEnv(m, levels=(-1, 0, 1))
    with pytest.raises(ValueError, match="levels"):
        StockTradingEnv(m, levels=(0, 2))
    with pytest.raises(ValueError, match="reward='sharpe'"):
        StockTradingEnv(m, reward="sharpe")
    with pytest.raises(ValueError, match="episode_length=500"):
        StockTradingEnv(m, window=5, episode_length=500)
    with pytest.raises(ValueError, match="either split or start/end"):
        StockTradingEnv(m, split="train", start="2000-02-01")
    with pytest.raises(ValueError, match="split='tset'"):
        StockTradingEnv(m, split="tset")
    with pytest.raises(ValueError, match="render_mode"):
        StockTradingEnv(m, render_mode="human")
    with pytest.raises(ValueError, match="window"):
        StockTradingEnv(m, window=0)
    with pytest.raises(ValueError, match="rebalance_every"):
        StockTradingEnv(m, rebalance_every=0)
    with pytest.raises(ValueError, match="commission_bps"):
        ExecutionModel(commission_bps=-1)
    with pytest.raises(ValueError, match="fill='open'"):
        ExecutionModel(fill="open")
    with pytest.raises(ValueError, match="units="):
        ExecutionModel(units="lots")
    with pytest.raises(ValueError, match="max_leverage"):
        ExecutionModel(max_leverage=0)
    with pytest.raises(ValueError, match="initial_cash"):
        ExecutionModel(initial_cash=0)
    env = StockTradingEnv(m, window=5)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(ValueError, match="outside the decisions"):
        env.reset(options={"start": 1})


@pytest.mark.parametrize("n_assets", [1, 2])
def test_equity_exactly_zero_ends_the_episode_quietly(n_assets: int) -> None:
    # a short of half (one asset: all) the equity at 100 whose price triples (doubles) on the
    # last day leaves exactly 0.0: no ZeroDivisionError, no warning, the episode terminates
    close = np.full((300, n_assets), 100.0)
    close[-1, 0] = 300.0 if n_assets == 2 else 200.0
    m = Market(pd.bdate_range("2020-01-01", periods=300), ("X", "Y")[:n_assets], close=close)
    ex = {"allow_short": True, "commission_bps": 0.0, "fill": "close"}
    env = StockTradingEnv(m, window=5, execution=ex)
    env.reset(options={"start": 298})
    action = 0 if n_assets == 1 else np.array([0, 1])  # level 0: short; level 1: flat
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        obs, _, terminated, truncated, info = env.step(action)
    assert info["equity"] == 0.0 and terminated and not truncated
    assert obs[env.layout.window_size] == -50.0 and obs[-1] == 50.0  # ±inf weights, clipped
    if n_assets == 1:  # the same numbers from the vectorised form
        vec = MarketVecEnv(1, m, window=5, execution=ex)
        vec.set_options({"start": 298})
        vec.reset()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            vobs, _, vterm, _, veq = vec.step_arrays(np.array([0]))
        np.testing.assert_array_equal(vobs[0], obs)
        assert vterm[0] and veq[0] == 0.0


@pytest.mark.parametrize(
    ("mode", "n_assets", "action", "match"),
    [
        ("discrete", 1, -1, "levels run from 0 to 2"),  # a list would wrap to the last level
        ("discrete", 1, 3, "levels run from 0 to 2"),
        ("discrete", 1, 1.0, "integer level"),
        ("discrete", 2, np.array([1]), "give 2 integer level"),  # would broadcast
        ("discrete", 2, np.array([0, -1]), "levels run from 0 to 2"),
        ("continuous", 1, np.array([np.nan], np.float32), "NaN or infinite"),
        ("continuous", 2, np.array([0.5], np.float32), "give 2 number"),
        ("weights", 2, np.array([0.5, np.inf]), "NaN or infinite"),
    ],
)
def test_actions_outside_the_action_space_are_refused(mode, n_assets, action, match) -> None:
    env = StockTradingEnv(
        gbm(120, n_assets, seed=2), window=5, action_mode=mode, execution={"allow_short": True}
    )
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)
    env.step(env.action_space.sample())  # the episode goes on after a refused action


def test_vec_env_refuses_bad_actions_and_steps_before_reset() -> None:
    vec = MarketVecEnv(2, gbm(120, seed=2), window=5, execution={"allow_short": True})
    with pytest.raises(RuntimeError, match="reset"):
        vec.step_arrays(np.array([0, 1]))
    vec.reset()
    with pytest.raises(ValueError, match="levels run from 0 to 2"):
        vec.step_arrays(np.array([0, -1]))
    with pytest.raises(ValueError, match="give 2 integer"):
        vec.step_arrays(np.array([0]))


def test_vec_env_refuses_a_period_over_markets_with_different_dates() -> None:
    a = gbm(300, seed=1)
    b = gbm(300, seed=2, start="2000-03-01")
    with pytest.raises(DataError, match="different dates"):
        MarketVecEnv(2, [a, b], window=5, start="2000-06-01", end="2000-12-29")
    MarketVecEnv(2, [a, b], window=5)  # no period: bar i of each market, as documented


@pytest.mark.parametrize("n_assets", [1, 2])
def test_no_step_after_bankruptcy(n_assets: int) -> None:
    close = np.full((300, n_assets), 100.0)
    close[-10:, 0] = np.linspace(150.0, 400.0, 10)  # a short of it goes under
    m = Market(pd.bdate_range("2020-01-01", periods=300), ("X", "Y")[:n_assets], close=close)
    env = StockTradingEnv(m, window=5, execution={"allow_short": True, "max_leverage": 5.0})
    env.reset(options={"start": 285})
    short = 0 if n_assets == 1 else np.array([0, 1])
    for _ in range(14):
        *_, terminated, truncated, info = env.step(short)
        if terminated:
            break
    assert terminated and not truncated and info["equity"] <= 0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(short)


def test_numpy_integers_are_whole_numbers() -> None:
    m = gbm(200, seed=3)
    env = StockTradingEnv(
        m, window=np.int64(10), episode_length=np.int64(20), rebalance_every=np.int32(5)
    )
    assert (env.window, env.episode_length, env.rebalance_every) == (10, 20, 5)
    with pytest.raises(ValueError, match=r"rebalance_every=2\.5: must be a whole number"):
        StockTradingEnv(m, window=10, rebalance_every=2.5)
    with pytest.raises(ValueError, match=r"episode_length=2\.5: give a whole number"):
        StockTradingEnv(m, window=10, episode_length=2.5)
    env.reset()
    with pytest.raises(ValueError, match="give a bar index"):
        env.reset(options={"start": 40.0})


@pytest.mark.parametrize("n_assets", [1, 3])
def test_step_after_the_episode_ends_raises(n_assets: int) -> None:
    m = gbm(120, n_assets=n_assets, seed=4)
    env = StockTradingEnv(m, window=5, episode_length=7)
    env.reset(seed=0)
    action = env.action_space.sample()
    for k in range(7):
        *_, truncated, _ = env.step(action)
        assert truncated == (k == 6)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(action)
    env.reset()  # and a new episode steps again
    env.step(action)


def test_execution_model_takes_numpy_numbers_as_floats() -> None:
    ex = ExecutionModel(max_leverage=np.int64(2), commission_bps=np.float32(5))
    assert ex.max_leverage == 2.0 and type(ex.commission_bps) is float
    with pytest.raises(ValueError, match="commission_bps=True"):
        ExecutionModel(commission_bps=True)
