"""StockTradingEnv: registry checks, timing, accounting, no look-ahead, determinism, rewards,
splits, reset options, precomputed windows and random episode lengths."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import qmml.envs as envs  # noqa: F401  (registers the ids)
from qmml.envs.market import MARKET_ENV_IDS, ExecutionModel, Market, StockTradingEnv
from qmml.envs.market.synthetic import gbm

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _tiny(n_days: int = 12) -> Market:
    """Hand-checkable prices: open_t = close_{t-1} + 1, close_t = 100 + 2t."""
    dates = pd.bdate_range("2021-01-04", periods=n_days)
    close = 100.0 + 2.0 * np.arange(n_days)[:, None]
    open_ = np.vstack([[100.0], close[:-1] + 1.0])
    return Market(
        dates,
        ("X",),
        close,
        open_,
        np.maximum(open_, close) + 1,
        np.minimum(open_, close) - 1,
        np.ones_like(close),
        name="tiny",
    )


@pytest.mark.parametrize("env_id", sorted(MARKET_ENV_IDS))
def test_registered_ids_pass_both_checkers(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a checker warning is a failure
        gym_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(env.unwrapped, warn=True)
    env.close()


def test_timing_fill_at_next_open_then_mark_at_close() -> None:
    ex = ExecutionModel(commission_bps=10.0, initial_cash=1000.0)
    env = StockTradingEnv(
        _tiny(), window=1, features=("rel_close",), action_mode="discrete", execution=ex
    )
    obs, info = env.reset()
    assert info["t"] == 0 and obs[-1] == 1.0  # all cash
    obs, reward, _term, _trunc, info = env.step(1)  # go long at the close of day 0
    units = 1000.0 / (101.0 * 1.001)  # fills at day 1's open (101), commission included
    equity = units * 102.0 + (1000.0 - units * 101.0 * 1.001)
    assert info["equity"] == pytest.approx(equity, rel=1e-12)
    assert info["cost"] == pytest.approx(units * 101.0 * 0.001, rel=1e-12)
    assert reward == pytest.approx(math.log(equity / 1000.0), rel=1e-12)
    assert info["t"] == 1 and obs[-2] == pytest.approx(units * 102.0 / equity, rel=1e-6)
    _, _, _, _, info2 = env.step(1)  # same target: no order, units held
    assert info2["fills"] == 0 and info2["cost"] == 0.0
    assert info2["equity"] == pytest.approx(equity + units * 2.0, rel=1e-12)


@pytest.mark.parametrize(("fill", "price"), [("next_close", 102.0), ("close", 100.0)])
def test_fill_conventions(fill: str, price: float) -> None:
    ex = ExecutionModel(commission_bps=0.0, initial_cash=1000.0, fill=fill)
    env = StockTradingEnv(_tiny(), window=1, features=("rel_close",), execution=ex)
    env.reset()
    _, _, _, _, info = env.step(1)
    assert info["equity"] == pytest.approx(1000.0 / price * 102.0, rel=1e-12)
    close_only = Market(_tiny().dates, ("X",), _tiny().close)  # no opens: next close
    env = StockTradingEnv(
        close_only,
        window=1,
        features=("rel_close",),
        execution={"commission_bps": 0.0, "initial_cash": 1000.0},
    )
    env.reset()
    assert env.step(1)[4]["equity"] == pytest.approx(1000.0, rel=1e-12)


def test_observation_window_ends_at_today() -> None:
    m = _tiny(40)
    env = StockTradingEnv(m, window=5, features=("rel_close", "ret"))
    obs, info = env.reset()
    t = info["t"]
    win, port = env.layout.unpack(obs)
    assert win.shape == (1, 5, 1, 2) and port.shape == (1, 2)
    expect_rel = np.log(m.close[t - 4 : t + 1, 0] / m.close[t, 0])
    np.testing.assert_allclose(win[0, :, 0, 0], expect_rel, rtol=1e-6)
    assert win[0, -1, 0, 0] == 0.0  # today's close relative to itself
    np.testing.assert_allclose(
        win[0, -1, 0, 1], 100 * np.log(m.close[t, 0] / m.close[t - 1, 0]), rtol=1e-6
    )


def test_observations_are_fresh_arrays() -> None:
    env = StockTradingEnv(gbm(300, 2, seed=1), window=10, action_mode="continuous")
    o0, _ = env.reset(seed=0)
    keep = o0.copy()
    o1 = env.step(env.action_space.sample())[0]
    o2 = env.step(env.action_space.sample())[0]
    assert not np.shares_memory(o0, o1) and not np.shares_memory(o1, o2)
    np.testing.assert_array_equal(o0, keep)
    o1[:] = 0.0  # a user writing into an observation changes nothing the env shows next
    assert not np.array_equal(env.step(env.action_space.sample())[0], o1)


@FAST
@given(
    actions=st.lists(st.integers(0, 2), min_size=1, max_size=60),
    bps=st.tuples(st.floats(0, 50), st.floats(0, 20), st.floats(0, 500)),
    whole=st.booleans(),
    seed=st.integers(0, 5),
)
def test_value_conservation_and_costs(actions, bps, whole, seed) -> None:
    ex = ExecutionModel(
        commission_bps=bps[0],
        slippage_bps=bps[1],
        borrow_bps=bps[2],
        allow_short=True,
        max_leverage=1.5,
        units="whole" if whole else "fractional",
    )
    env = StockTradingEnv(
        gbm(120, seed=seed, sigma=0.4), window=3, features=("rel_close",), execution=ex
    )
    env.reset()
    prev_equity = ex.initial_cash
    for a in actions:
        units, t = env._units, env._t
        _, r, term, trunc, info = env.step(a)
        close, close_prev = env.market.close[t + 1, 0], env.market.close[t, 0]
        fill_px = env.fill_price[t + 1, 0]
        assert info["cost"] >= 0.0
        # the books balance: equity is cash plus positions at the close, after costs
        assert info["equity"] == pytest.approx(env._cash + env._units * close, rel=1e-12)
        # value is conserved: equity moves only with the market, minus costs and fees
        borrow = ex.borrow_daily * max(-env._units, 0.0) * close
        expected = (
            prev_equity
            + units * (fill_px - close_prev)
            - info["cost"]
            + env._units * (close - fill_px)
            - borrow
        )
        assert info["equity"] == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert r == pytest.approx(math.log(info["equity"] / prev_equity), rel=1e-9, abs=1e-12)
        prev_equity = info["equity"]
        if term or trunc:
            break


def test_flat_agent_keeps_its_cash() -> None:
    env = StockTradingEnv(gbm(200, seed=2), window=5, execution={"commission_bps": 30.0})
    env.reset()
    done = False
    while not done:
        _, r, term, trunc, info = env.step(0)
        assert r == 0.0 and info["cost"] == 0.0 and info["equity"] == 100_000.0
        done = term or trunc


def test_no_trade_when_target_unchanged_and_rebalance_every() -> None:
    env = StockTradingEnv(gbm(200, 3, seed=4), window=5, action_mode="weights")
    env.reset()
    w = np.full(3, 1 / 3)
    fills = [env.step(w)[4]["fills"] for _ in range(10)]
    assert fills == [3] + [0] * 9
    env = StockTradingEnv(gbm(200, 3, seed=4), window=5, action_mode="weights", rebalance_every=4)
    env.reset()
    fills = [env.step(w)[4]["fills"] for _ in range(10)]
    assert [f > 0 for f in fills] == [True, False, False, False] * 2 + [True, False]


@FAST
@given(
    t_cut=st.integers(40, 110),
    factor=st.floats(0.2, 5.0),
    seed=st.integers(0, 9),
    actions=st.lists(st.integers(0, 2), min_size=100, max_size=100),
)
def test_no_look_ahead(t_cut, factor, seed, actions) -> None:
    """Changing prices after day t changes nothing the env showed up to day t."""
    m = gbm(130, 2, seed=seed)
    later = np.arange(m.n_days)[:, None] > t_cut
    bump = np.where(later, factor * np.exp(np.sin(np.arange(m.n_days)))[:, None], 1.0)
    m2 = Market(
        m.dates, m.tickers, m.close * bump, m.open * bump, m.high * bump, m.low * bump, m.volume
    )
    seen = []
    for market in (m, m2):
        env = StockTradingEnv(market, window=8, execution={"allow_short": True})
        obs, info = env.reset()
        out = [(info["t"], obs, 0.0)]
        for a in actions:
            obs, r, term, trunc, info = env.step([a, 2 - a])
            out.append((info["t"], obs, r))
            if term or trunc:
                break
        seen.append(out)
    for (t, o1, r1), (_, o2, r2) in zip(*seen, strict=True):
        if t > t_cut:
            break
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_determinism_and_random_starts() -> None:
    kw = {"window": 10, "episode_length": 20, "random_start": True}
    m = gbm(400, seed=5)

    def rollout(seed: int) -> tuple[int, np.ndarray]:
        env = StockTradingEnv(m, **kw)
        env.action_space.seed(seed)
        obs, info = env.reset(seed=seed)
        rs = [env.step(env.action_space.sample())[1] for _ in range(20)]
        return info["t"], np.concatenate([obs, rs])

    a, b, _c = rollout(1), rollout(1), rollout(2)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    starts = {rollout(s)[0] for s in range(8)}
    assert len(starts) > 3  # seeded, but really random


@pytest.mark.parametrize("reward", ["log_return", "differential_sharpe", "risk_adjusted"])
def test_rewards(reward: str) -> None:
    env = StockTradingEnv(
        gbm(300, seed=6, sigma=0.5),
        window=5,
        reward=reward,
        execution={"commission_bps": 0.0},
        risk_penalty=2.0,
    )
    env.reset()
    eq, rs = [100_000.0], []
    for k in range(150):
        _, r, _, _, info = env.step(k // 10 % 2)
        eq.append(info["equity"])
        rs.append(r)
    eq, rs = np.array(eq), np.array(rs)
    logr = np.log(eq[1:] / eq[:-1])
    if reward == "log_return":
        np.testing.assert_allclose(rs, logr, rtol=1e-12)
    elif reward == "risk_adjusted":
        dd = 1 - eq / np.maximum.accumulate(eq)
        np.testing.assert_allclose(rs, logr - 2.0 * np.maximum(np.diff(dd), 0), atol=1e-12)
        assert (rs <= logr + 1e-15).all()
    else:
        a, b, expect = 0.0, 1e-4, []
        for r in eq[1:] / eq[:-1] - 1:
            da, db = r - a, r * r - b
            expect.append((b * da - 0.5 * a * db) / (b - a * a) ** 1.5)
            a, b = a + 0.01 * da, b + 0.01 * db
        np.testing.assert_allclose(rs, expect, rtol=1e-9, atol=1e-12)


def test_discrete_levels_leverage_and_continuous_mapping() -> None:
    m = gbm(200, 2, seed=7)
    env = StockTradingEnv(
        m,
        window=5,
        execution={"allow_short": True, "max_leverage": 2.0},
        levels=(-1.0, -0.5, 0.0, 0.5, 1.0),
    )
    assert env.action_space == gym.spaces.MultiDiscrete([5, 5])
    np.testing.assert_allclose(env.targets([4, 0]), [[1.0, -1.0]])
    cont = StockTradingEnv(m, window=5, action_mode="continuous")
    np.testing.assert_allclose(cont.targets([1.0, 1.0]), [[0.5, 0.5]])  # gross capped at 1
    np.testing.assert_allclose(cont.targets([-1.0, 0.0]), [[0.0, 0.5]])
    w = StockTradingEnv(m, window=5, action_mode="weights")
    np.testing.assert_allclose(w.targets([-0.3, 0.2]), [[0.0, 0.2]])  # long-only clip


def test_borrow_cost_charged_on_shorts() -> None:
    ex = ExecutionModel(
        commission_bps=0.0, borrow_bps=504.0, allow_short=True, initial_cash=1000.0
    )  # 5.04% a year = 0.02% of the short value a day
    env = StockTradingEnv(_tiny(), window=1, features=("rel_close",), execution=ex)
    env.reset()
    _, _, _, _, info = env.step(0)  # level -1: short
    units = -1000.0 / 101.0
    assert info["equity"] == pytest.approx(
        1000 + units * (102 - 101) + units * 102 * 0.0002, rel=1e-12
    )


def test_splits_keep_periods_apart() -> None:
    m = gbm(1000, seed=8)
    envs_ = {s: StockTradingEnv(m, window=20, split=s) for s in ("train", "val", "test")}
    assert envs_["train"].last_bar < envs_["val"].first_decision
    assert envs_["val"].last_bar < envs_["test"].first_decision
    assert envs_["test"].last_bar == m.n_days - 1
    env = StockTradingEnv(m, window=20, start="2001-01-01", end="2001-06-29")
    env.reset()
    assert env.market.dates[env.first_decision] >= pd.Timestamp("2001-01-01")
    assert env.market.dates[env.last_bar] <= pd.Timestamp("2001-06-29")


def test_reset_option_start_and_render() -> None:
    m = gbm(200, seed=9)
    env = StockTradingEnv(m, window=5, render_mode="rgb_array", execution={"allow_short": True})
    _, info = env.reset(options={"start": "2000-03-01"})
    assert m.dates[info["t"]] == pd.Timestamp("2000-03-01")
    for k in range(30):
        env.step(k // 5 % 3)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.std() > 5  # something was drawn
    h = env.history()
    assert len(h["equity"]) == 31 and len(h["trades"]) >= 4
    assert StockTradingEnv(m, window=5).render() is None


@pytest.mark.parametrize("n_assets", [1, 3])
def test_precomputed_windows_equal_computed_ones(n_assets: int, monkeypatch) -> None:
    m = gbm(300, n_assets, seed=12, sigma=0.4)
    seen = []
    for limit in (StockTradingEnv.max_table_bytes, 0):
        monkeypatch.setattr(StockTradingEnv, "max_table_bytes", limit)
        env = StockTradingEnv(m, window=15, action_mode="continuous")
        env.action_space.seed(0)
        obs = [env.reset(seed=0)[0]]
        obs += [env.step(env.action_space.sample())[0] for _ in range(100)]
        assert (env._window_table() is None) == (limit == 0)
        seen.append(np.stack(obs))
    np.testing.assert_array_equal(seen[0], seen[1])


def test_random_episode_lengths_are_seeded() -> None:
    env = StockTradingEnv(gbm(400, seed=13), window=5, episode_length=(10, 30), random_start=True)

    def lengths(seed: int) -> list[int]:
        out = []
        env.reset(seed=seed)
        for _ in range(12):
            n, done = 0, False
            while not done:
                _, _, term, trunc, _ = env.step(1)
                n, done = n + 1, term or trunc
            out.append(n)
            env.reset()
        return out

    a = lengths(3)
    assert a == lengths(3) and a != lengths(4)
    assert min(a) >= 10 and max(a) <= 30 and len(set(a)) > 3
    with pytest.raises(ValueError, match=r"\(shortest, longest\)"):
        StockTradingEnv(gbm(400, seed=13), window=5, episode_length=(30, 10))
