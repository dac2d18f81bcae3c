"""MarketVecEnv: step-by-step equal to single envs, SB3 conformance, a PPO smoke run."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecEnv

from qmml.envs.market import MarketVecEnv, StockTradingEnv
from qmml.envs.market.synthetic import gbm

CASES = [
    ("discrete", {"execution": {"allow_short": True}}),
    ("continuous", {"reward": "differential_sharpe", "execution": {"slippage_bps": 3.0}}),
    ("discrete", {"reward": "risk_adjusted", "execution": {"units": "whole"}}),
    ("discrete", {"episode_length": (15, 45)}),  # random lengths: same draws as single envs
]


def _actions(env: StockTradingEnv, rng: np.random.Generator, n: int) -> np.ndarray:
    if env.action_mode == "continuous":
        return rng.uniform(-1, 1, (n, env.market.n_assets)).astype(np.float32)
    return (
        rng.integers(
            0,
            env.action_space.nvec if env.market.n_assets > 1 else env.action_space.n,
            (n, env.market.n_assets),
        ).squeeze(-1)
        if env.market.n_assets == 1
        else rng.integers(0, env.action_space.nvec, (n, env.market.n_assets))
    )


@pytest.mark.parametrize(("mode", "kw"), CASES)
@pytest.mark.parametrize("n_assets", [1, 3])
def test_equals_single_envs(mode: str, kw: dict, n_assets: int) -> None:
    m = gbm(300, n_assets, seed=11, sigma=0.4)
    kwargs = {"window": 10, "action_mode": mode, "episode_length": 40, "random_start": True, **kw}
    vec = MarketVecEnv(3, m, **kwargs)
    vec.seed(5)
    obs = vec.reset()
    singles = [StockTradingEnv(m, **kwargs) for _ in range(3)]
    for i, e in enumerate(singles):
        np.testing.assert_array_equal(obs[i], e.reset(seed=5 + i)[0])
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(100):
        acts = _actions(singles[0], rng, 3)
        obs, rew, done, infos = vec.step(acts)
        for i, e in enumerate(singles):
            so, sr, term, trunc, info = e.step(acts[i])
            assert done[i] == (term or trunc)
            if done[i]:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], so)
                assert infos[i]["equity"] == info["equity"]
                assert infos[i]["TimeLimit.truncated"] == trunc
                so, _ = e.reset()
                resets += 1
            np.testing.assert_array_equal(obs[i], so)
            assert rew[i] == np.float32(sr)
    assert resets >= 6


def test_is_an_sb3_vecenv_with_several_markets() -> None:
    markets = [gbm(200, seed=s) for s in range(2)]
    vec = MarketVecEnv(4, markets, window=5, seed=0)
    assert isinstance(vec, VecEnv) and vec.num_envs == 4
    obs = vec.reset()
    assert obs.shape == (4, vec.layout.size) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[0], obs[2])  # same market, same fixed start
    assert not np.array_equal(obs[0], obs[1])
    obs2, r, _d, infos = vec.step(np.ones(4, dtype=np.int64))
    assert not np.shares_memory(obs, obs2) and r.dtype == np.float32 and len(infos) == 4
    assert vec.get_attr("window") == [5] * 4 and vec.env_is_wrapped(object) == [False] * 4
    assert vec.env_method("targets", 1) == [1.0] * 4
    with pytest.raises(AttributeError, match="shares one configuration"):
        vec.set_attr("window", 3)
    with pytest.raises(Exception, match="differ"):
        MarketVecEnv(2, [gbm(200), gbm(150)], window=5)
    with pytest.raises(ValueError, match="n_envs"):
        MarketVecEnv(0, markets[0])


@pytest.mark.slow
def test_ppo_trains_on_the_vec_env() -> None:
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    vec = MarketVecEnv(8, gbm(600, seed=3), window=10, episode_length=64, random_start=True, seed=0)
    model = PPO("MlpPolicy", vec, n_steps=64, batch_size=128, n_epochs=2, seed=0, verbose=0)
    model.learn(total_timesteps=3072)
    assert model.num_timesteps >= 3072
    single = StockTradingEnv(gbm(600, seed=3), window=10)
    obs, _ = single.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert single.action_space.contains(int(action))
