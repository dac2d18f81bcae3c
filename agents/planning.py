"""Dynamic programming on a :class:`~agents.mdp.TabularMDP` (Sutton & Barto 2018, ch. 3-4).

Iterative policy evaluation (synchronous, and in-place as a sparse triangular solve: one
Gauss–Seidel sweep over the states in index order, eq. 4.5 done in compiled code), exact
evaluation by a sparse linear solve, policy iteration, value iteration, greedy policy and Q
extraction and the Bellman residual of every sweep. A synchronous sweep is one compiled pass
over the sparse matrix (:mod:`agents.bellman_kernels`: product, max over actions and residual
fused, bit for bit the scipy/NumPy formulas); nothing loops over states in Python.

γ may be any value in [0, 1]. With γ = 1 the task must be episodic: a policy that never
terminates from some state raises :class:`~agents.mdp.NonTerminatingPolicyError`, a value
iteration that does not settle raises :class:`~agents.mdp.ConvergenceError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve, spsolve_triangular

from qmml.agents.bellman_kernels import csr_parts, run_backups
from qmml.agents.checks import check_number
from qmml.agents.mdp import (
    ConvergenceError,
    MDPError,
    NonTerminatingPolicyError,
    TabularMDP,
    bellman_residual,
    check_gamma,
    greedy_actions,
    greedy_from_q,
    greedy_policy,
    q_values,
)
from qmml.agents.protocol import BudgetUnit

__all__ = [
    "Planner",
    "Solution",
    "bellman_residual",
    "evaluate_policy",
    "greedy_actions",
    "greedy_policy",
    "policy_evaluation",
    "policy_iteration",
    "q_values",
    "value_iteration",
]


@dataclass(frozen=True, eq=False)
class Solution:
    """What a planner returns.

    Attributes:
        values: (S,) state values.
        policy: (S,) greedy actions with respect to ``values``.
        q: (S, A) action values (−inf for unavailable actions).
        residuals: Bellman residual ‖V_{k+1} − V_k‖∞ per sweep (evaluation, value iteration)
            or ‖T V^π − V^π‖∞ per improvement (policy iteration).
        sweeps: backups over all states (policy iteration: evaluation sweeps, or one per linear
            solve, plus one improvement sweep per iteration).
        iterations: policy-improvement steps (policy iteration only).
        policy_changes: states whose action changed, per improvement step.
        snapshots: sweep -> copy of the values after that sweep (those asked for).
    """

    values: np.ndarray
    policy: np.ndarray
    q: np.ndarray
    residuals: np.ndarray
    sweeps: int
    iterations: int = 0
    policy_changes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)


def _check_run(tol: float, max_sweeps: int) -> None:
    try:
        check_number("tol", tol, low=0.0, low_open=True, hint="e.g. 1e-10")
        check_number("max_sweeps", max_sweeps, low=1, integer=True)
    except (TypeError, ValueError) as err:
        raise MDPError(str(err)) from None


def _start_values(mdp: TabularMDP, values: np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.zeros(mdp.n_states)
    v = np.array(values, dtype=np.float64)
    if v.shape != (mdp.n_states,):
        raise MDPError(f"initial values have shape {v.shape}; expected ({mdp.n_states},)")
    return v


def _require_termination(mdp: TabularMDP, p_pi: sp.csr_matrix, what: str) -> None:
    ends = mdp.terminating_states(p_pi)
    if not ends.all():
        bad = np.flatnonzero(~ends)
        raise NonTerminatingPolicyError(
            f"with gamma=1 {what} never terminates from {bad.size} state(s) (e.g. state "
            f"{bad[0]}), so its values do not converge; use gamma < 1 or a policy that reaches "
            "a terminal state from everywhere"
        )


def evaluate_policy(
    mdp: TabularMDP,
    policy: np.ndarray,
    gamma: float,
    *,
    nonterminating: Literal["raise", "nan"] = "raise",
) -> np.ndarray:
    """V^π exactly, by solving (I − γ P_π) V = r_π with a sparse LU factorisation.

    Args:
        mdp: the MDP.
        policy: (S,) actions or (S, A) action probabilities.
        gamma: discount in [0, 1].
        nonterminating: with γ = 1, what to do about states from which π never terminates:
            ``"raise"``, or ``"nan"`` to give them NaN and solve for the others (the states
            that terminate are closed under π, so their values are well defined).

    Raises:
        NonTerminatingPolicyError: γ = 1 and π never terminates from some state (``"raise"``).
    """
    g = check_gamma(gamma)
    p_pi, r_pi = mdp.policy_matrix(policy)
    n = mdp.n_states
    if g == 1.0:
        ends = mdp.terminating_states(p_pi)
        if not ends.all():
            if nonterminating == "raise":
                _require_termination(mdp, p_pi, "the policy")
            out = np.full(n, np.nan)
            idx = np.flatnonzero(ends)
            if idx.size:
                sub = p_pi[idx][:, idx]
                a = (sp.identity(idx.size, format="csc") - sub).tocsc()
                out[idx] = np.asarray(spsolve(a, r_pi[idx]), dtype=np.float64).reshape(-1)
            return out
    a = (sp.identity(n, format="csc") - g * p_pi).tocsc()
    return np.asarray(spsolve(a, r_pi), dtype=np.float64).reshape(n)


def _solution(
    mdp: TabularMDP,
    v: np.ndarray,
    g: float,
    residuals: list[float],
    sweeps: int,
    tie_atol: float,
    **extra: Any,
) -> Solution:
    q = q_values(mdp, v, g)
    return Solution(
        values=v,
        policy=greedy_from_q(q, tie_atol=tie_atol),
        q=q,
        residuals=np.asarray(residuals, dtype=np.float64),
        sweeps=sweeps,
        **extra,
    )


def policy_evaluation(
    mdp: TabularMDP,
    policy: np.ndarray,
    gamma: float,
    *,
    in_place: bool = False,
    tol: float = 1e-10,
    max_sweeps: int = 100_000,
    values: np.ndarray | None = None,
    snapshots: Iterable[int] = (),
    tie_atol: float = 1e-9,
) -> Solution:
    """Iterative policy evaluation (§4.1) until ‖V_{k+1} − V_k‖∞ < ``tol``.

    Args:
        mdp: the MDP.
        policy: (S,) actions or (S, A) action probabilities.
        gamma: discount in [0, 1].
        in_place: update states in index order using the values already updated in this sweep
            (the book's in-place version; usually fewer sweeps). Else synchronous.
        tol: stopping threshold on the Bellman residual.
        max_sweeps: give up (ConvergenceError) after this many sweeps.
        values: initial values (default 0).
        snapshots: sweeps after which to keep a copy of the values.
        tie_atol: tie tolerance of the greedy policy in the result.

    Raises:
        NonTerminatingPolicyError: γ = 1 and π never terminates from some state.
        ConvergenceError: not converged within ``max_sweeps``.
    """
    g = check_gamma(gamma)
    _check_run(tol, max_sweeps)
    p_pi, r_pi = mdp.policy_matrix(policy)
    if g == 1.0:
        _require_termination(mdp, p_pi, "the policy")
    v, keep = _start_values(mdp, values), {int(s) for s in snapshots}
    if not in_place:  # one action: the backup kernel is r_π + γ P_π V and its residual
        r_one = np.ascontiguousarray(r_pi[None, :], dtype=np.float64)
        v, residuals, snaps = run_backups(csr_parts(p_pi), r_one, g, v, tol, max_sweeps, keep)
    else:  # (I − γL) V_new = r + γU V_old, L strictly lower: one Gauss–Seidel sweep
        lower = (sp.identity(mdp.n_states, format="csr") - g * sp.tril(p_pi, k=-1)).tocsr()
        upper = (g * sp.triu(p_pi, k=0)).tocsr()
        residuals, snaps = [], {}
        for k in range(1, max_sweeps + 1):
            new = spsolve_triangular(lower, r_pi + upper @ v, lower=True, unit_diagonal=True)
            residuals.append(float(np.abs(new - v).max()))
            v = new
            if k in keep:
                snaps[k] = v.copy()
            if residuals[-1] < tol:
                break
    if residuals[-1] < tol:
        return _solution(mdp, v, g, residuals, len(residuals), tie_atol, snapshots=snaps)
    raise ConvergenceError(
        f"policy evaluation did not converge within {max_sweeps} sweeps "
        f"(residual {residuals[-1]:.3g} > tol {tol:g}); raise max_sweeps or "
        "tol, or lower gamma"
    )


def value_iteration(
    mdp: TabularMDP,
    gamma: float,
    *,
    tol: float = 1e-10,
    max_sweeps: int = 100_000,
    values: np.ndarray | None = None,
    snapshots: Iterable[int] = (),
    tie_atol: float = 1e-9,
) -> Solution:
    """Value iteration (§4.4): synchronous sweeps V ← max_a [r + γ P V] until the residual
    ‖V_{k+1} − V_k‖∞ < ``tol``; then ‖V − V*‖∞ ≤ γ·tol / (1 − γ) for γ < 1.

    Raises:
        NonTerminatingPolicyError: γ = 1 but no transition of the MDP ever terminates.
        ConvergenceError: not converged within ``max_sweeps`` (with γ = 1: a policy that
            collects reward for ever, or too few sweeps for the task).
    """
    g = check_gamma(gamma)
    _check_run(tol, max_sweeps)
    if g == 1.0 and mdp.termination().max(initial=0.0) <= 0.0:
        raise NonTerminatingPolicyError(
            "gamma=1 needs an episodic task, but no transition of "
            "this MDP terminates; use gamma < 1"
        )
    r = np.where(mdp.valid, mdp.rewards, -np.inf).astype(np.float64, copy=False)
    v, keep = _start_values(mdp, values), {int(s) for s in snapshots}
    v, residuals, snaps = run_backups(csr_parts(mdp.transitions), r, g, v, tol, max_sweeps, keep)
    if residuals[-1] < tol:
        return _solution(mdp, v, g, residuals, len(residuals), tie_atol, snapshots=snaps)
    raise ConvergenceError(
        f"value iteration did not converge within {max_sweeps} sweeps with gamma={g:g} "
        f"(residual {residuals[-1]:.3g} > tol {tol:g})"
        + (
            "; with gamma=1 some policy may collect reward for ever without terminating: use "
            "gamma < 1, fix the rewards, or raise max_sweeps"
            if g == 1.0
            else "; raise max_sweeps or tol"
        )
    )


def policy_iteration(
    mdp: TabularMDP,
    gamma: float,
    *,
    evaluation: Literal["exact", "iterative"] = "exact",
    policy: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iterations: int = 1_000,
    max_sweeps: int = 100_000,
    tie_atol: float = 1e-9,
) -> Solution:
    """Policy iteration (§4.3): evaluate π, make it greedy, until no state changes its action.

    Args:
        mdp: the MDP.
        gamma: discount in [0, 1].
        evaluation: ``"exact"`` (a sparse linear solve) or ``"iterative"`` (synchronous
            sweeps to ``tol``, warm-started from the previous values).
        policy: the initial policy; default the first available action everywhere, or, with
            γ = 1, the equiprobable random policy (which terminates in most episodic tasks).
        tol: tolerance of iterative evaluation.
        max_iterations: give up after this many improvement steps.
        max_sweeps: sweep budget of each iterative evaluation.
        tie_atol: actions within this of the best count as ties (the current one is kept).

    Raises:
        NonTerminatingPolicyError: γ = 1 and a policy met on the way never terminates.
        ConvergenceError: the policy still changes after ``max_iterations``.
    """
    g = check_gamma(gamma)
    _check_run(tol, max_sweeps)
    if evaluation not in ("exact", "iterative"):
        raise MDPError(f"evaluation={evaluation!r} is unknown; choose 'exact' or 'iterative'")
    if policy is None:
        policy = mdp.uniform_policy() if g == 1.0 else np.argmax(mdp.valid, axis=0)
    pi = np.asarray(policy)
    v = np.zeros(mdp.n_states)
    residuals, changes, sweeps = [], [], 0
    for it in range(1, max_iterations + 1):
        if evaluation == "exact":
            v = evaluate_policy(mdp, pi, g)
            sweeps += 1
        else:
            sol = policy_evaluation(mdp, pi, g, tol=tol, max_sweeps=max_sweeps, values=v)
            v, sweeps = sol.values, sweeps + sol.sweeps
        q = q_values(mdp, v, g)
        residuals.append(float(np.abs(q.max(axis=1) - v).max()))
        sweeps += 1
        current = pi if pi.ndim == 1 else None
        new = greedy_from_q(q, tie_atol=tie_atol, current=current)
        changed = int((new != pi).sum()) if pi.ndim == 1 else mdp.n_states
        changes.append(changed)
        pi = new
        if changed == 0:
            return Solution(
                values=v,
                policy=pi,
                q=q,
                residuals=np.asarray(residuals),
                sweeps=sweeps,
                iterations=it,
                policy_changes=np.asarray(changes, dtype=np.int64),
            )
    raise ConvergenceError(
        f"policy iteration still changed {changes[-1]} state(s) after "
        f"{max_iterations} iterations; raise max_iterations or tie_atol"
    )


class Planner:
    """A DP planner behind the agent protocol: ``learn`` compiles the env's tabular model
    (``P`` table or gridworld arrays) and solves it; ``predict`` follows the greedy policy.

    Args:
        method: ``"value-iteration"`` or ``"policy-iteration"``.
        gamma: discount in [0, 1].
        tol: Bellman-residual tolerance.
        evaluation: policy iteration's evaluation, ``"exact"`` or ``"iterative"``.

    Attributes:
        solution_: the :class:`Solution` after :meth:`learn`.
    """

    budget_unit: ClassVar[BudgetUnit] = "sweeps"  # policy iteration: improvement steps

    def __init__(
        self,
        method: Literal["value-iteration", "policy-iteration"] = "value-iteration",
        gamma: float = 0.99,
        tol: float = 1e-10,
        evaluation: Literal["exact", "iterative"] = "exact",
    ) -> None:
        if method not in ("value-iteration", "policy-iteration"):
            raise ValueError(
                f"method={method!r} is unknown; choose 'value-iteration' or 'policy-iteration'"
            )
        self.method, self.gamma, self.tol, self.evaluation = (
            method,
            check_gamma(gamma),
            tol,
            evaluation,
        )
        _check_run(tol, 1)

    def learn(self, env: Any, budget: int = 100_000) -> Planner:
        """Solve ``env``'s MDP with at most ``budget`` sweeps (value iteration) or improvement
        steps (policy iteration); return self."""
        mdp = TabularMDP.from_env(env)
        if self.method == "value-iteration":
            self.solution_ = value_iteration(mdp, self.gamma, tol=self.tol, max_sweeps=budget)
        else:
            self.solution_ = policy_iteration(
                mdp, self.gamma, evaluation=self.evaluation, tol=self.tol, max_iterations=budget
            )
        return self

    def predict(self, obs: Any, *, deterministic: bool = True) -> int:
        """The greedy action in state ``obs``."""
        if not hasattr(self, "solution_"):
            raise RuntimeError("call learn(env, budget) before predict()")
        return int(self.solution_.policy[int(obs)])
