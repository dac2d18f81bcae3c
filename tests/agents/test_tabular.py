"""Tests of the tabular TD control agents (Q-learning, SARSA, Expected SARSA)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import qmml.envs as envs  # noqa: F401  (registers the qmml/* ids)
from qmml.agents.mdp import TabularMDP
from qmml.agents.planning import evaluate_policy, value_iteration
from qmml.agents.protocol import Agent
from qmml.agents.tabular import TABULAR_AGENTS, ExpectedSarsa, QLearning, Sarsa
from qmml.envs.gridworld.env import GridWorldEnv


class Chain(gym.Env[int, int]):
    """s0 -> s1 (reward 1) -> end (reward 2), one action: every agent's updates are known."""

    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 0
        return 0, {}

    def step(self, action):
        if self.s == 0:
            self.s = 1
            return 1, 1.0, False, False, {}
        return 1, 2.0, True, False, {}


@pytest.mark.parametrize("cls", [QLearning, Sarsa, ExpectedSarsa])
def test_updates_by_hand_on_a_chain(cls: type) -> None:
    agent = cls(alpha=0.5, gamma=0.9, epsilon=0.3, seed=0)
    assert isinstance(agent, Agent)
    agent.learn(Chain(), 1)
    # Q(s1) <- 0 + 0.5 (1 + 0.9 * 0 - 0) = 0.5; Q(s2) <- 0 + 0.5 (2 - 0) = 1
    np.testing.assert_allclose(agent.q_table_[:, 0], [0.5, 1.0])
    agent.learn(Chain(), 2)  # learn starts over: two episodes from zero
    # episode 2: Q(s1) <- 0.5 + 0.5 (1 + 0.9 * 1 - 0.5) = 1.2; Q(s2) <- 1 + 0.5 (2 - 1) = 1.5
    np.testing.assert_allclose(agent.q_table_[:, 0], [1.2, 1.5])
    np.testing.assert_array_equal(agent.episode_returns_, [3.0, 3.0])
    np.testing.assert_allclose(agent.episode_discounted_returns_, [2.8, 2.8])
    np.testing.assert_array_equal(agent.episode_lengths_, [2, 2])


def test_targets_by_hand() -> None:
    q = np.array([1.0, 2.0, 2.0, 0.0])
    assert QLearning()._target(q, 0, 0.2) == 2.0
    assert Sarsa()._target(q, 3, 0.2) == 0.0
    # ε-greedy with two greedy actions: 0.8/2 + 0.05 each, 0.05 for the others
    np.testing.assert_allclose(ExpectedSarsa().action_probs(q, 0.2), [0.05, 0.45, 0.45, 0.05])
    assert ExpectedSarsa()._target(q, 0, 0.2) == pytest.approx(0.05 + 0.9 + 0.9)
    soft = ExpectedSarsa(exploration="softmax", temperature=1.0)
    np.testing.assert_allclose(soft.action_probs(np.array([0.0, math.log(3)]), 1.0), [0.25, 0.75])
    assert soft._target(np.array([0.0, math.log(3)]), 0, 1.0) == pytest.approx(0.75 * math.log(3))


def test_exploration_schedules() -> None:
    lin = QLearning(epsilon=1.0, schedule="linear", final=0.1, decay_episodes=10)
    assert [round(lin.exploration_at(e, 100), 6) for e in (0, 3, 9, 50)] == [1.0, 0.7, 0.1, 0.1]
    exp = QLearning(epsilon=1.0, schedule="exponential", final=0.01)
    assert exp.exploration_at(0, 3) == 1.0
    assert exp.exploration_at(1, 3) == pytest.approx(0.1)
    assert exp.exploration_at(2, 3) == pytest.approx(0.01)
    assert QLearning(epsilon=0.2).exploration_at(77, 100) == 0.2
    soft = Sarsa(exploration="softmax", temperature=2.0, schedule="linear", final=0.5)
    assert soft.exploration_at(0, 4) == 2.0 and soft.exploration_at(3, 4) == 0.5
    env = GridWorldEnv("4x4")
    agent = QLearning(epsilon=0.5, schedule="linear", final=0.0, seed=1).learn(env, 5)
    np.testing.assert_allclose(agent.exploration_values_, [0.5, 0.375, 0.25, 0.125, 0.0])


def _gap(env: gym.Env, agent, gamma: float) -> tuple[float, float]:
    mdp = TabularMDP.from_env(env)
    v_star = value_iteration(mdp, gamma).values
    v_pi = evaluate_policy(mdp, agent.greedy_policy(), gamma)
    start = env.unwrapped.start_state
    return float(v_star[start] - v_pi[start]), float(np.max(v_star - v_pi))


@pytest.mark.parametrize("name", list(TABULAR_AGENTS))
@pytest.mark.parametrize(
    "explore",
    [
        {"epsilon": 0.2},
        {"epsilon": 1.0, "schedule": "exponential", "final": 0.02},
        {"exploration": "softmax", "temperature": 0.3},
    ],
)
def test_agents_reach_the_dp_optimum_on_a_small_maze(name: str, explore: dict) -> None:
    env = gym.wrappers.TimeLimit(
        GridWorldEnv("maze", maze_rooms=(3, 4), maze_seed=5, maze_loops=0.3), 200
    )
    gamma = 0.95
    before = _gap(env, QLearning(gamma=gamma, seed=0).learn(env, 1), gamma)
    agent = TABULAR_AGENTS[name](alpha=0.5, gamma=gamma, seed=3, **explore).learn(env, 150)
    start_gap, sup_gap = _gap(env, agent, gamma)
    assert start_gap < 1e-9  # the greedy policy is optimal from the start
    assert sup_gap < before[1]
    assert agent.episode_lengths_[-20:].mean() < agent.episode_lengths_[:20].mean()


def test_cliff_walking_q_learning_edge_sarsa_safe_path() -> None:
    """Example 6.6: Q-learning learns the optimal path along the cliff, SARSA a safer one,
    and SARSA collects more reward online with ε = 0.1."""
    env = gym.make("qmml/CliffWalking-v0")
    mdp = TabularMDP.from_env(env)
    start = env.unwrapped.start_state
    online, value = {}, {}
    for cls in (QLearning, Sarsa):
        runs = [cls(alpha=0.5, epsilon=0.1, seed=s).learn(env, 400) for s in (0, 1)]
        online[cls] = np.mean([r.episode_returns_[-100:].mean() for r in runs])
        value[cls] = [
            evaluate_policy(mdp, r.greedy_policy(), 1.0, nonterminating="nan")[start] for r in runs
        ]
    assert value[QLearning] == [-13.0, -13.0]  # the optimal, cliff-edge path
    assert all(v < -13.0 for v in value[Sarsa])  # a longer, safer path
    assert online[Sarsa] > online[QLearning] + 5


def test_seeded_determinism() -> None:
    env = GridWorldEnv("maze", maze_rooms=(3, 3), slip=0.2)

    def run(seed: int) -> QLearning:
        return QLearning(epsilon=0.3, exploration="epsilon-greedy", seed=seed).learn(env, 30)

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.q_table_, b.q_table_)
    np.testing.assert_array_equal(a.episode_returns_, b.episode_returns_)
    assert not np.array_equal(a.q_table_, c.q_table_)
    ss = np.random.SeedSequence(3)
    np.testing.assert_array_equal(
        Sarsa(seed=ss).learn(env, 10).q_table_,
        Sarsa(seed=np.random.SeedSequence(3)).learn(env, 10).q_table_,
    )


def test_any_discrete_env_and_predict() -> None:
    env = gym.make("FrozenLake-v1")
    agent = ExpectedSarsa(alpha=0.1, gamma=0.99, epsilon=1.0, seed=0).learn(env, 50)
    assert agent.q_table_.shape == (16, 4)
    agent.q_table_[0] = [0.0, 3.0, 1.0, 3.0]
    assert agent.predict(0) == 1 and agent.predict(np.int64(0), deterministic=True) == 1
    draws = {agent.predict(0, deterministic=False) for _ in range(200)}
    assert draws == {0, 1, 2, 3}  # ε = 1: uniform
    np.testing.assert_array_equal(agent.greedy_policy()[:1], [1])


def test_episode_cap_without_time_limit() -> None:
    env = GridWorldEnv("5x5")  # continuing: no terminal state, no time limit
    agent = Sarsa(max_episode_steps=7, seed=0).learn(env, 3)
    np.testing.assert_array_equal(agent.episode_lengths_, [7, 7, 7])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, r"alpha=0.0 is out of range; expected a finite number in \(0, 1\]"),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"gamma": -0.1}, "gamma=-0.1"),
        ({"epsilon": 1.2}, "epsilon=1.2"),
        ({"epsilon": float("nan")}, "epsilon=nan"),
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"exploration": "ucb"}, "exploration='ucb' is unknown"),
        ({"schedule": "cosine"}, "schedule='cosine' is unknown"),
        ({"schedule": "linear", "final": 1.5}, "final=1.5"),
        ({"schedule": "exponential", "final": 0.0}, "exponential schedule cannot"),
        ({"decay_episodes": 0}, "decay_episodes=0"),
        ({"max_episode_steps": 0}, "max_episode_steps=0"),
        ({"initial_value": float("inf")}, "initial_value=inf"),
    ],
)
def test_argument_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        QLearning(**kwargs)


def test_learn_and_predict_validation() -> None:
    with pytest.raises(ValueError, match="needs Discrete observation and action spaces"):
        QLearning().learn(gym.make("CartPole-v1"), 1)
    with pytest.raises(ValueError, match=r"budget=0 is out of range; .*\(a number of episodes\)"):
        QLearning().learn(GridWorldEnv("4x4"), 0)
    with pytest.raises(RuntimeError, match="before using the policy"):
        Sarsa().predict(0)
