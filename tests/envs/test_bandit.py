"""Tests of the batched bandit simulator and the Gymnasium bandit environments."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import qmml.envs as envs  # noqa: F401  (registers the qmml/* ids)
from qmml.envs.bandit import (
    BanditBatch,
    BernoulliBanditEnv,
    GaussianBanditEnv,
    register_bandit_envs,
)

BANDIT_IDS = sorted(i for i in gym.registry if i.startswith("qmml/") and "Bandit" in i)


def test_bandit_ids_registered() -> None:
    ours = {"qmml/GaussianBandit-v0", "qmml/BernoulliBandit-v0", "qmml/NonstationaryBandit-v0"}
    assert ours <= set(BANDIT_IDS)


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize("render_mode", [None, "ansi"])
def test_registered_env_passes_checkers(env_id: str, render_mode: str | None) -> None:
    env = gym.make(env_id, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a checker warning fails the test
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    env.close()


@pytest.mark.parametrize("cls", [GaussianBanditEnv, BernoulliBanditEnv])
def test_ansi_render_shows_arms(cls: type) -> None:
    env = cls(k=4, render_mode="ansi")
    env.reset(seed=0)
    env.step(2)
    lines = env.render().splitlines()
    assert lines[0] == f"step 1/{env.max_steps}"
    arm_rows = [line for line in lines if line[2:4].strip().isdigit()]
    assert len(arm_rows) == 4
    assert arm_rows[2][1] == ">"  # last pull
    assert arm_rows[int(np.argmax(env.means))][0] == "*"  # best arm
    assert "last: arm 2" in lines[-2]
    assert cls(k=4).render() is None  # no render_mode: nothing to render


def test_register_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = register_bandit_envs()
        assert register_bandit_envs() == ids
    assert all(i in gym.registry for i in ids)


def test_nonstationary_id_settings() -> None:
    env = gym.make("qmml/NonstationaryBandit-v0").unwrapped
    assert isinstance(env, GaussianBanditEnv)
    assert env.max_steps == 10_000
    np.testing.assert_array_equal(env.means, np.zeros(10))  # equal start


def test_problem_fixed_by_problem_seed_and_restored_on_reset() -> None:
    a, b = GaussianBanditEnv(problem_seed=3), GaussianBanditEnv(problem_seed=3)
    c = GaussianBanditEnv(problem_seed=4)
    np.testing.assert_array_equal(a.means, b.means)
    assert not np.array_equal(a.means, c.means)
    walk = GaussianBanditEnv(walk_std=0.5, problem_seed=3)
    walk.reset(seed=1)
    for _ in range(5):
        walk.step(0)
    assert not np.array_equal(walk.means, a.means)  # the walk moved them
    walk.reset(seed=2)
    np.testing.assert_array_equal(walk.means, a.means)  # reset restores them


@pytest.mark.parametrize("cls", [GaussianBanditEnv, BernoulliBanditEnv])
def test_env_seeded_determinism(cls: type) -> None:
    def rewards(seed: int) -> list[float]:
        env = cls(k=5, walk_std=0.1) if cls is GaussianBanditEnv else cls(k=5)
        env.reset(seed=seed)
        return [env.step(t % 5)[1] for t in range(50)]

    assert rewards(7) == rewards(7)
    assert rewards(7) != rewards(8)


def test_env_step_info_and_truncation() -> None:
    env = GaussianBanditEnv(k=3, max_steps=4, problem_seed=1)
    obs, info = env.reset(seed=0)
    best = int(np.argmax(env.means))
    assert obs == 0 and info["optimal_action"] == best
    for t in range(4):
        arm = (best + 1) % 3 if t % 2 else best
        obs, _, terminated, truncated, info = env.step(arm)
        assert obs == 0 and not terminated and truncated == (t == 3)
        assert info["optimal_action"] == best
        assert info["regret"] == pytest.approx(env.means[best] - env.means[arm])
        assert (info["regret"] == 0) == (arm == best)


def test_bernoulli_env_pays_zero_or_one() -> None:
    env = BernoulliBanditEnv(k=3)
    env.reset(seed=0)
    assert {env.step(1)[1] for _ in range(100)} == {0.0, 1.0}
    assert ((env.means >= 0) & (env.means <= 1)).all()


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (GaussianBanditEnv, {"k": 1}, ValueError, "k=1"),
        (GaussianBanditEnv, {"k": 2.5}, TypeError, "k must be an int"),
        (GaussianBanditEnv, {"mean_std": -1.0}, ValueError, "mean_std"),
        (GaussianBanditEnv, {"mean_offset": float("nan")}, ValueError, "mean_offset"),
        (GaussianBanditEnv, {"noise_std": -0.1}, ValueError, "noise_std=-0.1"),
        (GaussianBanditEnv, {"walk_std": -0.1}, ValueError, "walk_std=-0.1"),
        (GaussianBanditEnv, {"max_steps": 0}, ValueError, "max_steps=0.*>= 1"),
        (GaussianBanditEnv, {"problem_seed": -1}, ValueError, "problem_seed"),
        (GaussianBanditEnv, {"render_mode": "human"}, ValueError, "render_mode='human'"),
        (BernoulliBanditEnv, {"k": 0}, ValueError, "k=0"),
        (BernoulliBanditEnv, {"max_steps": -5}, ValueError, "max_steps"),
    ],
)
def test_env_argument_validation(cls: type, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_env_step_validation() -> None:
    env = GaussianBanditEnv(k=3)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action=3 is invalid.*\[0, 3\)"):
        env.step(3)


# -- BanditBatch ------------------------------------------------------------------------------


def test_testbed_statistics() -> None:
    b = BanditBatch.gaussian(4000, 10, rng=np.random.default_rng(0), mean_offset=4.0)
    assert (b.n_runs, b.k, b.means.shape) == (4000, 10, (4000, 10))
    assert b.means.mean() == pytest.approx(4.0, abs=0.05)
    assert b.means.std() == pytest.approx(1.0, abs=0.05)
    r = b.step(np.zeros(4000, dtype=np.int64))
    assert r.dtype == np.float64 and r.shape == (4000,)
    assert (r - b.means[:, 0]).std() == pytest.approx(1.0, abs=0.05)
    eq = BanditBatch.gaussian(3, 5, rng=np.random.default_rng(0), mean_offset=2.0, equal_start=True)
    np.testing.assert_array_equal(eq.means, np.full((3, 5), 2.0))


def test_means_are_copied_and_read_only() -> None:
    means = np.array([[0.0, 1.0], [2.0, 1.0]])
    b = BanditBatch(means, rng=np.random.default_rng(0))
    means[0, 0] = 9.0
    assert b.means[0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        b.means[0, 0] = 5.0
    np.testing.assert_array_equal(b.optimal_actions(), [1, 0])
    np.testing.assert_array_equal(b.regret(np.array([0, 0])), [1.0, 0.0])


def test_random_walk_moves_means_only_when_asked() -> None:
    still = BanditBatch.gaussian(50, rng=np.random.default_rng(0))
    walk = BanditBatch.gaussian(50, rng=np.random.default_rng(0), walk_std=0.01)
    start = walk.means.copy()
    arms = np.zeros(50, dtype=np.int64)
    for _ in range(100):
        still.step(arms)
        walk.step(arms)
    np.testing.assert_array_equal(still.means, start)
    moved = walk.means - start  # 100 steps of N(0, 0.01²): std 0.1 per arm
    assert moved.std() == pytest.approx(0.1, rel=0.1)
    assert abs(moved.mean()) < 0.01


def test_bernoulli_batch_frequencies() -> None:
    b = BanditBatch(
        np.array([[0.2, 0.9]] * 20_000), rng=np.random.default_rng(0), reward="bernoulli"
    )
    r0, r1 = b.step(np.zeros(20_000, dtype=np.int64)), b.step(np.ones(20_000, dtype=np.int64))
    assert set(np.unique(np.r_[r0, r1])) == {0.0, 1.0}
    assert r0.mean() == pytest.approx(0.2, abs=0.01)
    assert r1.mean() == pytest.approx(0.9, abs=0.01)
    p = BanditBatch.bernoulli(100, 4, rng=np.random.default_rng(0)).means
    assert p.shape == (100, 4) and ((p >= 0) & (p <= 1)).all()


def test_batch_determinism_and_common_random_numbers() -> None:
    def rewards(seed: int) -> np.ndarray:
        b = BanditBatch.gaussian(20, rng=np.random.default_rng(seed), walk_std=0.1)
        return np.array([b.step(np.arange(20) % 10) for _ in range(10)])

    np.testing.assert_array_equal(rewards(1), rewards(1))
    assert not np.array_equal(rewards(1), rewards(2))
    # Different actions see the same noise: reward minus the pulled mean is action-free.
    b1 = BanditBatch.gaussian(20, rng=np.random.default_rng(3))
    b2 = BanditBatch.gaussian(20, rng=np.random.default_rng(3))
    a1, a2 = np.zeros(20, dtype=np.int64), np.full(20, 7)
    noise1 = b1.step(a1) - b1.means[:, 0]
    noise2 = b2.step(a2) - b2.means[:, 7]
    np.testing.assert_allclose(noise1, noise2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"means": np.zeros(5)}, "shape"),
        ({"means": np.zeros((3, 1))}, "k >= 2"),
        ({"means": np.zeros((0, 3))}, "n_runs >= 1"),
        ({"means": np.array([[0.0, np.inf]])}, "finite"),
        ({"means": np.array([[0.5, 1.5]]), "reward": "bernoulli"}, "0 <= means <= 1"),
        ({"means": np.zeros((1, 2)), "reward": "poisson"}, "reward='poisson'"),
        ({"means": np.zeros((1, 2)), "noise_std": -1.0}, "noise_std=-1.0"),
        ({"means": np.zeros((1, 2)), "walk_std": -1.0}, "walk_std=-1.0"),
        ({"means": np.zeros((1, 2)), "reward": "bernoulli", "walk_std": 0.1}, "bernoulli"),
    ],
)
def test_batch_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BanditBatch(rng=np.random.default_rng(0), **kwargs)


def test_batch_constructor_and_step_validation() -> None:
    with pytest.raises(TypeError, match="Generator"):
        BanditBatch(np.zeros((1, 2)), rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_runs=0"):
        BanditBatch.gaussian(0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="k=1"):
        BanditBatch.bernoulli(5, 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="mean_std"):
        BanditBatch.gaussian(5, rng=np.random.default_rng(0), mean_std=-2.0)
    b = BanditBatch.gaussian(3, 4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        b.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="integers"):
        b.step(np.zeros(3))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        b.step(np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        b.regret(np.array([0, -1, 1]))


@settings(max_examples=40, deadline=None)
@given(
    n_runs=st.integers(1, 30),
    k=st.integers(2, 12),
    seed=st.integers(0, 2**32 - 1),
    bernoulli=st.booleans(),
)
def test_regret_is_zero_exactly_for_optimal_arms(
    n_runs: int, k: int, seed: int, bernoulli: bool
) -> None:
    rng = np.random.default_rng(seed)
    b = (
        BanditBatch.bernoulli(n_runs, k, rng=rng)
        if bernoulli
        else BanditBatch.gaussian(n_runs, k, rng=rng, walk_std=0.5)
    )
    for _ in range(3):
        actions = rng.integers(0, k, n_runs)
        regret = b.regret(actions)
        assert (regret >= 0).all()
        best = b.means.max(axis=1)
        np.testing.assert_array_equal(regret == 0, b.means[np.arange(n_runs), actions] == best)
        np.testing.assert_array_equal(b.optimal_actions(), b.means.argmax(axis=1))
        rewards = b.step(actions)
        assert rewards.shape == (n_runs,) and np.isfinite(rewards).all()
