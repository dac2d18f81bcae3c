"""Compiled Bellman backups over a CSR matrix of (action, state) rows, one pass per sweep.

A :class:`~agents.mdp.TabularMDP` stores P(s' | s, a) as a CSR matrix whose row ``a·S + s``
belongs to (s, a). In NumPy a value-iteration sweep is the product and five passes over
temporaries::

    x = csr @ v                              # scipy's csr_matvec
    q = gamma * x.reshape(A, S) + r          # r: −inf where an action does not exist
    out = q.max(axis=0)
    residual = np.abs(out - v).max()

:func:`max_backup` does the same in one pass without temporaries, :func:`backup_sweeps` runs
such sweeps until the residual is small enough, and :func:`run_backups` drives it for the
planners (stopping at the sweeps whose values are to be kept). Each row's sum is
accumulated exactly as scipy's ``csr_matvec`` does (from 0.0, left to right over the stored
entries, multiply then add: no FMA, since numba only contracts under ``fastmath``), and the
maxima follow ``np.maximum``'s rules (NaN wins; of two equal values the later one), so the
results are bit for bit those of the NumPy lines above. Indices are cast to unsigned before
use: numba then drops its negative-index wraparound branches, which otherwise make the inner
loop about 1.5× slower than scipy's.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

__all__ = ["action_values", "backup_sweeps", "csr_parts", "max_backup", "run_backups"]

_U = np.uint64  # unsigned index: no wraparound check


def csr_parts(mat: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data as float64) of a CSR matrix: the kernels' matrix arguments
    (scipy's matvec with a float64 vector also computes in float64)."""
    return mat.indptr, mat.indices, np.asarray(mat.data, dtype=np.float64)


@njit(cache=True)
def _row_dot(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, row: np.uint64, v: np.ndarray
) -> float:
    acc = 0.0  # scipy's csr_matvec: sum = y[i] (zeros), then sum += A[i, j] * x[j] in order
    for jj in range(indptr[row], indptr[row + _U(1)]):
        k = _U(jj)
        acc += data[k] * v[_U(indices[k])]
    return acc


@njit(cache=True)
def max_backup(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    rewards: np.ndarray,
    gamma: float,
    v: np.ndarray,
    out: np.ndarray,
) -> float:
    """One Bellman optimality backup ``out = max_a [r + γ P V]``; returns ‖out − v‖∞.

    NumPy meaning: ``q = gamma * (csr @ v).reshape(A, S) + rewards; out[:] = q.max(axis=0);
    return np.abs(out - v).max()``. With A = 1 it is the policy backup r_π + γ P_π V.

    Args:
        indptr: CSR row pointers of the (A·S, S) matrix (row a·S + s is (s, a)).
        indices: CSR column indices.
        data: CSR values (float64).
        rewards: (A, S) rewards, −inf for actions that do not exist.
        gamma: discount.
        v: (S,) current values (not modified; must not be ``out``).
        out: (S,) receives the backed-up values.
    """
    n_actions, n = rewards.shape
    res, nn = 0.0, _U(n)
    # the row sums are written out here rather than calling _row_dot: ~8% faster (LLVM)
    for i in range(n):
        s = _U(i)
        acc = 0.0
        for jj in range(indptr[s], indptr[s + _U(1)]):
            acc += data[_U(jj)] * v[_U(indices[_U(jj)])]
        best = gamma * acc + rewards[0, s]
        for j in range(1, n_actions):
            a = _U(j)
            row = a * nn + s
            acc = 0.0
            for jj in range(indptr[row], indptr[row + _U(1)]):
                acc += data[_U(jj)] * v[_U(indices[_U(jj)])]
            q = gamma * acc + rewards[a, s]
            if not (best > q or best != best):  # np.maximum(best, q): NaN wins, ties take q
                best = q
        out[s] = best
        d = abs(best - v[s])
        if d > res or (d != d and res == res):  # np.max: the first NaN wins and stays
            res = d
    return res


@njit(cache=True)
def backup_sweeps(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    rewards: np.ndarray,
    gamma: float,
    v: np.ndarray,
    spare: np.ndarray,
    tol: float,
    residuals: np.ndarray,
) -> int:
    """Up to ``residuals.size`` sweeps of :func:`max_backup`, stopping after the first whose
    residual is below ``tol``; one call per solve instead of one per sweep.

    Sweep k (from 0) backs up from one buffer into the other and stores its residual in
    ``residuals[k]``. Returns the number of sweeps k done: the latest values are in ``v`` if k
    is even, else in ``spare``.
    """
    src, dst = v, spare
    for k in range(residuals.size):
        res = max_backup(indptr, indices, data, rewards, gamma, src, dst)
        residuals[k] = res
        src, dst = dst, src
        if res < tol:
            return k + 1
    return residuals.size


@njit(cache=True)
def action_values(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    rewards: np.ndarray,
    valid: np.ndarray,
    gamma: float,
    v: np.ndarray,
    out: np.ndarray,
) -> None:
    """Action values ``out[s, a] = r(s, a) + γ Σ P(s'|s, a) V(s')``, −inf where a is invalid.

    NumPy meaning: ``q = rewards + gamma * (csr @ v).reshape(A, S); out[:] = np.where(valid,
    q, -np.inf).T``.

    Args:
        indptr: CSR row pointers of the (A·S, S) matrix (row a·S + s is (s, a)).
        indices: CSR column indices.
        data: CSR values (float64).
        rewards: (A, S) rewards.
        valid: (A, S) whether each action exists.
        gamma: discount.
        v: (S,) values.
        out: (S, A) receives the action values.
    """
    n_actions, n = rewards.shape
    for i in range(n):
        s = _U(i)
        for j in range(n_actions):
            a = _U(j)
            if valid[a, s]:
                row = a * _U(n) + s
                out[s, a] = rewards[a, s] + gamma * _row_dot(indptr, indices, data, row, v)
            else:
                out[s, a] = -np.inf


def run_backups(
    parts: tuple[np.ndarray, np.ndarray, np.ndarray],
    rewards: np.ndarray,
    gamma: float,
    v: np.ndarray,
    tol: float,
    max_sweeps: int,
    keep: set[int],
) -> tuple[np.ndarray, list[float], dict[int, np.ndarray]]:
    """Synchronous sweeps V ← max_a [r + γ P V] (one action: r_π + γ P_π V) from ``v`` until
    the first residual below ``tol`` or ``max_sweeps``, by :func:`backup_sweeps`, leaving
    compiled code only at the sweeps in ``keep`` to copy the values.

    Args:
        parts: :func:`csr_parts` of the (A·S, S) matrix.
        rewards: (A, S) float64 rewards, −inf for actions that do not exist.
        gamma: discount.
        v: (S,) float64 initial values; overwritten (it is one of the two buffers).
        tol: stop after the first sweep whose residual is below this.
        max_sweeps: stop after this many sweeps in any case.
        keep: sweeps after which to copy the values.

    Returns:
        (values, residual of every sweep, sweep -> copy of the values for the sweeps in keep).
    """
    spare = np.empty_like(v)
    residuals: list[float] = []
    snaps: dict[int, np.ndarray] = {}
    while len(residuals) < max_sweeps:
        done = len(residuals)
        # run to the next snapshot; chunks bound the residual buffer for a huge max_sweeps
        stop = min([max_sweeps, done + 65_536, *(s for s in keep if s > done)])
        res = np.empty(stop - done)
        k = backup_sweeps(*parts, rewards, gamma, v, spare, tol, res)
        if k % 2:  # the latest values are in the spare buffer
            v, spare = spare, v
        residuals += res[:k].tolist()
        if done + k in keep:
            snaps[done + k] = v.copy()
        if residuals[-1] < tol:
            break
    return v, residuals, snaps
