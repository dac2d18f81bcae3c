"""Compiled assembly of :meth:`agents.mdp.TabularMDP.from_arrays`' sparse matrix.

The (S, A, K) outcome arrays become a CSR matrix of the continuing outcomes in action-major
rows (row ``a·S + s``). In NumPy that is::

    keep = (pr > 0) & ~te & ok[..., None]                    # (S, A, K)
    keep_, pr_, ns_ = (np.moveaxis(x, 1, 0) for x in (keep, pr, ns))
    indptr = np.r_[0, np.cumsum(keep_.reshape(A * S, K).sum(axis=1))]
    indices, data = ns_[keep_], pr_[keep_]

whose masked gathers through the transposed views read the arrays several times and
allocate twice the matrix. Here: one pass to count, one to fill, each reading the arrays once
in memory order; the entries come out in the same order with the same values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["count_outcomes", "fill_outcomes"]


@njit(cache=True)
def count_outcomes(pr: np.ndarray, te: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(A·S + 1,) int64 CSR row pointers of the kept outcomes (``pr > 0``, not terminating,
    action valid), row ``a·S + s``.

    Args:
        pr: (S, A, K) outcome probabilities.
        te: (S, A, K) whether each outcome terminates.
        ok: (S, A) whether each action exists.
    """
    n, n_actions, k = pr.shape
    indptr = np.zeros(n_actions * n + 1, dtype=np.int64)
    for s in range(n):
        for a in range(n_actions):
            c = 0
            if ok[s, a]:
                for j in range(k):
                    if pr[s, a, j] > 0 and not te[s, a, j]:
                        c += 1
            indptr[a * n + s + 1] = c
    for row in range(n_actions * n):  # counts -> running sums
        indptr[row + 1] += indptr[row]
    return indptr


@njit(cache=True)
def fill_outcomes(
    ns: np.ndarray,
    pr: np.ndarray,
    te: np.ndarray,
    ok: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
) -> None:
    """Write the kept outcomes' next states and probabilities into ``indices`` and ``data``
    at the rows ``indptr`` (from :func:`count_outcomes`) gives them, outcomes in index order.

    Args:
        ns: (S, A, K) next states.
        pr: (S, A, K) outcome probabilities.
        te: (S, A, K) whether each outcome terminates.
        ok: (S, A) whether each action exists.
        indptr: (A·S + 1,) row pointers.
        indices: (nnz,) receives the next states (int32 or int64).
        data: (nnz,) receives the probabilities.
    """
    n, n_actions, k = pr.shape
    for s in range(n):
        for a in range(n_actions):
            if ok[s, a]:
                p = indptr[a * n + s]
                for j in range(k):
                    if pr[s, a, j] > 0 and not te[s, a, j]:
                        indices[p] = ns[s, a, j]
                        data[p] = pr[s, a, j]
                        p += 1
