"""Compiled moving sums for the rule-based strategies (numba, ``cache=True``).

Pure-NumPy meaning: :func:`window_sums` row ``q`` is ``acc = p[firsts[q]]; for j in
firsts[q] + 1 .. lasts[q]: acc += p[j]`` (each element ``p ** 2`` when ``squared``): the
fixed day-by-day order of ``strategies._sum``, so a sum never depends on how many days are
computed together. :func:`sma_cross` is ``SmaCrossover.decide`` for a batch of (fast, slow)
pairs from those sums. No fastmath: every bit equals the NumPy loop's
(``tests/agents/test_strategy_kernels.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["sma_cross", "window_sums"]

_BLOCK = 256  # days per block: a block of the window (W x 256 float64) stays in L2


@njit(cache=True)
def window_sums(p: np.ndarray, firsts: np.ndarray, lasts: np.ndarray, squared: bool) -> np.ndarray:
    """Sums over rows ``firsts[q]..lasts[q]`` of ``p`` (W, M), in row order: (Q, M)."""
    n_q, m = firsts.shape[0], p.shape[1]
    out = np.empty((n_q, m))
    acc = np.empty(_BLOCK)  # a local accumulator: the compiler keeps it apart from p
    for lo in range(0, m, _BLOCK):
        hi = min(lo + _BLOCK, m)
        w = hi - lo
        for q in range(n_q):
            row = p[firsts[q], lo:hi]
            for i in range(w):
                acc[i] = row[i] * row[i] if squared else row[i]
            for j in range(firsts[q] + 1, lasts[q] + 1):
                row = p[j, lo:hi]
                if squared:
                    for i in range(w):
                        acc[i] += row[i] * row[i]
                else:
                    for i in range(w):
                        acc[i] += row[i]
            out[q, lo:hi] = acc[:w]
    return out


@njit(cache=True)
def sma_cross(
    sums: np.ndarray,
    lengths: np.ndarray,
    index: np.ndarray,
    long_w: float,
    exit_w: np.ndarray,
) -> np.ndarray:
    """Targets (M, G) of G crossovers from moving sums (Q, M) over ``lengths`` (Q,) days.

    ``index[g]`` holds the rows of ``sums`` for (fast now, slow now, fast yesterday, slow
    yesterday); each average is ``sum / length``; a cross up (fast below slow yesterday,
    above today) targets ``long_w``, a cross down ``exit_w[g]``, no cross NaN (keep).
    """
    n_q, m = sums.shape
    avg = np.empty((n_q, m))
    for q in range(n_q):  # each average once: a grid shares them
        d = float(lengths[q])
        for i in range(m):
            avg[q, i] = sums[q, i] / d
    out = np.empty((m, index.shape[0]))
    for g in range(index.shape[0]):
        fn, sn, fp, sp = avg[index[g, 0]], avg[index[g, 1]], avg[index[g, 2]], avg[index[g, 3]]
        for i in range(m):
            if fp[i] < sp[i] and fn[i] > sn[i]:
                out[i, g] = long_w
            elif fp[i] > sp[i] and fn[i] < sn[i]:
                out[i, g] = exit_w[g]
            else:
                out[i, g] = np.nan
    return out
