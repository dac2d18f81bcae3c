"""The compiled Bellman kernels and the planners built on them against the NumPy/scipy
formulas they replaced, bit for bit (random MDPs, special values, gridworld mazes)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from qmml.agents.bellman_kernels import action_values, backup_sweeps, csr_parts, max_backup
from qmml.agents.mdp import MDPError, TabularMDP, bellman_residual, greedy_policy, q_values
from qmml.agents.planning import policy_evaluation, policy_iteration, value_iteration
from qmml.envs.gridworld.env import GridWorldEnv


# -- the references: the scipy formulas of the previous implementation --------------------
def ref_q(mdp: TabularMDP, v: np.ndarray, g: float) -> np.ndarray:
    q = mdp.rewards + g * (mdp.transitions @ v).reshape(mdp.n_actions, mdp.n_states)
    return np.where(mdp.valid, q, -np.inf).T.copy()


def ref_value_iteration(
    mdp: TabularMDP, g: float, tol: float, max_sweeps: int = 100_000
) -> tuple[np.ndarray, list[float]]:
    n, a = mdp.n_states, mdp.n_actions
    v = np.zeros(n)
    r = mdp.rewards if mdp.all_valid else np.where(mdp.valid, mdp.rewards, -np.inf)
    q, new, diff = np.empty((a, n)), np.empty(n), np.empty(n)
    residuals: list[float] = []
    for _ in range(max_sweeps):
        np.multiply((mdp.transitions @ v).reshape(a, n), g, out=q)
        q += r
        np.max(q, axis=0, out=new)
        np.subtract(new, v, out=diff)
        np.abs(diff, out=diff)
        residuals.append(float(diff.max()))
        v, new = new, v
        if residuals[-1] < tol:
            break
    return v, residuals


def ref_policy_evaluation(
    mdp: TabularMDP, policy: np.ndarray, g: float, tol: float
) -> tuple[np.ndarray, list[float]]:
    p_pi, r_pi = mdp.policy_matrix(policy)
    v, residuals = np.zeros(mdp.n_states), []
    while not residuals or residuals[-1] >= tol:
        new = r_pi + g * (p_pi @ v)
        residuals.append(float(np.abs(new - v).max()))
        v = new
    return v, residuals


def assert_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same shape, same NaNs, and the same bits everywhere else (signed zeros included)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    np.testing.assert_array_equal(actual[~nan].view(np.int64), expected[~nan].view(np.int64))


def random_mdp(rng: np.random.Generator, n: int, a: int, k: int, p_valid: float) -> TabularMDP:
    ns = rng.integers(0, n, (n, a, k))
    pr = rng.random((n, a, k)) * (rng.random((n, a, k)) < 0.8)
    pr[..., 0] += 1e-3  # every (s, a) has an outcome
    pr /= pr.sum(axis=2, keepdims=True)
    rw = rng.normal(size=(n, a, k)) * rng.choice([0.0, -0.0, 1.0, 10.0], (n, a, k))
    te = rng.random((n, a, k)) < 0.2
    return TabularMDP.from_arrays(ns, pr, rw, te, rng.random((n, a)) < p_valid)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e-308, 5e-324])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    a=st.integers(1, 5),
    k=st.integers(1, 4),
    gamma=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
    special=st.booleans(),
)
def test_kernels_match_the_scipy_formulas(
    seed: int, n: int, a: int, k: int, gamma: float, special: bool
) -> None:
    rng = np.random.default_rng(seed)
    mdp = random_mdp(rng, n, a, k, p_valid=0.7)
    v = rng.normal(size=n) * rng.choice([0.0, -0.0, 1.0, 1e3], n)
    if special:  # infinities, NaNs, signed zeros, extremes: the max and residual rules show
        v = np.where(rng.random(n) < 0.3, rng.choice(SPECIAL, n), v)
    t = mdp.transitions
    r = np.where(mdp.valid, mdp.rewards, -np.inf)
    if special:
        r = np.where(rng.random((a, n)) < 0.3, rng.choice(SPECIAL, (a, n)), r)
    out = np.empty(n)
    res = max_backup(*csr_parts(t), r, gamma, v, out)
    with np.errstate(invalid="ignore", over="ignore"):
        q = gamma * (t @ v).reshape(a, n) + r
        assert_bits(out, q.max(axis=0))
        assert_bits(np.array(res), np.array(np.abs(q.max(axis=0) - v).max()))
        q_out = np.empty((n, a))
        action_values(*csr_parts(t), mdp.rewards, mdp.valid, gamma, v, q_out)
        assert_bits(q_out, ref_q(mdp, v, gamma))
        assert_bits(q_values(mdp, v, gamma), ref_q(mdp, v, gamma))


def test_max_follows_np_maximum_on_signed_zeros_and_nans() -> None:
    # γ = 0 and V < 0 make γ·(P V) = −0.0, so q = −0.0 + r keeps the sign of a zero reward
    t = sp.csr_matrix(np.ones((4, 2)))
    v = np.array([-1.0, -1.0])
    for col in ([0.0, -0.0], [-0.0, 0.0], [np.nan, 1.0], [1.0, np.nan], [-np.inf, -np.inf]):
        r = np.array(col)[:, None].repeat(2, axis=1)
        out = np.empty(2)
        max_backup(*csr_parts(t), r, 0.0, v, out)
        assert_bits(out, (0.0 * (t @ v).reshape(2, 2) + r).max(axis=0))


def test_kernels_take_int64_indices_and_float32_data() -> None:
    rng = np.random.default_rng(3)
    mdp = random_mdp(rng, 30, 3, 3, p_valid=1.0)
    t = mdp.transitions
    v = rng.normal(size=30)
    for mat in (
        sp.csr_matrix((t.data, t.indices.astype(np.int64), t.indptr.astype(np.int64)), t.shape),
        sp.csr_matrix((t.data.astype(np.float32), t.indices, t.indptr), t.shape),
    ):
        out = np.empty(30)
        max_backup(*csr_parts(mat), mdp.rewards, 0.9, v, out)
        assert_bits(out, (0.9 * (mat @ v).reshape(3, 30) + mdp.rewards).max(axis=0))


def test_one_action_is_the_policy_backup() -> None:
    rng = np.random.default_rng(4)
    mdp = random_mdp(rng, 25, 4, 2, p_valid=1.0)
    p_pi, r_pi = mdp.policy_matrix(mdp.uniform_policy())
    v, out = rng.normal(size=25), np.empty(25)
    res = max_backup(*csr_parts(p_pi), r_pi[None, :], 0.8, v, out)
    assert_bits(out, r_pi + 0.8 * (p_pi @ v))
    assert res == np.abs(out - v).max()


@pytest.mark.parametrize("tol", [np.inf, 1e-3, 0.0])
def test_backup_sweeps_is_max_backup_repeated(tol: float) -> None:
    rng = np.random.default_rng(5)
    mdp = random_mdp(rng, 20, 3, 2, p_valid=0.9)
    r = np.where(mdp.valid, mdp.rewards, -np.inf)
    v, spare, res = np.zeros(20), np.empty(20), np.full(50, np.nan)
    k = backup_sweeps(*csr_parts(mdp.transitions), r, 0.9, v, spare, tol, res)
    latest = v if k % 2 == 0 else spare
    ref, ref_res = np.zeros(20), []
    for _ in range(k):
        out = np.empty(20)
        ref_res.append(max_backup(*csr_parts(mdp.transitions), r, 0.9, ref, out))
        ref = out
    assert_bits(latest, ref)
    assert_bits(res[:k], np.array(ref_res))
    assert k == {np.inf: 1, 0.0: 50}.get(tol, k) and (k == 50 or res[k - 1] < tol)
    assert (res[: k - 1] >= tol).all() and np.isnan(res[k:]).all()


GRIDS = {
    "5x5": (lambda: TabularMDP.from_env(GridWorldEnv("5x5")), 0.9),
    "cliff": (lambda: TabularMDP.from_env(GridWorldEnv("cliff")), 1.0),
    "windy noise": (lambda: TabularMDP.from_env(GridWorldEnv("windy", wind_noise=True)), 1.0),
    "maze": (
        lambda: TabularMDP.from_env(
            GridWorldEnv("maze", maze_rooms=(30, 40), maze_loops=0.1, slip=0.1)
        ),
        0.95,
    ),
    "Taxi": (lambda: TabularMDP.from_env(gym.make("Taxi-v4")), 0.99),
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_value_iteration_is_bit_identical_to_the_scipy_loop(name: str) -> None:
    make, g = GRIDS[name]
    mdp = make()
    sol = value_iteration(mdp, g, tol=1e-10)
    v, residuals = ref_value_iteration(mdp, g, tol=1e-10)
    assert_bits(sol.values, v)
    assert_bits(sol.residuals, np.asarray(residuals))
    assert_bits(sol.q, ref_q(mdp, v, g))
    ref_ties = ref_q(mdp, v, g) >= ref_q(mdp, v, g).max(axis=1, keepdims=True) - 1e-9
    np.testing.assert_array_equal(sol.policy, np.argmax(ref_ties, axis=1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gamma=st.sampled_from([0.0, 0.3, 0.9, 0.99]))
def test_planners_are_bit_identical_on_random_mdps(seed: int, gamma: float) -> None:
    rng = np.random.default_rng(seed)
    mdp = random_mdp(rng, int(rng.integers(1, 60)), int(rng.integers(1, 5)), 3, p_valid=0.8)
    sol = value_iteration(mdp, gamma, tol=1e-11, snapshots=[1, 2])
    v, residuals = ref_value_iteration(mdp, gamma, tol=1e-11)
    assert_bits(sol.values, v)
    assert_bits(sol.residuals, np.asarray(residuals))
    v1, _ = ref_value_iteration(mdp, gamma, tol=np.inf)  # one sweep
    assert_bits(sol.snapshots[1], v1)
    for policy in (mdp.uniform_policy(), np.argmax(mdp.valid, axis=0)):
        pe = policy_evaluation(mdp, policy, gamma, tol=1e-11)
        v_pi, res_pi = ref_policy_evaluation(mdp, policy, gamma, tol=1e-11)
        assert_bits(pe.values, v_pi)
        assert_bits(pe.residuals, np.asarray(res_pi))
    pi = policy_iteration(mdp, gamma)
    assert_bits(pi.q, ref_q(mdp, pi.values, gamma))
    assert bellman_residual(mdp, v, gamma) == np.abs(ref_q(mdp, v, gamma).max(axis=1) - v).max()


def test_values_of_the_wrong_shape_are_refused() -> None:
    mdp = TabularMDP.from_env(GridWorldEnv("4x4"))
    with pytest.raises(MDPError, match=r"values have shape \(3,\); expected \(S,\) = \(16,\)"):
        q_values(mdp, np.zeros(3), 0.9)
    with pytest.raises(MDPError, match="values have shape"):
        greedy_policy(mdp, np.zeros((16, 1)), 0.9)
    # ints and lists are values too, as with the scipy product
    assert_bits(q_values(mdp, list(range(16)), 0.9), ref_q(mdp, np.arange(16.0), 0.9))
