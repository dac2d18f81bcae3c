"""Tests of the tabular MDP form and the planners on bad input: gamma = 1 without termination,
non-convergence, budgets, out-of-range gamma and malformed P tables."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import qmml.envs as envs  # noqa: F401  (registers the qmml/* ids)
from qmml.agents.mdp import (
    ConvergenceError,
    MDPError,
    NonTerminatingPolicyError,
    TabularMDP,
    check_gamma,
)
from qmml.agents.planning import (
    evaluate_policy,
    policy_evaluation,
    policy_iteration,
    value_iteration,
)
from qmml.envs.gridworld.env import GridWorldEnv


def grid_mdp(grid: str = "4x4", **kw) -> tuple[TabularMDP, GridWorldEnv]:
    env = GridWorldEnv(grid, **kw)
    return TabularMDP.from_env(env), env


# -- γ = 1, convergence and bad input -------------------------------------------------------


def test_gamma_one_needs_termination() -> None:
    mdp, _ = grid_mdp("5x5")  # a continuing task
    with pytest.raises(NonTerminatingPolicyError, match="no transition of this MDP terminates"):
        value_iteration(mdp, 1.0)
    with pytest.raises(NonTerminatingPolicyError, match=r"never terminates from 25 state\(s\)"):
        evaluate_policy(mdp, mdp.uniform_policy(), 1.0)
    with pytest.raises(NonTerminatingPolicyError, match="use gamma < 1"):
        policy_evaluation(mdp, mdp.uniform_policy(), 1.0)
    four, env = grid_mdp("4x4")
    always_left = np.zeros(16, dtype=np.int64)  # bumps into the left wall for ever
    # only row 0 (walks left into the corner) and the two corners terminate
    with pytest.raises(NonTerminatingPolicyError, match=r"from 11 state\(s\) \(e.g. state 4\)"):
        evaluate_policy(four, always_left, 1.0)
    with pytest.raises(NonTerminatingPolicyError):
        policy_iteration(four, 1.0, policy=always_left)
    v = evaluate_policy(four, always_left, 1.0, nonterminating="nan")
    assert np.isnan(v).sum() == 11
    np.testing.assert_allclose(v[:4], [0, -1, -2, -3])
    np.testing.assert_allclose(evaluate_policy(four, always_left, 0.5)[env.state(1, 1)], -2.0)


def test_gamma_one_positive_loop_does_not_converge() -> None:
    mdp = TabularMDP.from_P({0: {0: [(1.0, 0, 1.0, False)], 1: [(1.0, 0, 0.0, True)]}})
    with pytest.raises(ConvergenceError, match=r"within 500 sweeps with gamma=1.*for ever"):
        value_iteration(mdp, 1.0, max_sweeps=500)
    assert value_iteration(mdp, 0.9).values[0] == pytest.approx(10.0)


def test_budget_errors() -> None:
    mdp, _ = grid_mdp("4x4")
    with pytest.raises(ConvergenceError, match="policy evaluation did not converge within 3"):
        policy_evaluation(mdp, mdp.uniform_policy(), 1.0, max_sweeps=3)
    with pytest.raises(ConvergenceError, match="value iteration did not converge within 2"):
        value_iteration(mdp, 0.99, max_sweeps=2)
    with pytest.raises(ConvergenceError, match="policy iteration still changed"):
        policy_iteration(mdp, 1.0, max_iterations=1)


@pytest.mark.parametrize("gamma", [-0.1, 1.01, float("nan"), True, "0.9"])
def test_gamma_out_of_range(gamma: object) -> None:
    mdp, _ = grid_mdp("4x4")
    for call in (
        lambda: value_iteration(mdp, gamma),
        lambda: evaluate_policy(mdp, mdp.uniform_policy(), gamma),
        lambda: policy_iteration(mdp, gamma),
        lambda: check_gamma(gamma),
    ):
        with pytest.raises(MDPError, match=r"gamma=.*; expected a finite number in \[0, 1\]"):
            call()


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({0: {0: [(0.5, 0, 0.0, False)]}}, r"P\[0\]\[0\] probabilities sum to 0.5"),
        ({0: {0: [(1.0, 3, 0.0, False)]}}, r"next state must be in \[0, 1\)"),
        ({0: {0: [(1.0, 0, 0.0)]}}, "is not \\(prob, next_state, reward, terminated\\)"),
        ({0: {0: [(1.0, 0, float("nan"), False)]}}, "reward finite"),
        ({1: {0: [(1.0, 0, 0.0, False)]}}, "P has no entry for state 0"),
        ({}, "non-empty mapping"),
    ],
)
def test_bad_P_tables(table: dict, match: str) -> None:
    with pytest.raises(MDPError, match=match):
        TabularMDP.from_P(table)


def test_other_bad_input() -> None:
    mdp, _ = grid_mdp("4x4")
    with pytest.raises(MDPError, match="action 5 outside"):
        TabularMDP.from_P({0: {5: [(1.0, 0, 0.0, True)]}}, n_actions=2)
    with pytest.raises(MDPError, match="policy has shape"):
        evaluate_policy(mdp, np.zeros(3, dtype=np.int64), 0.9)
    with pytest.raises(MDPError, match="picks action 7 in state 0"):
        evaluate_policy(mdp, np.full(16, 7), 0.9)
    with pytest.raises(MDPError, match="sum to 1 in every state"):
        evaluate_policy(mdp, np.full((16, 4), 0.3), 0.9)
    with pytest.raises(MDPError, match=r"tol=0 is out of range; .* in \(0, inf\) \(e.g. 1e-10\)"):
        value_iteration(mdp, 0.9, tol=0)
    with pytest.raises(
        MDPError, match=r"max_sweeps=0 is out of range; expected an int in \[1, inf\)"
    ):
        policy_evaluation(mdp, mdp.uniform_policy(), 0.9, max_sweeps=0)
    with pytest.raises(MDPError, match="evaluation='fast' is unknown"):
        policy_iteration(mdp, 0.9, evaluation="fast")
    with pytest.raises(MDPError, match="initial values have shape"):
        value_iteration(mdp, 0.9, values=np.zeros(3))
    with pytest.raises(MDPError, match=r"sum to 0\.5; they must sum to 1"):
        TabularMDP.from_arrays(
            np.zeros((1, 1, 1), int),
            np.full((1, 1, 1), 0.5),
            np.zeros((1, 1, 1)),
            np.zeros((1, 1, 1), bool),
        )
    with pytest.raises(MDPError, match="must all have shape"):
        TabularMDP.from_arrays(
            np.zeros((1, 1), int), np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1), bool)
        )
    with pytest.raises(MDPError, match="CartPoleEnv has no tabular model"):
        TabularMDP.from_env(gym.make("CartPole-v1"))
