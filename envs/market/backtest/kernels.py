"""Compiled single-asset simulation of the fast backtester: every portfolio of a batch through
its order days in one numba call, instead of a Python loop over portfolios.

Pure-NumPy meaning: :func:`simulate_one_asset` equals, for each portfolio ``b``,
``tgt = limit_weights(_ffill_targets(raw))`` followed by :func:`~qmml.envs.market.execution.
fill_orders` (the ``PY`` backend) on every step whose target changed or that is forced, the
state held in between, equity ``cash + units * close`` after each step and the account frozen
once equity reaches 0 (``simulation._stop_when_bankrupt``). Each formula is evaluated in the
same order with the same IEEE operations (no fastmath, no FMA contraction), so the results
equal that reference bit for bit: ``tests/envs/market/test_backtest_kernels.py`` runs the old
per-portfolio Python loop beside it, ``test_backtest_reference.py`` compares whole backtests
with outputs recorded before this kernel existed.

Compiled once per machine (``cache=True``: numba stores the machine code beside this file).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["simulate_one_asset"]


@njit(cache=True)
def _sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


@njit(cache=True)
def _grow(fills: np.ndarray, need: int) -> np.ndarray:
    bigger = np.empty((max(2 * fills.shape[0], need), fills.shape[1]))
    bigger[: fills.shape[0]] = fills
    return bigger


@njit(cache=True)
def simulate_one_asset(
    raw: np.ndarray,
    force: np.ndarray,
    fill_px: np.ndarray,
    close: np.ndarray,
    low: float,
    high: float,
    commission: float,
    slippage: float,
    whole: bool,
    cash0: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B one-asset portfolios through K steps (no borrow fees).

    Args:
        raw: (K, B, 1) raw target weights; NaN keeps the last target (0 before the first).
        force: (K, B) forced rebalances.
        fill_px: (K,) quoted fill price of each step's orders.
        close: (K,) the close after each step.
        low, high: weight limits (``np.clip`` bounds of ``limit_weights``).
        commission, slippage: rates per side (fractions).
        whole: truncate units to whole numbers.
        cash0: starting cash.

    Returns:
        ``block`` (6, B, K+1): target weights, equity, cash, units, costs and traded value
        (targets, costs and traded value in columns :K), ``fills`` (M, 5) rows ``(step, 0,
        units, price, commission)`` ordered by portfolio then step, and ``start`` (B+1,):
        portfolio b's fills are rows ``start[b]:start[b+1]``.
    """
    k_steps, b_n = raw.shape[0], raw.shape[1]
    c, s = commission, slippage
    size = (1.0 + s) * (1.0 + c)
    # one block for every path: one allocation (and fewer fresh pages) instead of six
    block = np.empty((6, b_n, k_steps + 1))
    tgt, eq, cash_h, units_h = block[0], block[1], block[2], block[3]
    costs, traded = block[4], block[5]
    fills = np.empty((64, 5))
    start = np.zeros(b_n + 1, dtype=np.int64)
    m = 0
    for b in range(b_n):
        cash, units, last, prev = cash0, 0.0, 0.0, 0.0
        cash_h[b, 0], units_h[b, 0], eq[b, 0] = cash0, 0.0, cash0
        broke = False
        if fills.shape[0] - m < k_steps:  # room for a fill a step (grown out here: a
            fills = _grow(fills, m + k_steps)  # reassignment in the step loop costs 4x)
        for k in range(k_steps):
            r = raw[k, b, 0]
            if not np.isnan(r):  # _ffill_targets
                last = r
            tg = last  # np.clip semantics: a bound only replaces values beyond it
            if tg < low:
                tg = low
            if tg > high:
                tg = high
            tgt[b, k] = tg
            change = tg != prev or force[k, b]
            costs[b, k], traded[b, k] = 0.0, 0.0
            if change:  # fill_orders (PY), term for term
                price = fill_px[k]
                held = units * price
                equity = cash + held
                closing = units != 0 and tg * units <= 0
                exit_rate = s + c * (1.0 - s * _sign(units))
                avail = equity - (abs(held) * exit_rate if closing else 0.0)
                desired = tg * avail / (price * size)
                if whole:  # float(math.trunc(x)): + 0.0 turns trunc's -0.0 into 0.0
                    desired = np.trunc(desired) + 0.0
                delta = desired - units
                fpx = price * (1.0 + s * _sign(delta))
                comm = c * abs(delta) * fpx
                cash = cash - delta * fpx - comm
                costs[b, k] = abs(delta) * price * s + comm
                traded[b, k] = abs(delta) * price
                if desired != units:
                    fills[m, 0], fills[m, 1], fills[m, 2] = k, 0.0, delta
                    fills[m, 3], fills[m, 4] = fpx, comm
                    m += 1
                units = desired
            prev = tg
            if broke:  # frozen at the bankrupt bar (trades still booked, as the reference)
                eq[b, k + 1], cash_h[b, k + 1] = eq[b, k], cash_h[b, k]
                units_h[b, k + 1] = units_h[b, k]
                continue
            cash_h[b, k + 1], units_h[b, k + 1] = cash, units
            eq[b, k + 1] = cash + (0.0 + units * close[k])  # + the one-term sum(-1)
            broke = eq[b, k + 1] <= 0
        start[b + 1] = m
    return block, fills[:m].copy(), start
