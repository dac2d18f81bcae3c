"""The backtester's accounting: target weights of B portfolios over K steps in, their paths
(equity, cash, units, costs, traded value) and fills out, on the environment's own kernel
(:mod:`qmml.envs.market.execution`).

One-asset portfolios without borrow fees (a parameter grid, a single run) go through the
compiled :func:`~qmml.envs.market.backtest.kernels.simulate_one_asset`, every portfolio in one
call; several assets trade as arrays on the days any portfolio trades; borrow fees (which move
cash every bar a short is held) walk bar by bar.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qmml.envs.market.backtest.kernels import simulate_one_asset
from qmml.envs.market.data import Market
from qmml.envs.market.execution import (
    NP,
    PY,
    ExecutionModel,
    fill_orders,
    limit_weights,
    mark_to_market,
)

__all__ = ["simulate"]


def _ffill_targets(raw: np.ndarray) -> np.ndarray:
    """NaN means 'keep the last target' (flat before the first signal)."""
    k = np.arange(len(raw)).reshape(-1, *([1] * (raw.ndim - 1)))
    idx = np.maximum.accumulate(np.where(np.isnan(raw), -1, k), axis=0)
    held = np.take_along_axis(raw, np.maximum(idx, 0), axis=0)
    return np.where(idx >= 0, held, 0.0)


def simulate(
    market: Market, t0: int, raw: np.ndarray, force: np.ndarray, model: ExecutionModel
) -> dict[str, Any]:
    """Every portfolio of the batch through every step. Per-portfolio arrays come back with
    the portfolio first: ``eq``/``cash`` (B, K+1), ``units`` (B, K+1, N), ``tgt`` (B, K, N),
    ``costs``/``traded`` (B, K); ``fills`` (M, 5) ordered by portfolio, rows
    ``start[b]:start[b+1]`` being portfolio b's."""
    k_steps, b, n = raw.shape
    lag = 0 if model.fill == "close" else 1
    fill_px = (
        market.open if (model.fill == "next_open" and market.open is not None) else market.close
    )
    if n == 1 and model.borrow_bps == 0:  # the compiled kernel, every portfolio in one call
        block, fills, start = simulate_one_asset(
            raw,
            force,
            np.ascontiguousarray(fill_px[t0 + lag : t0 + lag + k_steps, 0]),
            np.ascontiguousarray(market.close[t0 + 1 : t0 + k_steps + 1, 0]),
            model.weight_low,
            model.max_leverage,
            model.commission,
            model.slippage,
            model.units == "whole",
            float(model.initial_cash),
        )
        return {
            "tgt": block[0, :, :k_steps, None],
            "eq": block[1],
            "cash": block[2],
            "units": block[3][:, :, None],
            "costs": block[4, :, :k_steps],
            "traded": block[5, :, :k_steps],
            "fills": fills,
            "start": start,
        }
    tgt = limit_weights(_ffill_targets(raw).reshape(-1, n), model, NP).reshape(k_steps, b, n)
    prev = np.concatenate([np.zeros((1, b, n)), tgt[:-1]])
    if model.borrow_bps > 0:  # fees move cash every bar a short is held: walk bar by bar
        return _simulate_with_borrow(market, t0, tgt, prev, force, model, fill_px, lag)
    close = market.close[t0 + 1 : t0 + k_steps + 1]  # (K, N): the close after each step
    costs, traded = np.zeros((k_steps, b)), np.zeros((k_steps, b))
    fill_rows: list[tuple[int, int, int, float, float, float]] = []
    rows = np.arange(k_steps + 1)
    # several assets: all portfolios as arrays on the days any of them trades
    events = np.flatnonzero(((tgt != prev).any(axis=2) | force).any(axis=1))
    cash_ev, units_ev = np.empty((len(events) + 1, b)), np.zeros((len(events) + 1, b, n))
    cash_b, units_b = np.full(b, float(model.initial_cash)), np.zeros((b, n))
    cash_ev[0] = cash_b
    c, s = model.commission, model.slippage
    for j, k in enumerate(events):
        price, old = fill_px[t0 + k + lag], units_b
        cash_b, units_b, cost, _, tv = fill_orders(
            cash_b, units_b, prev[k], tgt[k], price, force[k][:, None], model, NP
        )
        cash_ev[j + 1], units_ev[j + 1] = cash_b, units_b
        costs[k], traded[k] = cost, tv
        delta = units_b - old
        for bi, ai in zip(*np.nonzero(delta), strict=True):
            d = float(delta[bi, ai])
            px = float(price[ai]) * (1.0 + s * np.sign(d))
            fill_rows.append((int(k), int(bi), int(ai), d, px, c * abs(d) * px))
    state = np.searchsorted(events + 1, rows, side="right")
    cash_h, units_h = cash_ev[state], units_ev[state]
    eq = np.empty((k_steps + 1, b))
    eq[0] = model.initial_cash
    # mark_to_market's own formula, for all rows at once: cash + sum(units * close)
    eq[1:] = cash_h[1:] + (units_h[1:] * close[:, None, :]).sum(-1)
    return _finish(tgt, eq, cash_h, units_h, costs, traded, fill_rows)


def _simulate_with_borrow(
    market: Market,
    t0: int,
    tgt: np.ndarray,
    prev: np.ndarray,
    force: np.ndarray,
    model: ExecutionModel,
    fill_px: np.ndarray,
    lag: int,
) -> dict[str, Any]:
    """Bar-by-bar variant for a model with borrow fees (cash moves every bar with a short)."""
    k_steps, b, n = tgt.shape
    scalar = b == 1 and n == 1
    cash0 = float(model.initial_cash)
    cash: Any = cash0 if scalar else np.full(b, cash0)
    units: Any = 0.0 if scalar else np.zeros((b, n))
    eq, cash_h = np.empty((k_steps + 1, b)), np.empty((k_steps + 1, b))
    units_h = np.zeros((k_steps + 1, b, n))
    costs, traded = np.zeros((k_steps, b)), np.zeros((k_steps, b))
    eq[0], cash_h[0] = cash0, cash0
    fills: list[tuple[int, int, int, float, float, float]] = []
    c, s = model.commission, model.slippage
    for k in range(k_steps):
        price, close = fill_px[t0 + k + lag], market.close[t0 + k + 1]
        old = units
        if scalar:
            cash, units, cost, _, tv = fill_orders(
                cash,
                units,
                float(prev[k, 0, 0]),
                float(tgt[k, 0, 0]),
                float(price[0]),
                bool(force[k, 0]),
                model,
                PY,
            )
            cash, e = mark_to_market(cash, units, float(close[0]), model, PY)
            delta = np.array([[units - old]])
        else:
            cash, units, cost, _, tv = fill_orders(
                cash, units, prev[k], tgt[k], price, force[k][:, None], model, NP
            )
            cash, e = mark_to_market(cash, units, close, model, NP)
            delta = units - old
        eq[k + 1], cash_h[k + 1], units_h[k + 1] = e, cash, np.reshape(units, (b, n))
        costs[k], traded[k] = cost, tv
        for bi, ai in zip(*np.nonzero(delta), strict=True):
            d = float(delta[bi, ai])
            px = float(price[ai]) * (1.0 + s * np.sign(d))
            fills.append((int(k), int(bi), int(ai), d, px, c * abs(d) * px))
    return _finish(tgt, eq, cash_h, units_h, costs, traded, fills)


def _finish(
    tgt: np.ndarray,
    eq: np.ndarray,
    cash_h: np.ndarray,
    units_h: np.ndarray,
    costs: np.ndarray,
    traded: np.ndarray,
    fills: list,
) -> dict:
    """The array paths' common ending: stop accounts that went bankrupt, package the paths
    portfolio first (views) and the fills grouped by portfolio, as the kernel does."""
    _stop_when_bankrupt(eq, cash_h, units_h)
    rows = np.array(fills, dtype=np.float64).reshape(-1, 6)
    order = np.argsort(rows[:, 1], kind="stable")  # by portfolio, each in step order
    start = np.searchsorted(rows[order, 1], np.arange(eq.shape[1] + 1), side="left")
    return {
        "tgt": np.moveaxis(tgt, 1, 0),
        "eq": eq.T,
        "cash": cash_h.T,
        "units": np.moveaxis(units_h, 1, 0),
        "costs": costs.T,
        "traded": traded.T,
        "fills": rows[order][:, [0, 2, 3, 4, 5]],
        "start": start,
    }


def _stop_when_bankrupt(eq: np.ndarray, cash: np.ndarray, units: np.ndarray) -> None:
    """Like the environment (which terminates), nothing happens after equity reaches 0."""
    broke = eq <= 0
    for b in np.flatnonzero(broke.any(axis=0)):
        k = int(np.argmax(broke[:, b]))
        eq[k + 1 :, b], cash[k + 1 :, b], units[k + 1 :, b] = eq[k, b], cash[k, b], units[k, b]
