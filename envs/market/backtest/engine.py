"""The fast backtester: a rule-based strategy's decisions computed for every day at once
from the same observation windows the environment shows, then the environment's own
accounting kernel applied only on days where some order changes (positions are constant in
between, so equity there is one array expression). Results equal the environment's, step
by step, to the last bit (a test checks every built-in strategy).

A strategy is any object with ``lookback`` (days of window it reads), ``features`` (the
observation features it needs), ``rebalance_every`` (None or days), ``stateful`` (False if
each decision is a pure function of its window), ``reset()`` and
``decide(window, features, cache) -> (B, N)`` target weights (NaN = keep the last target).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from qmml.envs.market.backtest.results import BacktestResult, round_trips
from qmml.envs.market.data import Market
from qmml.envs.market.execution import (
    NP,
    PY,
    ExecutionModel,
    fill_orders,
    limit_weights,
    mark_to_market,
)
from qmml.envs.market.features import FeatureTable
from qmml.envs.market.splits import decision_range

__all__ = [
    "BacktestResult",
    "SignalStrategy",
    "backtest",
    "backtest_batch",
    "backtest_grid",
    "round_trips",
]


class SignalStrategy(Protocol):
    """What the backtester needs from a strategy (see the module docstring)."""

    lookback: int
    features: tuple[str, ...]
    rebalance_every: int | None

    def reset(self) -> None: ...

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict[Any, Any] | None = None
    ) -> np.ndarray: ...


def _ffill_targets(raw: np.ndarray) -> np.ndarray:
    """NaN means 'keep the last target' (flat before the first signal)."""
    k = np.arange(len(raw)).reshape(-1, *([1] * (raw.ndim - 1)))
    idx = np.maximum.accumulate(np.where(np.isnan(raw), -1, k), axis=0)
    held = np.take_along_axis(raw, np.maximum(idx, 0), axis=0)
    return np.where(idx >= 0, held, 0.0)


def _decide_all(
    strategies: Sequence[SignalStrategy],
    table: FeatureTable,
    starts: Sequence[int],
    t_last: int,
    chunk: int,
) -> np.ndarray:
    """(K, B, N) raw target weights for decision days min(starts)..t_last; strategy b decides
    from day ``starts[b]`` on (NaN before: it has not started)."""
    t0, window = min(starts), max(s.lookback for s in strategies)
    n = table.log_close.shape[1]
    out = np.full((t_last - t0 + 1, len(strategies), n), np.nan)
    for s in strategies:
        s.reset()
    for c0 in range(t0, t_last + 1, chunk):
        c1 = min(c0 + chunk - 1, t_last)
        win = table.windows_range(c0, c1, window)
        cache: dict[Any, Any] = {}  # shared by the batch: grids reuse each moving sum
        for b, s in enumerate(strategies):
            lo = max(c0, starts[b])
            if lo > c1:
                continue
            if getattr(s, "stateful", True):  # its own days only: draws exactly as alone
                out[lo - t0 : c1 - t0 + 1, b] = s.decide(win[lo - c0 :], table.features)
            else:  # a pure function of each window: decide on the chunk, keep its own days
                out[lo - t0 : c1 - t0 + 1, b] = s.decide(win, table.features, cache)[lo - c0 :]
    return out


def _simulate(
    market: Market, t0: int, raw: np.ndarray, force: np.ndarray, model: ExecutionModel
) -> dict[str, Any]:
    k_steps, b, n = raw.shape
    tgt = limit_weights(_ffill_targets(raw).reshape(-1, n), model, NP).reshape(k_steps, b, n)
    prev = np.concatenate([np.zeros((1, b, n)), tgt[:-1]])
    lag = 0 if model.fill == "close" else 1
    fill_px = (
        market.open if (model.fill == "next_open" and market.open is not None) else market.close
    )
    if model.borrow_bps > 0:  # fees move cash every bar a short is held: walk bar by bar
        return _simulate_with_borrow(market, t0, tgt, prev, force, model, fill_px, lag)
    close = market.close[t0 + 1 : t0 + k_steps + 1]  # (K, N): the close after each step
    costs, traded = np.zeros((k_steps, b)), np.zeros((k_steps, b))
    cash_h, units_h = np.empty((k_steps + 1, b)), np.zeros((k_steps + 1, b, n))
    fills: list[tuple[int, int, int, float, float, float]] = []
    rows = np.arange(k_steps + 1)
    if n == 1:  # one asset: each portfolio on the env's float path, its own order days only
        for bi in range(b):
            ev = np.flatnonzero((tgt[:, bi, 0] != prev[:, bi, 0]) | force[:, bi])
            cash_l, units_l = _scalar_events(
                ev,
                prev[ev, bi, 0],
                tgt[ev, bi, 0],
                force[ev, bi],
                fill_px[t0 + ev + lag, 0],
                model,
                costs[:, bi],
                traded[:, bi],
                fills,
                bi,
            )
            state = np.searchsorted(ev + 1, rows, side="right")
            cash_h[:, bi], units_h[:, bi, 0] = cash_l[state], units_l[state]
    else:  # several assets: all portfolios as arrays on the days any of them trades
        events = np.flatnonzero(((tgt != prev).any(axis=2) | force).any(axis=1))
        cash_ev, units_ev = np.empty((len(events) + 1, b)), np.zeros((len(events) + 1, b, n))
        cash, units = np.full(b, float(model.initial_cash)), np.zeros((b, n))
        cash_ev[0] = cash
        c, s = model.commission, model.slippage
        for j, k in enumerate(events):
            price, old = fill_px[t0 + k + lag], units
            cash, units, cost, _, tv = fill_orders(
                cash, units, prev[k], tgt[k], price, force[k][:, None], model, NP
            )
            cash_ev[j + 1], units_ev[j + 1] = cash, units
            costs[k], traded[k] = cost, tv
            delta = units - old
            for bi, ai in zip(*np.nonzero(delta), strict=True):
                d = float(delta[bi, ai])
                px = float(price[ai]) * (1.0 + s * np.sign(d))
                fills.append((int(k), int(bi), int(ai), d, px, c * abs(d) * px))
        state = np.searchsorted(events + 1, rows, side="right")
        cash_h, units_h = cash_ev[state], units_ev[state]
    eq = np.empty((k_steps + 1, b))
    eq[0] = model.initial_cash
    # mark_to_market's own formula, for all rows at once: cash + sum(units * close)
    eq[1:] = cash_h[1:] + (units_h[1:] * close[:, None, :]).sum(-1)
    return _finish(tgt, eq, cash_h, units_h, costs, traded, fills)


def _scalar_events(
    ev: np.ndarray,
    prev: np.ndarray,
    tgt: np.ndarray,
    force: np.ndarray,
    price: np.ndarray,
    model: ExecutionModel,
    costs: np.ndarray,
    traded: np.ndarray,
    fills: list[tuple[int, int, int, float, float, float]],
    bi: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One single-asset portfolio through its order days with the float kernel; returns cash
    and units after each event (index 0: the start) and fills ``costs``/``traded``/``fills``."""
    cash, units = float(model.initial_cash), 0.0
    cash_l, units_l = [cash], [units]
    c, s = model.commission, model.slippage
    for k, pv, tg, fo, p0 in zip(
        ev.tolist(), prev.tolist(), tgt.tolist(), force.tolist(), price.tolist(), strict=True
    ):
        old = units
        cash, units, cost, _, tv = fill_orders(cash, units, pv, tg, p0, fo, model, PY)
        cash_l.append(cash)
        units_l.append(units)
        costs[k], traded[k] = cost, tv
        if units != old:
            d = units - old
            px = p0 * (1.0 + s * PY.sign(d))
            fills.append((k, bi, 0, d, px, c * abs(d) * px))
    return np.array(cash_l), np.array(units_l)


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
    """Both kernels' common ending: stop accounts that went bankrupt, package the paths."""
    _stop_when_bankrupt(eq, cash_h, units_h)
    return {
        "tgt": tgt,
        "eq": eq,
        "cash": cash_h,
        "units": units_h,
        "costs": costs,
        "traded": traded,
        "fills": fills,
    }


def _stop_when_bankrupt(eq: np.ndarray, cash: np.ndarray, units: np.ndarray) -> None:
    """Like the environment (which terminates), nothing happens after equity reaches 0."""
    broke = eq <= 0
    for b in np.flatnonzero(broke.any(axis=0)):
        k = int(np.argmax(broke[:, b]))
        eq[k + 1 :, b], cash[k + 1 :, b], units[k + 1 :, b] = eq[k, b], cash[k, b], units[k, b]


def backtest_batch(
    strategies: Sequence[SignalStrategy],
    market: Market,
    *,
    start: str | None = None,
    end: str | None = None,
    execution: ExecutionModel | None = None,
    names: Sequence[str] | None = None,
    chunk: int | None = None,
    warmup: int | None = None,
) -> list[BacktestResult]:
    """Backtest several strategies over the same period in one pass (B portfolios as arrays).

    Each strategy's first decision is the first day >= ``start`` at which its own window is
    warm (so each result equals the strategy backtested alone); the last fill and mark are
    on the last day <= ``end``. ``warmup`` (days) delays every first decision to where a
    window that long is warm: strategies of different look-backs (a parameter grid, a
    benchmark beside a strategy) then cover the same days.
    """
    model = execution or ExecutionModel()
    feats = tuple(dict.fromkeys(f for s in strategies for f in s.features)) or ("rel_close",)
    for s in strategies:
        check = getattr(s, "check", None)
        if check is not None:
            check(market.n_assets)
    table = FeatureTable.build(market, feats)
    window = max(s.lookback for s in strategies)
    # each strategy starts where its own window is warm, as it would alone
    ranges = [
        decision_range(
            market.dates, table.first_valid, max(s.lookback, warmup or 1), start, end, market.name
        )
        for s in strategies
    ]
    starts, last = [r[0] for r in ranges], ranges[0][1]
    t0 = min(starts)
    # days per batch of windows: about 32 MB of float32 at a time
    chunk = chunk or max(1, 8_000_000 // (window * market.n_assets * len(feats)))
    raw = _decide_all(strategies, table, starts, last - 1, chunk)
    k = np.arange(raw.shape[0])[:, None]
    off = np.array(starts) - t0
    every = np.array([s.rebalance_every or 0 for s in strategies])
    force = (every > 0) & (k >= off) & ((k - off) % np.maximum(every, 1) == 0)
    sim = _simulate(market, t0, raw, force, model)
    fills = np.array(sim["fills"], dtype=np.float64).reshape(-1, 6)
    labels = names or [getattr(s, "name", type(s).__name__) for s in strategies]
    lag = 0 if model.fill == "close" else 1
    out = []
    for b, label in enumerate(labels):
        o = int(off[b])
        f = fills[fills[:, 1] == b][:, [0, 2, 3, 4, 5]]
        f[:, 0] -= o
        out.append(
            BacktestResult(
                label,
                market,
                starts[b],
                lag,
                sim["eq"][o:, b],
                sim["cash"][o:, b],
                sim["units"][o:, b],
                sim["tgt"][o:, b],
                sim["costs"][o:, b],
                sim["traded"][o:, b],
                f,
            )
        )
    return out


def backtest(
    strategy: SignalStrategy,
    market: Market,
    *,
    start: str | None = None,
    end: str | None = None,
    execution: ExecutionModel | None = None,
    name: str | None = None,
    warmup: int | None = None,
) -> BacktestResult:
    """Backtest one strategy (see :func:`backtest_batch`)."""
    return backtest_batch(
        [strategy],
        market,
        start=start,
        end=end,
        execution=execution,
        names=[name] if name else None,
        warmup=warmup,
    )[0]


def backtest_grid(
    factory: Callable[..., SignalStrategy],
    grid: dict[str, Sequence[Any]],
    market: Market,
    *,
    start: str | None = None,
    end: str | None = None,
    execution: ExecutionModel | None = None,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[pd.DataFrame, list[BacktestResult]]:
    """Every combination of ``grid`` values, backtested in one batch.

    Returns:
        A table with one row per combination (its parameters, then every metric) and the
        results in the same order.

    Raises:
        ValueError: an empty grid or no admissible combination.
    """
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError(f"grid {grid!r}: give at least one value for each parameter")
    keys = list(grid)
    combos = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*grid.values())]
    combos = [p for p in combos if constraint is None or constraint(p)]
    if not combos:
        raise ValueError("no parameter combination satisfies the constraint")
    strategies = [factory(**p) for p in combos]
    names = [",".join(f"{k}={v}" for k, v in p.items()) for p in combos]
    results = backtest_batch(
        strategies, market, start=start, end=end, execution=execution, names=names
    )
    table = pd.DataFrame([{**p, **r.metrics()} for p, r in zip(combos, results, strict=True)])
    return table, results
