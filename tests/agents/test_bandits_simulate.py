"""Tests of simulating and learning with the batched bandit agents: seeded determinism, the
trace, the book's comparisons (Sutton & Barto chapter 2) and the agent protocol on Gymnasium
bandit envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from qmml.agents.bandits import (
    AGENTS,
    UCB,
    BernoulliThompson,
    EpsilonGreedy,
    RandomAgent,
    simulate,
)
from qmml.envs.bandit import BanditBatch, BernoulliBanditEnv, GaussianBanditEnv


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- simulate: determinism, trace, behaviour --------------------------------------------------


def _batch(name: str, n_runs: int, seed: int) -> BanditBatch:
    if name == "thompson-bernoulli":
        return BanditBatch.bernoulli(n_runs, rng=_rng(seed))
    return BanditBatch.gaussian(n_runs, rng=_rng(seed), walk_std=0.01)


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_simulate_seeded_determinism(name: str) -> None:
    def trace(seed: int):
        return simulate(
            AGENTS[name](), _batch(name, 50, seed), 60, rng=_rng(seed + 100), record_actions=True
        )

    a, b, c = trace(1), trace(1), trace(2)
    for field in ("mean_reward", "pct_optimal", "run_mean_reward", "actions"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.actions, c.actions)
    assert not np.array_equal(a.mean_reward, c.mean_reward)


def test_trace_shapes_and_consistency() -> None:
    tr = simulate(
        EpsilonGreedy(),
        BanditBatch.gaussian(30, 5, rng=_rng()),
        40,
        rng=_rng(1),
        record_actions=True,
    )
    assert tr.mean_reward.shape == tr.pct_optimal.shape == (40,)
    assert tr.run_mean_reward.shape == (30,)
    assert tr.actions.shape == (40, 30) and tr.actions.dtype == np.int16
    assert tr.run_mean_reward.mean() == pytest.approx(tr.mean_reward.mean())
    assert ((tr.pct_optimal >= 0) & (tr.pct_optimal <= 100)).all()
    with pytest.raises(ValueError, match="read-only"):
        tr.mean_reward[0] = 1.0
    assert simulate(UCB(), BanditBatch.gaussian(3, rng=_rng()), 5, rng=_rng()).actions is None
    # Tied best arms all count as optimal: with equal starting means, step 1 is 100 % optimal.
    eq = BanditBatch.gaussian(30, rng=_rng(), equal_start=True, walk_std=0.01)
    assert simulate(RandomAgent(), eq, 3, rng=_rng()).pct_optimal[0] == 100.0


def test_simulate_accepts_any_batched_bandit() -> None:
    class Fixed:  # no regret(): simulate falls back to optimal_actions()
        n_runs, k = 4, 3

        def step(self, actions: np.ndarray) -> np.ndarray:
            return (actions == 2).astype(np.float64)

        def optimal_actions(self) -> np.ndarray:
            return np.full(4, 2)

    tr = simulate(EpsilonGreedy(epsilon=0.0), Fixed(), 30, rng=_rng())
    assert tr.pct_optimal[-1] == 100.0 and tr.mean_reward[-1] == 1.0


def test_epsilon_beats_greedy_on_pct_optimal() -> None:  # Sutton & Barto Figure 2.2
    runs, steps = 2000, 1000
    greedy = simulate(
        EpsilonGreedy(epsilon=0.0), BanditBatch.gaussian(runs, rng=_rng(1)), steps, rng=_rng(2)
    )
    eps = simulate(
        EpsilonGreedy(epsilon=0.1), BanditBatch.gaussian(runs, rng=_rng(1)), steps, rng=_rng(2)
    )
    assert eps.pct_optimal[-100:].mean() > greedy.pct_optimal[-100:].mean() + 30  # ~80 vs ~36
    assert eps.mean_reward[-100:].mean() > greedy.mean_reward[-100:].mean() + 0.2


def test_ucb_beats_epsilon_greedy_on_late_reward() -> None:  # Sutton & Barto Figure 2.4
    runs, steps = 2000, 1000
    ucb = simulate(UCB(c=2.0), BanditBatch.gaussian(runs, rng=_rng(1)), steps, rng=_rng(2))
    eps = simulate(
        EpsilonGreedy(epsilon=0.1), BanditBatch.gaussian(runs, rng=_rng(1)), steps, rng=_rng(2)
    )
    assert ucb.mean_reward[-500:].mean() > eps.mean_reward[-500:].mean() + 0.05  # ~1.47 vs ~1.36


def test_constant_step_beats_sample_average_when_nonstationary() -> None:  # exercise 2.5
    runs, steps = 200, 10_000

    def run(step_size: float | None):
        bandit = BanditBatch.gaussian(runs, rng=_rng(5), equal_start=True, walk_std=0.01)
        start = bandit.means.copy()
        tr = simulate(EpsilonGreedy(epsilon=0.1, step_size=step_size), bandit, steps, rng=_rng(6))
        assert np.abs(bandit.means - start).mean() > 0.5  # the walk moved the means
        return tr

    avg, const = run(None), run(0.1)
    assert const.pct_optimal[-5000:].mean() > avg.pct_optimal[-5000:].mean() + 15
    assert const.mean_reward[-5000:].mean() > avg.mean_reward[-5000:].mean() + 0.1


# -- the agent protocol on Gymnasium envs -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(AGENTS) - {"thompson-bernoulli"}))
def test_learn_predict_finds_best_arm(name: str) -> None:
    env = GaussianBanditEnv(k=5, mean_std=1.0, noise_std=0.3, max_steps=100, problem_seed=0)
    best = int(np.argmax(env.means))
    agent = AGENTS[name]().learn(env, 600, seed=3)  # crosses 5 episode ends
    assert agent.predict(0) == best
    assert agent.steps_ == 600
    assert 0 <= agent.predict(0, deterministic=False) < 5


def test_learn_predict_bernoulli_thompson() -> None:
    env = gym.make("qmml/BernoulliBandit-v0")
    best = int(np.argmax(env.unwrapped.means))
    assert BernoulliThompson().learn(env, 3000, seed=0).predict(0) == best


def test_learn_is_seeded() -> None:
    env = GaussianBanditEnv(k=4)
    a = EpsilonGreedy().learn(env, 200, seed=1).estimates_
    b = EpsilonGreedy().learn(env, 200, seed=1).estimates_
    c = EpsilonGreedy().learn(env, 200, seed=2).estimates_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert BernoulliThompson().learn(BernoulliBanditEnv(k=3), 10).steps_ == 10  # seed=None
