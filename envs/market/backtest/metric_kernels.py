"""Compiled metrics of backtest paths: every statistic of
:meth:`~qmml.envs.market.backtest.results.BacktestResult.metrics` for one path or for all
paths of a batch in one numba call.

Pure-NumPy meaning: :func:`path_metrics` equals the functions of
:mod:`~qmml.envs.market.backtest.metrics` applied to the path, with the trades of
:func:`~qmml.envs.market.backtest.results.round_trips`. Every sum and mean is NumPy's own
pairwise summation (:func:`pairwise_sum`: blocks of 128 with eight accumulators, halves split
at multiples of 8), elementwise formulas keep NumPy's operation order, and there is no
fastmath, so each value equals the NumPy reference bit for bit (``tests/envs/market/
test_metric_kernels.py`` checks them on random and degenerate paths).

Compiled once per machine (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["METRIC_NAMES", "batch_metrics", "pairwise_sum", "path_metrics"]

METRIC_NAMES = (
    "total_return_pct",
    "cagr_pct",
    "annual_volatility_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "max_drawdown_duration_bars",
    "exposure_pct",
    "turnover_annual",
    "n_trades",
    "win_rate_pct",
    "profit_factor",
    "costs_pct",
    "final_equity",
    "costs",
    "costs_pct_traded",
)
YEAR = 252


@njit(cache=True)
def _block(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's ``pairwise_sum`` leaf (n <= 128): eight accumulators, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's ``pairwise_sum`` (``loops_utils.h.src``) of ``a[lo:lo + n]``: halves split at
    a multiple of 8 down to blocks of <= 128, left + right. Written with an explicit stack
    (numba's cache cannot reload a recursive function safely)."""
    if n <= 128:
        return _block(a, lo, n)
    todo_lo, todo_n = np.empty(200, np.int64), np.empty(200, np.int64)  # n = -1: combine
    vals = np.empty(100)
    top, nv = 0, 0
    todo_lo[0], todo_n[0] = lo, n
    while top >= 0:
        lo_i, n_i = todo_lo[top], todo_n[top]
        top -= 1
        if n_i < 0:  # both halves done: left + right
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
        elif n_i <= 128:
            vals[nv] = _block(a, lo_i, n_i)
            nv += 1
        else:
            n2 = n_i // 2
            n2 -= n2 % 8
            todo_n[top + 1] = -1  # combine, after the right half, after the left half
            todo_lo[top + 2], todo_n[top + 2] = lo_i + n2, n_i - n2
            todo_lo[top + 3], todo_n[top + 3] = lo_i, n2
            top += 3
    return vals[0]


@njit(cache=True)
def pairwise_sum(a: np.ndarray) -> float:
    """``np.sum(a)`` of a 1-D float64 array, bit for bit (the reduction starts from 0.0)."""
    return 0.0 + _pairwise(a, 0, a.shape[0])


@njit(cache=True)
def _closed_trades(fills: np.ndarray, n_assets: int) -> tuple[int, np.ndarray]:
    """``round_trips`` reduced to what the metrics read: the number of trades (closed and
    open) and the pnl of the closed ones, in order."""
    pos, flow = np.zeros(n_assets), np.zeros(n_assets)
    closed = np.empty(fills.shape[0] + 1)
    n_closed = 0
    for i in range(fills.shape[0]):
        a, units, px, comm = int(fills[i, 1]), fills[i, 2], fills[i, 3], fills[i, 4]
        q = units
        while q != 0.0:
            if pos[a] == 0.0:
                flow[a] = 0.0
            closing = pos[a] != 0.0 and (q > 0) != (pos[a] > 0)
            part = -pos[a] if closing and abs(q) > abs(pos[a]) else q
            flow[a] += -part * px - comm * (part / units)
            pos[a] += part
            q -= part
            if closing and abs(pos[a]) <= 1e-12 * abs(part):  # back to flat: trade done
                closed[n_closed] = flow[a]
                n_closed += 1
                pos[a] = 0.0
    n_open = 0
    for a in range(n_assets):
        n_open += pos[a] != 0.0
    return n_closed + n_open, closed[:n_closed]


@njit(cache=True)
def _std1_mean(r: np.ndarray) -> tuple[float, float]:
    """``(r.std(ddof=1), r.mean())`` as numpy's ``_var`` computes them."""
    n = r.shape[0]
    mean = pairwise_sum(r) / n
    dev = np.empty(n)
    for i in range(n):
        d = r[i] - mean
        dev[i] = d * d
    return np.sqrt(pairwise_sum(dev) / (n - 1)), mean


@njit(cache=True)
def path_metrics(
    e: np.ndarray,
    units: np.ndarray,
    traded: np.ndarray,
    costs: np.ndarray,
    fills: np.ndarray,
    n_assets: int,
    out: np.ndarray,
) -> None:
    """Write the :data:`METRIC_NAMES` of one path into ``out`` (17,).

    Args:
        e: (K+1,) equity; units: (K, N) units held after each step (``units[1:]``);
        traded, costs: (K,) per step; fills: (M, 5) fill rows; n_assets: N.
    """
    nan, big = np.nan, np.inf
    root = np.sqrt(252.0)
    n_e = e.shape[0]
    n_r = max(n_e - 1, 0)
    r = np.empty(n_r)
    for i in range(n_r):
        r[i] = e[i + 1] / e[i] - 1.0
    # total return, CAGR
    out[0] = nan if n_e == 0 else 100.0 * (e[n_e - 1] / e[0] - 1.0)
    years = (n_e - 1) / YEAR
    if years <= 0 or e[n_e - 1] <= 0:
        cagr = nan if years <= 0 else -100.0
    else:
        cagr = 100.0 * ((e[n_e - 1] / e[0]) ** (1.0 / years) - 1.0)
    out[1] = cagr
    # volatility, Sharpe (rf = 0: ``r - 0.0`` changes no bit)
    if n_r < 2:
        out[2], out[3] = nan, nan
    else:
        sd, mean = _std1_mean(r)
        out[2] = 100.0 * sd * root
        out[3] = nan if sd == 0 or sd <= 1e-12 * abs(mean) else mean / sd * root
    # Sortino
    if n_r < 1:
        out[4] = nan
    else:
        down = np.empty(n_r)
        for i in range(n_r):
            x = r[i] if r[i] < 0.0 else 0.0
            down[i] = x * x
        downside = np.sqrt(pairwise_sum(down) / n_r)
        mean = pairwise_sum(r) / n_r
        if downside == 0:
            out[4] = big if mean > 0 else nan
        else:
            out[4] = mean / downside * root
    # drawdown: depth and longest stretch under water
    if n_e == 0:
        mdd, longest = nan, 0
    else:
        peak, low, last_dry, longest = e[0], 0.0, -1, 0
        for i in range(n_e):  # np.maximum.accumulate and min both propagate NaN
            peak = e[i] if e[i] > peak or np.isnan(e[i]) else peak
            dd = e[i] / peak - 1.0
            if i == 0 or dd < low or np.isnan(dd):
                low = dd
            if dd < 0:
                longest = max(longest, i - last_dry)
            else:
                last_dry = i
        mdd = 100.0 * low
    out[6], out[7] = mdd, longest
    out[5] = nan if mdd == 0 else cagr / abs(mdd)
    # exposure: share of steps holding any position
    n_u = units.shape[0]
    if n_u == 0:
        out[8] = nan
    else:
        held = 0
        for i in range(n_u):
            for j in range(units.shape[1]):
                if units[i, j] != 0:
                    held += 1
                    break
        out[8] = 100.0 * (held / n_u)
    # turnover
    tv_sum = pairwise_sum(traded)
    years_tv = traded.shape[0] / YEAR
    e_mean = pairwise_sum(e) / n_e if n_e > 0 else nan
    out[9] = nan if years_tv <= 0 or not e_mean > 0 else tv_sum / e_mean / years_tv
    # trades
    n_trades, closed = _closed_trades(fills, n_assets)
    out[10] = n_trades
    n_c = closed.shape[0]
    wins = 0
    for i in range(n_c):
        wins += closed[i] > 0
    out[11] = 100.0 * (wins / n_c) if n_c else nan
    gain = pairwise_sum(closed[closed > 0])
    loss = -pairwise_sum(closed[closed < 0])
    if loss == 0:
        out[12] = big if gain > 0 else nan
    else:
        out[12] = gain / loss
    # costs
    c_sum = pairwise_sum(costs)
    out[13] = 100.0 * c_sum / e[0]
    out[14] = e[n_e - 1]
    out[15] = c_sum
    out[16] = 100.0 * c_sum / tv_sum if tv_sum > 0 else 0.0


@njit(cache=True)
def batch_metrics(
    eq: np.ndarray,
    units: np.ndarray,
    traded: np.ndarray,
    costs: np.ndarray,
    off: np.ndarray,
    fills: np.ndarray,
    start: np.ndarray,
    n_assets: int,
) -> np.ndarray:
    """(B, 17) metrics of a batch: path b is ``eq[b, off[b]:]`` (B, K+1), its units
    ``units[b, off[b] + 1:]`` (B, K+1, N), ``traded``/``costs`` ``[b, off[b]:]`` (B, K) and
    fills rows ``start[b]:start[b + 1]``."""
    b_n = eq.shape[0]
    out = np.empty((b_n, len(METRIC_NAMES)))
    for b in range(b_n):
        o = off[b]
        path_metrics(
            eq[b, o:],
            units[b, o + 1 :],
            traded[b, o:],
            costs[b, o:],
            fills[start[b] : start[b + 1]],
            n_assets,
            out[b],
        )
    return out
