"""Tests of the tabular MDP form and the dynamic-programming planners: the book's numbers,
planners agreeing, hand-built tiny MDPs and the agent protocol (bad input:
test_planning_errors.py)."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qmml.envs as envs  # noqa: F401  (registers the qmml/* ids)
from qmml.agents.mdp import (
    MDPError,
    TabularMDP,
)
from qmml.agents.planning import (
    Planner,
    bellman_residual,
    evaluate_policy,
    greedy_actions,
    greedy_policy,
    policy_evaluation,
    policy_iteration,
    q_values,
    value_iteration,
)
from qmml.agents.protocol import Agent
from qmml.envs.gambler import GamblersProblem
from qmml.envs.gridworld.env import GridWorldEnv


def grid_mdp(grid: str = "4x4", **kw) -> tuple[TabularMDP, GridWorldEnv]:
    env = GridWorldEnv(grid, **kw)
    return TabularMDP.from_env(env), env


# -- the book's numbers ---------------------------------------------------------------------

FIG_3_2 = [
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
]
FIG_3_5 = [
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
]
FIG_4_1 = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]


def test_figure_3_2_and_3_5() -> None:
    mdp, _ = grid_mdp("5x5")
    v_pi = evaluate_policy(mdp, mdp.uniform_policy(), 0.9)
    np.testing.assert_array_equal(np.round(v_pi, 1).reshape(5, 5), FIG_3_2)
    v_star = value_iteration(mdp, 0.9).values
    np.testing.assert_array_equal(np.round(v_star, 1).reshape(5, 5), FIG_3_5)


@pytest.mark.parametrize("in_place", [False, True])
def test_example_4_1_random_policy(in_place: bool) -> None:
    mdp, _ = grid_mdp("4x4")
    sol = policy_evaluation(mdp, mdp.uniform_policy(), 1.0, in_place=in_place, snapshots=[1, 2])
    np.testing.assert_allclose(sol.values.reshape(4, 4), FIG_4_1, atol=1e-8)
    if not in_place:  # Figure 4.1, k = 1 and k = 2
        np.testing.assert_allclose(sol.snapshots[1].reshape(4, 4)[0], [0, -1, -1, -1])
        np.testing.assert_allclose(sol.snapshots[2].reshape(4, 4)[0], [0, -1.75, -2, -2])


def test_in_place_needs_fewer_sweeps() -> None:
    mdp, _ = grid_mdp("4x4")
    sync = policy_evaluation(mdp, mdp.uniform_policy(), 1.0)
    fast = policy_evaluation(mdp, mdp.uniform_policy(), 1.0, in_place=True)
    assert fast.sweeps < 0.75 * sync.sweeps
    assert sync.residuals[-1] < 1e-10 and fast.residuals[-1] < 1e-10
    assert np.all(np.diff(sync.residuals) <= 1e-12)  # monotone for this chain


def test_windy_and_cliff_optima() -> None:
    for grid, best in (("windy", -15.0), ("cliff", -13.0)):
        mdp, env = grid_mdp(grid)
        sol = value_iteration(mdp, 1.0)
        assert sol.values[env.start_state] == pytest.approx(best)


def test_stochastic_windy_optimum_matches_rollouts() -> None:
    # Exercise 6.10 has no printed answer: check the model against the sampled env instead.
    # The greedy policy's value at the start must equal its mean return over many episodes.
    mdp, env = grid_mdp("windy", wind_noise=True)
    sol = value_iteration(mdp, 1.0)
    v0 = sol.values[env.start_state]
    assert v0 < -15.0  # noisy wind costs steps against the steady wind's optimum of -15
    env.reset(seed=0)
    returns = []
    for _ in range(2000):
        s, _ = env.reset()
        total, done = 0.0, False
        while not done:
            s, r, done, _, _ = env.step(int(sol.policy[s]))
            total += r
        returns.append(total)
    se = np.std(returns) / np.sqrt(len(returns))
    assert abs(np.mean(returns) - v0) < 4 * se


def test_gambler_values_and_policy() -> None:
    g = GamblersProblem(p_heads=0.4)
    mdp = TabularMDP.from_P(g.P, g.n_states, g.n_actions)
    sol = value_iteration(mdp, 1.0, tol=1e-13, snapshots=[1])
    # hand-computed: V(50) = p, V(25) = p V(50), V(75) = p + (1 - p) V(50)
    np.testing.assert_allclose(sol.values[[0, 25, 50, 75, 100]], [0, 0.16, 0.4, 0.64, 0], atol=1e-9)
    assert sol.policy[50] == 50 and sol.policy[25] == 25 and sol.policy[75] == 25
    assert sol.policy[1] == 1 and sol.policy[99] == 1
    np.testing.assert_allclose(sol.snapshots[1][50:100], 0.4)  # one sweep: bet it all
    assert not np.isfinite(sol.q[50, 0])  # stake 0 does not exist
    assert mdp.valid[0, 0] and not mdp.valid[1:, 0].any()  # terminal: a dummy action only


# -- planners agree -------------------------------------------------------------------------

PROBLEMS = {
    "5x5": (lambda: grid_mdp("5x5")[0], 0.9),
    "4x4": (lambda: grid_mdp("4x4")[0], 1.0),
    "cliff": (lambda: grid_mdp("cliff")[0], 1.0),
    "windy slip": (lambda: grid_mdp("windy", slip=0.1)[0], 1.0),
    "maze": (lambda: grid_mdp("maze", maze_rooms=(8, 8), maze_loops=0.2, slip=0.2)[0], 0.95),
    "FrozenLake4x4": (lambda: TabularMDP.from_env(gym.make("FrozenLake-v1")), 0.99),
    "FrozenLake8x8": (lambda: TabularMDP.from_env(gym.make("FrozenLake-v1", map_name="8x8")), 0.99),
    "CliffWalking": (lambda: TabularMDP.from_env(gym.make("CliffWalking-v1")), 1.0),
    "Taxi": (lambda: TabularMDP.from_env(gym.make("Taxi-v4")), 0.99),
}


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_planners_agree_and_satisfy_bellman(name: str) -> None:
    make, g = PROBLEMS[name]
    mdp = make()
    vi = value_iteration(mdp, g, tol=1e-11)
    pi = policy_iteration(mdp, g)
    np.testing.assert_allclose(pi.values, vi.values, atol=1e-7)
    if name not in ("cliff", "windy slip", "CliffWalking"):
        # (with γ = 1 the random starting policy takes > 10^5 sweeps to evaluate there)
        pi_it = policy_iteration(mdp, g, evaluation="iterative", tol=1e-11)
        np.testing.assert_allclose(pi_it.values, vi.values, atol=1e-7)
    # the greedy policies are optimal: their exact values are V*
    np.testing.assert_allclose(evaluate_policy(mdp, vi.policy, g), pi.values, atol=1e-7)
    np.testing.assert_allclose(evaluate_policy(mdp, pi.policy, g), pi.values, atol=1e-9)
    assert bellman_residual(mdp, pi.values, g) < 1e-9
    assert bellman_residual(mdp, vi.values, g) < 1e-10
    assert bellman_residual(mdp, pi.values, g, pi.policy) < 1e-9
    assert vi.residuals[-1] < 1e-11 <= vi.residuals[-2]
    assert pi.policy_changes[-1] == 0 and pi.iterations == len(pi.residuals)
    np.testing.assert_allclose(pi.q.max(axis=1), pi.values, atol=1e-9)


def test_frozen_lake_values_match_simulated_returns() -> None:
    env = gym.make("FrozenLake-v1")
    mdp, g = TabularMDP.from_env(env), 0.99
    sol = value_iteration(mdp, g)
    returns = []
    env.reset(seed=123)
    for _ in range(2000):
        obs, _ = env.reset()
        ret, scale, done = 0.0, 1.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(int(sol.policy[obs]))
            ret, scale, done = ret + scale * r, scale * g, term or trunc
        returns.append(ret)
    se = np.std(returns) / np.sqrt(len(returns))
    assert abs(np.mean(returns) - sol.values[0]) < 4 * se


def test_taxi_greedy_rollouts_earn_the_optimal_value() -> None:
    env = gym.make("Taxi-v4")
    mdp = TabularMDP.from_env(env)
    sol = value_iteration(mdp, 1.0)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        start, total, done = obs, 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(int(sol.policy[obs]))
            total, done = total + r, term or trunc
        assert total == pytest.approx(sol.values[start])


# -- hand-built tiny MDPs -------------------------------------------------------------------


def tiny() -> TabularMDP:
    # state 0: action 0 stays (+1), action 1 goes to 1 (0); state 1: action 0 ends (+5),
    # action 1 goes back to 0 (+2) with prob 0.5, else ends (0)
    return TabularMDP.from_P(
        {
            0: {0: [(1.0, 0, 1.0, False)], 1: [(1.0, 1, 0.0, False)]},
            1: {0: [(1.0, 1, 5.0, True)], 1: [(0.5, 0, 2.0, False), (0.5, 1, 0.0, True)]},
        }
    )


def test_tiny_mdp_by_hand() -> None:
    mdp, g = tiny(), 0.5
    sol = value_iteration(mdp, g, tol=1e-13)
    # V(1) = max(5, 1 + 0.25 V(0)); V(0) = max(1 + 0.5 V(0), 0.5 V(1)) -> V(1) = 5, V(0) = 2.5
    np.testing.assert_allclose(sol.values, [2.5, 5.0])
    np.testing.assert_allclose(sol.q, [[2.25, 2.5], [5.0, 1.625]])
    np.testing.assert_array_equal(sol.policy, [1, 0])
    np.testing.assert_allclose(q_values(mdp, sol.values, g), sol.q)
    np.testing.assert_allclose(mdp.termination(), [[0, 1], [0, 0.5]])  # (A, S)
    # a stochastic policy: 50/50 in state 0, action 0 in state 1
    pol = np.array([[0.5, 0.5], [1.0, 0.0]])
    v = evaluate_policy(mdp, pol, g)  # V0 = 0.5(1 + 0.5 V0) + 0.5(0.5 * 5) -> V0 = 7/3
    np.testing.assert_allclose(v, [7 / 3, 5.0])
    np.testing.assert_allclose(policy_evaluation(mdp, pol, g).values, v, atol=1e-9)


def test_ties_and_unavailable_actions() -> None:
    mdp = TabularMDP.from_P(
        {
            0: {0: [(1.0, 0, 1.0, True)], 1: [(1.0, 0, 1.0, True)], 2: [(1.0, 0, 0.0, True)]},
            1: {2: [(1.0, 0, -1.0, True)]},
        }
    )
    v = np.zeros(2)
    np.testing.assert_array_equal(
        greedy_actions(mdp, v, 0.9), [[True, True, False], [False, False, True]]
    )
    np.testing.assert_array_equal(greedy_policy(mdp, v, 0.9), [0, 2])  # lowest of the ties
    np.testing.assert_array_equal(greedy_policy(mdp, v, 0.9, current=np.array([1, 2])), [1, 2])
    assert q_values(mdp, v, 0.9)[1, 0] == -np.inf
    np.testing.assert_allclose(mdp.uniform_policy(), [[1 / 3, 1 / 3, 1 / 3], [0, 0, 1]])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(1, 4), a=st.integers(1, 3), gamma=st.floats(0.0, 0.95))
def test_random_mdps_optimal_beats_every_deterministic_policy(
    data, n: int, a: int, gamma: float
) -> None:
    table = {}
    for s in range(n):
        table[s] = {}
        for act in range(a):
            w = np.array(data.draw(st.lists(st.floats(0.05, 1), min_size=n + 1, max_size=n + 1)))
            w /= w.sum()
            r = data.draw(st.floats(-5, 5))
            table[s][act] = [(float(w[j]), j, r, False) for j in range(n)]
            table[s][act].append((float(1 - w[:n].sum()), 0, r, True))
    mdp = TabularMDP.from_P(table)
    vi = value_iteration(mdp, gamma, tol=1e-12)
    pi = policy_iteration(mdp, gamma)
    np.testing.assert_allclose(pi.values, vi.values, atol=1e-8)
    best = np.full(n, -np.inf)
    for actions in itertools.product(range(a), repeat=n):
        v = evaluate_policy(mdp, np.array(actions), gamma)
        assert np.all(v <= pi.values + 1e-8)
        best = np.maximum(best, v)
    np.testing.assert_allclose(best, pi.values, atol=1e-8)


def test_large_maze_is_sparse_and_solves() -> None:
    mdp, env = grid_mdp("maze", maze_rooms=(80, 80), maze_loops=0.1, slip=0.1)
    assert mdp.n_states > 12_000
    assert mdp.transitions.nnz <= 3 * 4 * mdp.n_states  # at most 3 outcomes per (s, a)
    sol = value_iteration(mdp, 0.95, tol=1e-8)
    assert bellman_residual(mdp, sol.values, 0.95) < 1e-8
    assert sol.values[env.start_state] < 0


# -- the tabular forms agree; the agent protocol ------------------------------------------


def test_from_P_and_from_arrays_agree() -> None:
    env = GridWorldEnv("windy", slip=0.2)
    fast, slow = TabularMDP.from_env(env), TabularMDP.from_P(env.P)
    assert (fast.transitions != slow.transitions).nnz == 0
    np.testing.assert_allclose(fast.rewards, slow.rewards)


def test_planner_agent_protocol() -> None:
    planner = Planner("policy-iteration", gamma=0.99)
    assert isinstance(planner, Agent)
    with pytest.raises(RuntimeError, match="learn"):
        planner.predict(0)
    env = gym.make("FrozenLake-v1")
    assert planner.learn(env, 100) is planner
    vi = Planner(gamma=0.99).learn(env)
    np.testing.assert_allclose(vi.solution_.values, planner.solution_.values, atol=1e-7)
    assert planner.predict(0) == int(planner.solution_.policy[0])
    with pytest.raises(ValueError, match="method='dqn' is unknown"):
        Planner("dqn")
    with pytest.raises(MDPError, match="gamma=2"):
        Planner(gamma=2)
