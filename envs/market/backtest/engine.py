"""The fast backtester: a rule-based strategy's decisions computed for every day at once
from the same observation windows the environment shows, then the environment's own
accounting kernel applied only on days where some order changes (positions are constant in
between, so equity there is one array expression). Results equal the environment's, step
by step, to the last bit (a test checks every built-in strategy).

A strategy is any object with ``lookback`` (days of window it reads), ``features`` (the
observation features it needs), ``rebalance_every`` (None or days), ``stateful`` (False if
each decision is a pure function of its window), ``reset()`` and
``decide(window, features, cache) -> (B, N)`` target weights (NaN = keep the last target).
A stateless class may add ``decide_batch(strategies, window, features, cache) -> (B, G, N)``
(every member's ``decide`` at once; a parameter grid then decides in one call).

The accounting is :func:`~qmml.envs.market.backtest.simulation.simulate`; the metrics of a
grid come from one compiled pass over all its paths
(:func:`~qmml.envs.market.backtest.metric_kernels.batch_metrics`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from qmml.envs.market.backtest.metric_kernels import METRIC_NAMES, batch_metrics
from qmml.envs.market.backtest.results import BacktestResult, round_trips
from qmml.envs.market.backtest.simulation import simulate
from qmml.envs.market.data import Market
from qmml.envs.market.execution import ExecutionModel
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


def _batches(cls: type) -> bool:
    """Whether ``cls.decide_batch`` stands for ``cls.decide``: a subclass that overrides
    ``decide`` below the class defining ``decide_batch`` decides alone."""
    for c in cls.__mro__:
        if "decide_batch" in vars(c):
            return True
        if "decide" in vars(c):
            return False
    return False


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
    groups: dict[type, list[int]] = {}  # stateless strategies of a class with decide_batch
    alone = []
    for b, s in enumerate(strategies):
        s.reset()
        if not getattr(s, "stateful", True) and _batches(type(s)):
            groups.setdefault(type(s), []).append(b)
        else:
            alone.append(b)
    for c0 in range(t0, t_last + 1, chunk):
        c1 = min(c0 + chunk - 1, t_last)
        win = table.windows_range(c0, c1, window)
        cache: dict[Any, Any] = {}  # shared by the batch: grids reuse each moving sum
        for cls, members in groups.items():
            active = [b for b in members if starts[b] <= c1]
            if not active:
                continue
            batch = getattr(cls, "decide_batch")  # noqa: B009  (optional protocol member)
            res = batch([strategies[b] for b in active], win, table.features, cache)
            for g, b in enumerate(active):  # each keeps its own days, as decided alone
                lo = max(c0, starts[b])
                out[lo - t0 : c1 - t0 + 1, b] = res[lo - c0 :, g]
        for b in alone:
            s, lo = strategies[b], max(c0, starts[b])
            if lo > c1:
                continue
            if getattr(s, "stateful", True):  # its own days only: draws exactly as alone
                out[lo - t0 : c1 - t0 + 1, b] = s.decide(win[lo - c0 :], table.features)
            else:  # a pure function of each window: decide on the chunk, keep its own days
                out[lo - t0 : c1 - t0 + 1, b] = s.decide(win, table.features, cache)[lo - c0 :]
    return out


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
    return _run(strategies, market, start, end, execution, names, chunk, warmup)[0]


def _run(
    strategies: Sequence[SignalStrategy],
    market: Market,
    start: str | None,
    end: str | None,
    execution: ExecutionModel | None,
    names: Sequence[str] | None,
    chunk: int | None,
    warmup: int | None,
) -> tuple[list[BacktestResult], dict[str, Any], np.ndarray]:
    """:func:`backtest_batch`, also returning the batch's paths and each one's offset."""
    model = execution or ExecutionModel()
    feats = tuple(dict.fromkeys(f for s in strategies for f in s.features)) or ("rel_close",)
    for s in strategies:
        check = getattr(s, "check", None)
        if check is not None:
            check(market.n_assets)
    table = FeatureTable.build(market, feats)
    window = max(s.lookback for s in strategies)
    # each strategy starts where its own window is warm, as it would alone
    ranges: dict[int, tuple[int, int]] = {}
    for need in dict.fromkeys(max(s.lookback, warmup or 1) for s in strategies):
        ranges[need] = decision_range(
            market.dates, table.first_valid, need, start, end, market.name
        )
    starts = [ranges[max(s.lookback, warmup or 1)][0] for s in strategies]
    last = next(iter(ranges.values()))[1]
    t0 = min(starts)
    # days per batch of windows: about 32 MB of float32 at a time
    chunk = chunk or max(1, 8_000_000 // (window * market.n_assets * len(feats)))
    raw = _decide_all(strategies, table, starts, last - 1, chunk)
    k = np.arange(raw.shape[0])[:, None]
    off = np.array(starts) - t0
    every = np.array([s.rebalance_every or 0 for s in strategies])
    if every.any():
        force = (every > 0) & (k >= off) & ((k - off) % np.maximum(every, 1) == 0)
    else:  # no scheduled rebalance: skip the (K, B) modulo arithmetic
        force = np.zeros((len(k), len(strategies)), dtype=bool)
    sim = simulate(market, t0, raw, force, model)
    labels = names or [getattr(s, "name", type(s).__name__) for s in strategies]
    lag = 0 if model.fill == "close" else 1
    fills, fill_start = sim["fills"], sim["start"]
    out = []
    for b, label in enumerate(labels):
        o = int(off[b])
        f = fills[fill_start[b] : fill_start[b + 1]].copy()
        f[:, 0] -= o
        out.append(
            BacktestResult(
                label,
                market,
                starts[b],
                lag,
                sim["eq"][b, o:],
                sim["cash"][b, o:],
                sim["units"][b, o:],
                sim["tgt"][b, o:],
                sim["costs"][b, o:],
                sim["traded"][b, o:],
                f,
            )
        )
    return out, sim, off


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
    names = [name] if name else None
    return _run([strategy], market, start, end, execution, names, None, warmup)[0][0]


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
    results, sim, off = _run(strategies, market, start, end, execution, names, None, None)
    # every metric of every path in one compiled pass over the (combos x bars) matrices
    table = batch_metrics(
        sim["eq"],
        sim["units"],
        sim["traded"],
        sim["costs"],
        off,
        sim["fills"],
        sim["start"],
        market.n_assets,
    )
    columns: dict[str, Any] = {k: [p[k] for p in combos] for k in keys}
    columns.update({m: table[:, j] for j, m in enumerate(METRIC_NAMES)})  # as {**p, **metrics}
    return pd.DataFrame(columns), results
