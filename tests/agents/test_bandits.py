"""Tests of the batched bandit agents: the registry, hand-computed update rules and
validation (simulating and learning: test_bandits_simulate.py)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmml.agents.bandits import (
    AGENTS,
    UCB,
    BanditAgent,
    BernoulliThompson,
    DiscountedUCB,
    EpsilonGreedy,
    GaussianThompson,
    GradientBandit,
    RandomAgent,
    simulate,
)
from qmml.agents.protocol import Agent
from qmml.envs.bandit import BanditBatch, GaussianBanditEnv


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _feed(agent: BanditAgent, steps: list[tuple[list[int], list[float]]]) -> None:
    """Apply a fixed sequence of (actions, rewards), one entry per run."""
    for actions, rewards in steps:
        agent.update(np.array(actions), np.array(rewards, dtype=np.float64))


def _fresh(agent: BanditAgent, n_runs: int = 1, k: int = 3) -> BanditAgent:
    agent.reset(n_runs, k, _rng())
    return agent


# -- registry, params, protocol ---------------------------------------------------------------


def test_registry_names_and_params_round_trip() -> None:
    assert set(AGENTS) == {
        "epsilon-greedy",
        "ucb",
        "gradient",
        "thompson-gaussian",
        "thompson-bernoulli",
        "discounted-ucb",
        "random",
    }
    for cls in AGENTS.values():
        agent = cls()
        assert isinstance(agent, Agent)  # the project's agent protocol
        assert cls(**agent.params).params == agent.params
    assert EpsilonGreedy(epsilon=0.2, step_size=0.1).params == {
        "epsilon": 0.2,
        "schedule": "constant",
        "decay": 0.99,
        "step_size": 0.1,
        "initial_value": 0.0,
    }
    assert RandomAgent().params == {}
    assert repr(UCB(c=1.0)) == "UCB(c=1.0, step_size=None, initial_value=0.0)"


# -- hand-computed update rules ---------------------------------------------------------------


def test_epsilon_greedy_sample_average_and_constant_step() -> None:
    # Two runs, each its own sequence: run 0 pulls arm 0 thrice (1, 3, 2) and arm 1 once (-2).
    seq = [([0, 2], [1.0, 4.0]), ([0, 2], [3.0, 0.0]), ([1, 1], [-2.0, 1.0]), ([0, 2], [2.0, 2.0])]
    avg = _fresh(EpsilonGreedy(), n_runs=2)
    _feed(avg, seq)
    np.testing.assert_allclose(avg.estimates_, [[2.0, -2.0, 0.0], [0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(avg.counts_, [[3, 1, 0], [0, 1, 3]])
    const = _fresh(EpsilonGreedy(step_size=0.5, initial_value=1.0), n_runs=2)
    _feed(const, seq)
    # run 0, arm 0: 1 -> 1 + .5(1-1) = 1 -> 1 + .5(3-1) = 2 -> 2 + .5(2-2) = 2; arm 1: 1 + .5(-3)
    # run 1, arm 2: 1 -> 2.5 -> 1.25 -> 1.625; arm 1: 1 + .5(1-1) = 1
    np.testing.assert_allclose(const.estimates_, [[2.0, -0.5, 1.0], [1.0, 1.0, 1.625]])
    assert avg.steps_ == 4


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"epsilon": 0.1}, [0.1, 0.1, 0.1]),
        ({"schedule": "inverse"}, [1.0, 0.5, 0.1]),
        ({"epsilon": 0.5, "schedule": "exponential", "decay": 0.9}, [0.5, 0.45, 0.5 * 0.9**9]),
    ],
)
def test_epsilon_schedules(kwargs: dict, expected: list[float]) -> None:
    agent = EpsilonGreedy(**kwargs)
    assert [agent.epsilon_at(n) for n in (0, 1, 9)] == pytest.approx(expected)


def test_greedy_ties_broken_uniformly_and_epsilon_explores() -> None:
    n = 20_000
    greedy = _fresh(EpsilonGreedy(epsilon=0.0), n_runs=n, k=4)
    counts = np.bincount(greedy.act(), minlength=4)  # all Q equal: uniform over 4 arms
    assert counts.min() > 0.23 * n and counts.max() < 0.27 * n
    greedy.update(np.zeros(n, dtype=np.int64), -np.ones(n))  # arm 0 now worst
    counts = np.bincount(greedy.act(), minlength=4)
    assert counts[0] == 0 and counts[1:].min() > 0.31 * n
    greedy.update(np.ones(n, dtype=np.int64), np.ones(n))  # arm 1 now unique best
    assert (greedy.act() == 1).all()
    explorer = _fresh(EpsilonGreedy(epsilon=0.2), n_runs=n, k=4)
    explorer.update(np.ones(n, dtype=np.int64), np.ones(n))
    counts = np.bincount(explorer.act(), minlength=4)  # 0.8 + 0.2/4 on arm 1, 0.05 elsewhere
    assert abs(counts[1] / n - 0.85) < 0.01 and abs(counts[0] / n - 0.05) < 0.01


def test_ucb_untried_arms_first_then_hand_computed_maximiser() -> None:
    many = _fresh(UCB(), n_runs=500, k=5)
    for _ in range(5):  # every run tries each arm once before repeating any
        a = many.act()
        many.update(a, np.zeros(500))
    np.testing.assert_array_equal(many.counts_, np.ones((500, 5)))

    ucb = _fresh(UCB(c=2.0))
    ucb.update(np.array([0]), np.array([1.0]))
    assert ucb.act()[0] in (1, 2)
    ucb.update(np.array([1]), np.array([0.0]))
    assert ucb.act()[0] == 2
    ucb.update(np.array([2]), np.array([0.5]))
    # t = 4: Q + 2 sqrt(ln 4 / 1) = 1 + 2.355 > 0.5 + 2.355 > 0 + 2.355
    assert ucb.act()[0] == 0
    ucb.update(np.array([0]), np.array([0.0]))  # Q0 = 0.5, N0 = 2
    # t = 5: arm 0: 0.5 + 2 sqrt(ln 5 / 2) = 2.294; arm 1: 2.537; arm 2: 0.5 + 2.537 = 3.037
    assert ucb.act()[0] == 2


def test_discounted_ucb_discounts_counts_and_sums() -> None:
    agent = _fresh(DiscountedUCB(c=1.0, gamma=0.5), k=3)
    assert agent.act()[0] in (0, 1, 2)
    _feed(agent, [([0], [1.0]), ([0], [1.0]), ([1], [2.0])])
    # arm 0: N = 1 → .5·1 + 1 = 1.5 → .5·1.5 = .75, S alike; arm 1: N = 1, S = 2
    np.testing.assert_allclose(agent.discounted_counts_, [[0.75, 1.0, 0.0]])
    np.testing.assert_allclose(agent.discounted_sums_, [[0.75, 2.0, 0.0]])
    assert agent.act()[0] == 2  # untried arm first
    np.testing.assert_allclose(agent.estimates_, [[1.0, 2.0, 0.0]])
    agent.update(np.array([2]), np.array([0.0]))
    # N = (.375, .5, 1), means (1, 2, 0), n_γ = 1.875: values 2.29, 3.12, 0.79
    n = np.array([0.375, 0.5, 1.0])
    values = np.array([1.0, 2.0, 0.0]) + np.sqrt(math.log(n.sum()) / n)
    assert agent.act()[0] == int(np.argmax(values)) == 1


@pytest.mark.parametrize("baseline", [True, False])
def test_gradient_bandit_two_hand_computed_steps(baseline: bool) -> None:
    agent = _fresh(GradientBandit(alpha=0.1, baseline=baseline), k=2)
    np.testing.assert_allclose(agent.policy_, [[0.5, 0.5]])
    _feed(agent, [([0], [1.0]), ([1], [3.0])])
    if baseline:
        # step 1: R̄_1 = R_1, no change. step 2: R̄ = 1, π = (.5, .5), advantage 2.
        expected = [-0.1 * 2 * 0.5, 0.1 * 2 * 0.5]
        np.testing.assert_allclose(agent.baseline_, [2.0])
    else:
        # step 1: advantage 1 → H = (.05, −.05); step 2: advantage 3 with π1 = 1/(1+e^0.1)
        pi1 = 1.0 / (1.0 + math.exp(0.1))
        expected = [0.05 - 0.3 * (1 - pi1), -0.05 + 0.3 * (1 - pi1)]
    np.testing.assert_allclose(agent.estimates_, [expected])
    np.testing.assert_allclose(agent.policy_.sum(), 1.0)


def test_gradient_bandit_samples_from_softmax() -> None:
    agent = _fresh(GradientBandit(alpha=1.0, baseline=False), n_runs=20_000, k=3)
    agent.update(np.zeros(20_000, dtype=np.int64), np.full(20_000, 2.0))
    pi = agent.policy_[0]
    freq = np.bincount(agent.act(), minlength=3) / 20_000
    np.testing.assert_allclose(freq, pi, atol=0.01)


def test_gaussian_thompson_posterior() -> None:
    agent = _fresh(GaussianThompson(prior_mean=1.0, prior_std=2.0, noise_std=0.5), k=2)
    _feed(agent, [([0], [2.0]), ([0], [3.0])])
    precision = 1 / 4 + 2 / 0.25  # 1/σ0² + n/σ²
    mean = (1.0 / 4 + 5.0 / 0.25) / precision
    np.testing.assert_allclose(agent.posterior_mean_, [[mean, 1.0]])
    np.testing.assert_allclose(agent.posterior_var_, [[1 / precision, 4.0]])
    many = _fresh(GaussianThompson(), n_runs=10_000, k=2)
    many.update(np.zeros(10_000, dtype=np.int64), np.full(10_000, 1.0))
    # P(sample_0 > sample_1) with N(.5, .5) vs N(0, 1): Φ(.5 / sqrt(1.5))
    p0 = 0.5 * (1 + math.erf(0.5 / math.sqrt(1.5) / math.sqrt(2)))
    assert abs((many.act() == 0).mean() - p0) < 0.02


def test_beta_bernoulli_counts() -> None:
    agent = _fresh(BernoulliThompson(alpha0=1.0, beta0=2.0), k=2)
    _feed(agent, [([0], [1.0]), ([0], [0.0]), ([0], [1.0]), ([1], [0.0])])
    np.testing.assert_array_equal(agent.alpha_, [[3.0, 1.0]])
    np.testing.assert_array_equal(agent.beta_, [[3.0, 3.0]])
    np.testing.assert_allclose(agent.estimates_, [[0.5, 0.25]])
    with pytest.raises(ValueError, match=r"rewards in \{0, 1\}"):
        agent.update(np.array([0]), np.array([0.5]))


def test_random_agent_is_uniform_and_predicts_best_seen() -> None:
    agent = _fresh(RandomAgent(), n_runs=20_000, k=4)
    counts = np.bincount(agent.act(), minlength=4)
    assert counts.min() > 0.23 * 20_000
    agent = _fresh(RandomAgent(), k=3)
    _feed(agent, [([0], [1.0]), ([1], [3.0]), ([1], [2.0]), ([2], [-1.0])])
    assert agent.predict(0) == 1


@settings(max_examples=50, deadline=None)
@given(
    name=st.sampled_from(sorted(AGENTS)),
    n_runs=st.integers(1, 20),
    k=st.integers(2, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_agent_acts_in_range(name: str, n_runs: int, k: int, seed: int) -> None:
    rng = _rng(seed)
    agent = AGENTS[name]()
    agent.reset(n_runs, k, rng)
    for _ in range(2 * k):
        actions = agent.act()
        assert actions.shape == (n_runs,) and actions.dtype.kind == "i"
        assert ((actions >= 0) & (actions < k)).all()
        agent.update(actions, (rng.random(n_runs) < 0.5).astype(np.float64))  # 0/1 suits all
    assert agent.estimates_.shape == (n_runs, k) and np.isfinite(agent.estimates_).all()
    assert 0 <= agent.predict(0) < k


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (EpsilonGreedy, {"epsilon": -0.1}, ValueError, r"epsilon=-0.1 .*\[0, 1\]"),
        (EpsilonGreedy, {"epsilon": 1.5}, ValueError, "epsilon=1.5"),
        (EpsilonGreedy, {"epsilon": float("nan")}, ValueError, "epsilon=nan"),
        (EpsilonGreedy, {"epsilon": "0.1"}, TypeError, "epsilon='0.1' is a str, not a number"),
        (EpsilonGreedy, {"epsilon": True}, TypeError, "epsilon=True is a bool, not a number"),
        (EpsilonGreedy, {"schedule": "linear"}, ValueError, "schedule='linear'.*inverse"),
        (EpsilonGreedy, {"decay": 0.0}, ValueError, r"decay=0.0 .*\(0, 1\]"),
        (EpsilonGreedy, {"decay": 1.5}, ValueError, "decay=1.5"),
        (EpsilonGreedy, {"step_size": 0.0}, ValueError, r"step_size=0.0 .*\(0, 1\]"),
        (EpsilonGreedy, {"step_size": 2}, ValueError, "step_size=2"),
        (EpsilonGreedy, {"initial_value": math.inf}, ValueError, "initial_value=inf"),
        (UCB, {"c": -1.0}, ValueError, r"c=-1.0 .*\[0, inf\)"),
        (UCB, {"step_size": -0.1}, ValueError, "step_size=-0.1"),
        (UCB, {"initial_value": math.nan}, ValueError, "initial_value=nan"),
        (DiscountedUCB, {"c": -0.5}, ValueError, "c=-0.5"),
        (DiscountedUCB, {"gamma": 0.0}, ValueError, r"gamma=0.0 .*\(0, 1\]"),
        (DiscountedUCB, {"gamma": 1.01}, ValueError, "gamma=1.01"),
        (GradientBandit, {"alpha": 0.0}, ValueError, r"alpha=0.0 .*\(0, inf\)"),
        (GradientBandit, {"baseline": "yes"}, TypeError, "baseline must be a bool"),
        (GaussianThompson, {"prior_mean": math.inf}, ValueError, "prior_mean=inf"),
        (GaussianThompson, {"prior_std": 0.0}, ValueError, "prior_std=0.0"),
        (GaussianThompson, {"noise_std": -1.0}, ValueError, "noise_std=-1.0"),
        (BernoulliThompson, {"alpha0": 0.0}, ValueError, "alpha0=0.0"),
        (BernoulliThompson, {"beta0": -1.0}, ValueError, "beta0=-1.0"),
    ],
)
def test_constructor_validation(cls: type, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_reset_update_and_call_order_validation() -> None:
    agent = EpsilonGreedy()
    with pytest.raises(RuntimeError, match="reset"):
        agent.act()
    with pytest.raises(RuntimeError, match="learn"):
        agent.predict(0)
    with pytest.raises(RuntimeError, match="reset"):
        agent.update(np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="n_runs=0"):
        agent.reset(0, 3, _rng())
    with pytest.raises(ValueError, match="k=1"):
        agent.reset(2, 1, _rng())
    with pytest.raises(ValueError, match=r"n_runs=2\.0"):
        agent.reset(2.0, 3, _rng())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Generator"):
        agent.reset(2, 3, 0)  # type: ignore[arg-type]
    agent.reset(2, 3, _rng())
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        agent.update(np.array([0, 1, 2]), np.zeros(3))
    with pytest.raises(ValueError, match="integer actions"):
        agent.update(np.array([0.0, 1.0]), np.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        agent.update(np.array([0, 3]), np.zeros(2))
    with pytest.raises(ValueError, match="steps=0"):
        simulate(agent, BanditBatch.gaussian(2, 3, rng=_rng()), 0, rng=_rng())


def test_learn_validation() -> None:
    with pytest.raises(TypeError, match="Discrete"):
        EpsilonGreedy().learn(gym.make("Pendulum-v1"), 10)
    with pytest.raises(ValueError, match="budget=0"):
        EpsilonGreedy().learn(GaussianBanditEnv(), 0)
