"""Pieces of the ``trading-rl`` workload that touch the market: the walk-forward folds and the
environments of an ``env`` section (with one-line SpecErrors for periods that cannot work),
running an agent deterministically over a test period, and stitching the test periods into one
out-of-sample equity curve."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from qmml.agents.strategies import STRATEGIES
from qmml.envs.market.backtest import metrics as mx
from qmml.envs.market.data import DataError, Market
from qmml.envs.market.env import StockTradingEnv
from qmml.envs.market.features import FeatureTable
from qmml.envs.market.sources import load_market
from qmml.envs.market.splits import WalkForwardWindow, decision_range, walk_forward
from qmml.experiments.spec import SpecError

__all__ = [
    "FoldPath",
    "check_periods",
    "env_kwargs",
    "evaluate",
    "execution_of",
    "flat_to_multi",
    "market_for",
    "market_of",
    "price_index",
    "stitch",
    "summary_metrics",
    "walk_forward_folds",
]


@lru_cache(maxsize=8)
def market_for(
    source: str, tickers: tuple[str, ...] | None, start: str | None, end: str | None
) -> Market:
    """The market of a spec (cached per process: every trial of a worker shares it)."""
    return load_market(source, tickers=list(tickers) if tickers else None, start=start, end=end)


def flat_to_multi(action: Any, nvec: np.ndarray) -> np.ndarray:
    """One flat discrete action as the MultiDiscrete action it stands for (as
    :class:`~qmml.envs.market.vec_env.FlatDiscrete` maps it; here without importing SB3)."""
    return np.asarray(np.unravel_index(int(np.asarray(action).reshape(-1)[0]), nvec))


@dataclass
class FoldPath:
    """One agent's path over one test period.

    Attributes:
        dates: (K+1,) YYYYMMDD of the equity rows (row 0: the first decision's close).
        equity: (K+1,) in money.
        exposure: (K+1,) net weight held after each bar (sum over assets).
        traded_value: (K,) money traded at each step's fill.
        units: (K+1, N) units held after each bar (for the backtester's exposure).
    """

    dates: np.ndarray
    equity: np.ndarray
    exposure: np.ndarray
    traded_value: np.ndarray
    units: np.ndarray | None = None


def evaluate(
    agent: Any,
    env: StockTradingEnv,
    *,
    flat_nvec: np.ndarray | None = None,
) -> FoldPath:
    """Run ``agent`` deterministically over the whole period of ``env`` (one episode)."""
    obs, _ = env.reset(seed=0)  # a fixed-range episode: the seed draws nothing
    reset = getattr(agent, "reset", None)
    if reset is not None:
        reset()  # clears RecurrentPPO's state and a strategy's last target
    done = False
    while not done:
        action = agent.predict(obs, deterministic=True)
        if flat_nvec is not None:
            action = flat_to_multi(action, flat_nvec)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    h = env.history()
    t = h["t"]
    close = env.market.close[t]
    exposure = (h["units"] * close).sum(axis=1) / h["equity"]
    traded = np.zeros(len(t) - 1)
    for fi, delta in h["trades"]:
        k = fi - env.fill_lag - t[0]  # the step whose decision filled at bar fi
        traded[k] += float(np.abs(delta) @ env.fill_price[fi])
    dates = env.market.dates[t]
    ymd = (dates.year * 10000 + dates.month * 100 + dates.day).to_numpy(np.int64)
    units = np.asarray(h["units"], dtype=np.float64).reshape(len(t), -1)
    return FoldPath(ymd, h["equity"].astype(np.float64), exposure, traded, units)


def stitch(paths: list[FoldPath]) -> FoldPath:
    """Chain the test periods into one out-of-sample path starting at equity 1.

    Each period starts from cash, so the stitched curve compounds the periods' returns; the
    one bar between a period's last close and the next period's first decision is not traded
    by anybody (every agent skips the same days), so it is left out.
    """
    dates, equity, exposure, traded = (
        [paths[0].dates[:1]],
        [np.ones(1)],
        [paths[0].exposure[:1]],
        [],
    )
    unit_paths = [p.units for p in paths if p.units is not None]
    has_units = len(unit_paths) == len(paths)
    level = 1.0
    for p in paths:
        scale = level / p.equity[0]
        dates.append(p.dates[1:])
        equity.append(p.equity[1:] * scale)
        exposure.append(p.exposure[1:])
        traded.append(p.traded_value * scale)
        level = float(p.equity[-1] * scale)
    return FoldPath(
        np.concatenate(dates),
        np.concatenate(equity),
        np.concatenate(exposure),
        np.concatenate(traded),
        np.concatenate([unit_paths[0][:1]] + [u[1:] for u in unit_paths]) if has_units else None,
    )


def summary_metrics(path: FoldPath) -> dict[str, float]:
    """The report's metrics of an out-of-sample path (names carry units), by the backtester's
    definitions (:mod:`qmml.envs.market.backtest.metrics`): a flat curve has no Sharpe ratio
    (NaN), and exposure is the share of bars holding any position."""
    r = mx.returns_of(path.equity)
    # positions: the units held, else (a path built by hand) the net weight
    held = path.units if path.units is not None else path.exposure
    return {
        "sharpe_ratio": mx.sharpe_ratio(r),
        "sortino_ratio": mx.sortino_ratio(r),
        "cagr_pct": mx.cagr_pct(path.equity),
        "max_drawdown_pct": mx.max_drawdown_pct(path.equity),
        "turnover_annual": mx.turnover_annual(path.traded_value, path.equity[1:]),
        "total_return_pct": mx.total_return_pct(path.equity),
        "annual_volatility_pct": mx.annual_volatility_pct(r),
        "exposure_pct": mx.exposure_pct(held[1:]),
    }


def execution_of(cfg: Any) -> dict[str, Any]:
    """The ExecutionModel arguments of an env section (a ``WalkForwardSection``)."""
    return {
        "commission_bps": cfg.cost_bps,
        "slippage_bps": cfg.slippage_bps,
        "allow_short": cfg.allow_short,
        "max_leverage": cfg.max_leverage,
    }


def market_of(cfg: Any) -> Market:
    """The market of an env section."""
    return market_for(
        cfg.data,
        tuple(cfg.tickers) if cfg.tickers else None,
        cfg.data_start,
        cfg.data_end or cfg.end,
    )


def walk_forward_folds(cfg: Any) -> list[WalkForwardWindow]:
    """The walk-forward folds of an env section (the last ``max_folds`` of them).

    Without a ``start`` the folds are laid out back from the last day, so the most recent
    data is tested and at most ``step - 1`` of the oldest days go unused.
    """
    dates = market_of(cfg).dates
    start = cfg.start
    if start is None and not cfg.anchored:
        need = cfg.train_days + cfg.val_days + cfg.test_days
        step = cfg.step_days or cfg.test_days
        if len(dates) >= need:
            start = str(dates[(len(dates) - need) % step].date())
    folds = walk_forward(
        dates,
        train_days=cfg.train_days,
        val_days=cfg.val_days,
        test_days=cfg.test_days,
        step_days=cfg.step_days,
        anchored=cfg.anchored,
        start=start,
    )
    return folds[-cfg.max_folds :] if cfg.max_folds else folds  # the most recent folds


def env_kwargs(cfg: Any, agent_type: str, model: Any = None) -> dict[str, Any]:
    """StockTradingEnv arguments for an agent: strategies trade target weights on a window
    long enough for their lookback (and rebalance as often as they ask); RL agents get the
    configured discrete levels or continuous weights (DQN always discrete)."""
    kw: dict[str, Any] = {
        "window": cfg.window,
        "features": tuple(cfg.features),
        "execution": execution_of(cfg),
        "reward": cfg.reward,
    }
    if agent_type in STRATEGIES:
        kw["action_mode"] = "weights"
        kw["window"] = max(cfg.window, int(getattr(model, "lookback", 0) or 0))
        kw["rebalance_every"] = getattr(model, "rebalance_every", None)
    else:
        kw["action_mode"] = "discrete" if agent_type == "dqn" else cfg.action_mode
    return kw


def price_index(market: Any, ymd: np.ndarray) -> np.ndarray:
    """Close of the asset (equal-weight basket of several) on the given days, relative to the
    first of them."""
    d = market.dates
    keys = (d.year * 10000 + d.month * 100 + d.day).to_numpy(np.int64)
    rows = np.searchsorted(keys, ymd)
    rel = market.close[rows] / market.close[rows[0]]
    return rel.mean(axis=1)


def check_periods(cfg: Any, agent: Any) -> None:
    """Raise a one-line SpecError unless every fold's periods exist and leave room for the
    observation window of ``agent`` (a ResolvedAgent) under the env section ``cfg``."""
    try:
        market = market_of(cfg)
    except DataError as err:
        raise SpecError(f"env.data: {err}") from None
    n = market.n_days
    need = cfg.train_days + cfg.val_days + cfg.test_days
    if need > n:
        raise SpecError(
            f"env: one walk-forward fold needs train_days + val_days + test_days = {need} "
            f"days but {cfg.data} has {n}; shorten the periods"
        )
    try:
        folds = walk_forward_folds(cfg)
    except DataError as err:
        raise SpecError(f"env: {err}") from None
    window = cfg.window
    if agent.type in STRATEGIES:
        window = env_kwargs(cfg, agent.type, STRATEGIES[agent.type](**agent.params))["window"]
    first_valid = FeatureTable.build(market, tuple(cfg.features)).first_valid
    for fold in folds:
        for period, (lo, hi) in (("train", fold.train), ("val", fold.val), ("test", fold.test)):
            try:
                decision_range(market.dates, first_valid, window, lo, hi, market.name)
            except DataError as err:
                raise SpecError(
                    f"env: fold {fold.index} {period} period {lo}..{hi} is empty for a "
                    f"window of {window} days ({err}); use a shorter window or a later start"
                ) from None
