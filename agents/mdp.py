"""A finite MDP as arrays, compiled from any Gymnasium-style ``P`` table, and its Bellman
operators (action values, greedy policies, residuals).

``P[s][a] = [(prob, next_state, reward, terminated), ...]`` is what Gymnasium's toy-text envs
(FrozenLake, CliffWalking, Taxi) and :class:`envs.gridworld.GridWorldEnv` expose.
:class:`TabularMDP` stores it as one sparse matrix of continuation probabilities and a reward
array, so Bellman backups are one pass over a sparse matrix (compiled:
:mod:`agents.bellman_kernels`) and large mazes fit in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from qmml.agents.bellman_kernels import action_values, csr_parts
from qmml.agents.checks import check_number
from qmml.agents.mdp_kernels import count_outcomes, fill_outcomes

__all__ = [
    "ConvergenceError",
    "MDPError",
    "NonTerminatingPolicyError",
    "TabularMDP",
    "bellman_residual",
    "check_gamma",
    "greedy_actions",
    "greedy_from_q",
    "greedy_policy",
    "q_values",
]


class MDPError(ValueError):
    """An invalid MDP, policy or planner setting (the message names the problem and the fix)."""


class NonTerminatingPolicyError(MDPError):
    """γ = 1 with a policy (or a task) that never terminates from some state."""


class ConvergenceError(MDPError):
    """An iterative planner did not converge within its sweep budget."""


def check_gamma(gamma: float) -> float:
    """``gamma`` as a float in [0, 1].

    Raises:
        MDPError: not a number in [0, 1].
    """
    try:
        return check_number(
            "gamma", gamma, low=0.0, high=1.0, hint="1 only for episodic tasks that terminate"
        )
    except (TypeError, ValueError) as err:
        raise MDPError(str(err)) from None


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """S states and A actions as arrays, action-major so that a backup is one sparse product.

    Attributes:
        transitions: CSR matrix (A·S, S); row ``a·S + s`` holds P(s' | s, a) of the
            transitions that do *not* terminate, so a row sums to 1 − P(terminate | s, a).
        rewards: (A, S) expected immediate reward r(s, a).
        valid: (A, S) whether action a exists in state s (``P[s]`` may list fewer actions).
            A state without any action is terminal: it gets a dummy action 0 that ends the
            episode with reward 0.
    """

    transitions: sp.csr_matrix
    rewards: np.ndarray
    valid: np.ndarray

    @property
    def n_states(self) -> int:
        """Number of states S."""
        return int(self.rewards.shape[1])

    @property
    def n_actions(self) -> int:
        """Number of actions A."""
        return int(self.rewards.shape[0])

    @property
    def all_valid(self) -> bool:
        """Whether every action exists in every state."""
        return bool(self.valid.all())

    def termination(self) -> np.ndarray:
        """(A, S) probability that taking a in s ends the episode."""
        rows = np.asarray(self.transitions.sum(axis=1)).ravel()
        return np.clip(1.0 - rows, 0.0, 1.0).reshape(self.n_actions, self.n_states)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        next_state: np.ndarray,
        prob: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> TabularMDP:
        """Compile outcome arrays of shape (S, A, K): K possible outcomes per (s, a).

        Args:
            next_state: int next states.
            prob: outcome probabilities; each (s, a) sums to 1.
            reward: outcome rewards.
            terminated: whether the outcome ends the episode.
            valid: optional (S, A) mask of the actions that exist.

        Raises:
            MDPError: mismatched shapes, states out of range, probabilities not summing to 1.
        """
        ns, pr = np.asarray(next_state), np.asarray(prob, dtype=np.float64)
        rw, te = np.asarray(reward, dtype=np.float64), np.asarray(terminated, dtype=bool)
        if ns.ndim != 3 or not ns.shape == pr.shape == rw.shape == te.shape:
            raise MDPError(
                f"outcome arrays must all have shape (S, A, K); got {ns.shape}, "
                f"{pr.shape}, {rw.shape}, {te.shape}"
            )
        n, a, _ = ns.shape
        ok = np.ones((n, a), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        if ok.shape != (n, a):
            raise MDPError(f"valid has shape {ok.shape}; expected (S, A) = {(n, a)}")
        if ((ns < 0) | (ns >= n)).any() or (pr < 0).any() or not np.isfinite(rw).all():
            raise MDPError(
                "outcome arrays out of range: next states must be in [0, S), "
                "probabilities >= 0 and rewards finite"
            )
        sums = pr.sum(axis=2)
        bad = ok & (np.abs(sums - 1.0) > 1e-6)
        if bad.any():
            s, act = np.argwhere(bad)[0]
            raise MDPError(
                f"outcome probabilities of state {s}, action {act} sum to "
                f"{sums[s, act]:.6g}; they must sum to 1"
            )
        # action-major CSR rows a*S + s of the continuing outcomes, compiled (mdp_kernels)
        indptr = count_outcomes(pr, te, ok)
        idx_dtype = np.int32 if n < 2**31 - 1 and indptr[-1] < 2**31 - 1 else np.int64
        indices, data = np.empty(indptr[-1], dtype=idx_dtype), np.empty(indptr[-1])
        fill_outcomes(ns.astype(np.int64, copy=False), pr, te, ok, indptr, indices, data)
        mat = sp.csr_matrix((data, indices, indptr.astype(idx_dtype)), shape=(a * n, n))
        mat.sum_duplicates()
        rewards = np.where(ok, (pr * rw).sum(axis=2), 0.0).T.copy()
        return cls._finish(mat, rewards, ok.T.copy())

    @classmethod
    def from_P(
        cls,
        P: Mapping[int, Mapping[int, Any]],
        n_states: int | None = None,
        n_actions: int | None = None,
    ) -> TabularMDP:
        """Compile a Gymnasium toy-text table ``P[s][a] = [(prob, next_state, reward,
        terminated), ...]``. Actions missing from ``P[s]`` are unavailable in ``s``.

        Raises:
            MDPError: a missing state, an entry of the wrong form, a next state out of range,
                probabilities that do not sum to 1, a non-finite reward.
        """
        if not isinstance(P, Mapping) or not P:
            raise MDPError(
                "P must be a non-empty mapping P[s][a] = [(prob, next_state, reward, "
                "terminated), ...]"
            )
        n = len(P) if n_states is None else int(n_states)
        a_max = max((int(a) for s in P for a in P[s]), default=0)
        n_a = a_max + 1 if n_actions is None else int(n_actions)
        rows, cols, probs = [], [], []
        rewards = np.zeros((n_a, n))
        valid = np.zeros((n_a, n), dtype=bool)
        for s in range(n):
            if s not in P:
                raise MDPError(
                    f"P has no entry for state {s}; give P[s] for every state 0..{n - 1}"
                )
            for a, outcomes in P[s].items():
                if not 0 <= int(a) < n_a:
                    raise MDPError(f"P[{s}] has action {a!r} outside [0, {n_a})")
                total, r_exp = 0.0, 0.0
                for item in outcomes:
                    if len(item) != 4:
                        raise MDPError(
                            f"P[{s}][{a}] entry {item!r} is not (prob, next_state, "
                            "reward, terminated)"
                        )
                    p, s2, r, done = float(item[0]), int(item[1]), float(item[2]), item[3]
                    if not 0 <= s2 < n or p < 0 or not math.isfinite(r):
                        raise MDPError(
                            f"P[{s}][{a}] entry {item!r} is out of range: next state "
                            f"must be in [0, {n}), prob >= 0, reward finite"
                        )
                    total += p
                    r_exp += p * r
                    if p > 0 and not done:
                        rows.append(int(a) * n + s)
                        cols.append(s2)
                        probs.append(p)
                if abs(total - 1.0) > 1e-6:
                    raise MDPError(
                        f"P[{s}][{a}] probabilities sum to {total:.6g}; they must sum to 1"
                    )
                rewards[int(a), s] = r_exp
                valid[int(a), s] = True
        mat = sp.csr_matrix((np.asarray(probs, dtype=np.float64), (rows, cols)), shape=(n_a * n, n))
        return cls._finish(mat, rewards, valid)

    @classmethod
    def from_env(cls, env: Any) -> TabularMDP:
        """The MDP of a Gymnasium env with a tabular model: our gridworlds (arrays, fast) or
        any env whose ``unwrapped`` has a ``P`` table (FrozenLake, CliffWalking, Taxi...).

        Raises:
            MDPError: the env has no tabular model.
        """
        base = getattr(env, "unwrapped", env)
        model = getattr(base, "model", None)
        m = model() if callable(model) else None
        if m is not None and all(
            hasattr(m, f) for f in ("next_state", "prob", "reward", "terminated")
        ):
            return cls.from_arrays(m.next_state, m.prob, m.reward, m.terminated)
        table = getattr(base, "P", None)
        if table is None:
            raise MDPError(
                f"{type(base).__name__} has no tabular model (no P table); planners "
                "need envs like FrozenLake-v1, CliffWalking-v1, Taxi-v4 or qmml/*"
            )
        n_a = getattr(getattr(base, "action_space", None), "n", None)
        n_s = getattr(getattr(base, "observation_space", None), "n", None)
        return cls.from_P(table, n_states=n_s, n_actions=n_a)

    @classmethod
    def _finish(cls, mat: sp.csr_matrix, rewards: np.ndarray, valid: np.ndarray) -> TabularMDP:
        dead = ~valid.any(axis=0)
        valid[0, dead] = True  # a terminal dummy action: reward 0, no continuation
        rewards[0, dead] = 0.0
        mat = mat.tocsr()
        mat.sort_indices()
        return cls(mat, rewards, valid)

    # -- policies ---------------------------------------------------------------------------
    def policy_matrix(self, policy: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """(P_π as an S×S CSR matrix of continuation probabilities, r_π of shape (S,)).

        ``policy`` is an int array (S,) of actions or an (S, A) array of action probabilities.

        Raises:
            MDPError: wrong shape, an unavailable action, probabilities not summing to 1.
        """
        n, a = self.n_states, self.n_actions
        pol = np.asarray(policy)
        if pol.shape == (n,) and np.issubdtype(pol.dtype, np.integer):
            if ((pol < 0) | (pol >= a)).any() or not self.valid[pol, np.arange(n)].all():
                s = int(
                    np.flatnonzero(
                        (pol < 0) | (pol >= a) | ~self.valid[np.clip(pol, 0, a - 1), np.arange(n)]
                    )[0]
                )
                raise MDPError(
                    f"policy picks action {pol[s]} in state {s}, which is not available there"
                )
            rows = pol.astype(np.int64) * n + np.arange(n)
            return self.transitions[rows], self.rewards[pol, np.arange(n)]
        if pol.shape != (n, a):
            raise MDPError(
                f"policy has shape {pol.shape}; give actions (S,) = ({n},) as ints "
                f"or action probabilities (S, A) = ({n}, {a})"
            )
        pol = pol.astype(np.float64)
        if (
            (pol < 0).any()
            or (np.abs(pol.sum(axis=1) - 1) > 1e-6).any()
            or (pol.T[~self.valid] > 0).any()
        ):
            raise MDPError(
                "policy probabilities must be >= 0, sum to 1 in every state and be "
                "0 on unavailable actions"
            )
        nz = np.nonzero(pol.T)  # (action, state) pairs with weight
        w = sp.csr_matrix((pol.T[nz], (nz[1], nz[0] * n + nz[1])), shape=(n, a * n))
        return (w @ self.transitions).tocsr(), (pol * self.rewards.T).sum(axis=1)

    def uniform_policy(self) -> np.ndarray:
        """(S, A) equiprobable random policy over the available actions."""
        v = self.valid.T.astype(np.float64)
        return v / v.sum(axis=1, keepdims=True)

    def terminating_states(self, p_pi: sp.csr_matrix) -> np.ndarray:
        """(S,) whether the chain P_π ends the episode with probability 1 from each state
        (some path with positive probability leads to a terminating transition)."""
        n = self.n_states
        leak = np.asarray(p_pi.sum(axis=1)).ravel() < 1.0 - 1e-12
        # reversed graph plus a sink node n that points at every leaking state; BFS from it
        rev = sp.vstack([p_pi.T.tocsr(), sp.csr_matrix(leak.astype(np.float64)[None, :])])
        rev = sp.hstack([rev, sp.csr_matrix((n + 1, 1))]).tocsr()
        order = breadth_first_order(rev, n, directed=True, return_predecessors=False)
        reach = np.zeros(n + 1, dtype=bool)
        reach[order] = True
        return reach[:n]


def _values_array(mdp: TabularMDP, values: np.ndarray) -> np.ndarray:
    """``values`` as a contiguous float64 (S,) array (a kernel must not read out of bounds).

    Raises:
        MDPError: not of shape (S,).
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.shape != (mdp.n_states,):
        raise MDPError(f"values have shape {v.shape}; expected (S,) = ({mdp.n_states},)")
    return v


def q_values(mdp: TabularMDP, values: np.ndarray, gamma: float) -> np.ndarray:
    """(S, A) action values r(s, a) + γ Σ P(s'|s, a) V(s'); −inf for unavailable actions."""
    g = check_gamma(gamma)
    q = np.empty((mdp.n_states, mdp.n_actions))
    # bit for bit np.where(valid, rewards + g * (P @ V).reshape(A, S), -inf).T, in one pass
    action_values(
        *csr_parts(mdp.transitions),
        np.ascontiguousarray(mdp.rewards, dtype=np.float64),
        np.ascontiguousarray(mdp.valid, dtype=np.bool_),
        g,
        _values_array(mdp, values),
        q,
    )
    return q


def greedy_actions(
    mdp: TabularMDP, values: np.ndarray, gamma: float, *, tie_atol: float = 1e-9
) -> np.ndarray:
    """(S, A) mask of the actions within ``tie_atol`` of the best (ties shown as arrows)."""
    return _ties(q_values(mdp, values, gamma), tie_atol)


def _ties(q: np.ndarray, tie_atol: float) -> np.ndarray:
    """(S, A) mask of the action values ``q`` within ``tie_atol`` of each state's best."""
    return q >= q.max(axis=1, keepdims=True) - tie_atol


def greedy_policy(
    mdp: TabularMDP,
    values: np.ndarray,
    gamma: float,
    *,
    tie_atol: float = 1e-9,
    current: np.ndarray | None = None,
) -> np.ndarray:
    """(S,) greedy actions; ties within ``tie_atol`` go to ``current``'s action if it is one of
    them (so policy iteration stops instead of cycling between equal actions), else to the
    lowest action index."""
    return greedy_from_q(q_values(mdp, values, gamma), tie_atol=tie_atol, current=current)


def greedy_from_q(
    q: np.ndarray, *, tie_atol: float = 1e-9, current: np.ndarray | None = None
) -> np.ndarray:
    """:func:`greedy_policy` from (S, A) action values already computed."""
    ties = _ties(q, tie_atol)
    best = np.argmax(ties, axis=1)
    if current is not None:
        keep = ties[np.arange(q.shape[0]), current]
        best = np.where(keep, current, best)
    return best.astype(np.int64)


def bellman_residual(
    mdp: TabularMDP, values: np.ndarray, gamma: float, policy: np.ndarray | None = None
) -> float:
    """‖T V − V‖∞: the optimality operator, or T^π when ``policy`` is given (0 for the exact
    fixed point)."""
    g = check_gamma(gamma)
    if policy is None:
        target = q_values(mdp, values, g).max(axis=1)
    else:
        p_pi, r_pi = mdp.policy_matrix(policy)
        target = r_pi + g * (p_pi @ values)
    return float(np.abs(target - values).max())
