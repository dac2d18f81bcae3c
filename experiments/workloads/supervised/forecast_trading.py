"""From ``lstm-forecast``'s out-of-sample forecasts to a traded position, through the
existing backtester (:mod:`qmml.envs.market.backtest`) with costs, beside buy-and-hold.

At the close of day t (an origin) the forecast of the return after t becomes a target
weight (:func:`qmml.supervised.positions.forecast_positions`), filled at that close
(``fill="close"``, optimistic but the convention the target assumes) and held over day t+1.
Positions use only forecasts and returns up to t: :func:`signal_positions` is causal (a
property test checks it). The Sharpe ratio gets a stationary block-bootstrap interval over
days, paired with buy-and-hold on the same resampled days.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from qmml.envs.market.backtest import backtest_batch
from qmml.envs.market.data import Market
from qmml.envs.market.execution import ExecutionModel
from qmml.experiments.stats import sharpe_bootstrap
from qmml.experiments.workloads.trading.uncertainty import MEAN_BLOCK_DAYS, N_BOOT
from qmml.supervised.positions import forecast_positions

__all__ = ["Schedule", "signal_positions", "trade"]


class Schedule:
    """A precomputed schedule of target weights (K, N) as a backtester strategy: the k-th
    decision day gets row k."""

    lookback: int = 1
    features: tuple[str, ...] = ("rel_close",)
    rebalance_every: int | None = None
    stateful = True  # called on its own days, in order

    def __init__(self, weights: np.ndarray, name: str):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.name = name
        self._k = 0

    def reset(self) -> None:
        """Back to the first decision day."""
        self._k = 0

    def decide(self, window: np.ndarray, features: tuple[str, ...], cache: Any = None):
        """Rows of the schedule for the next ``len(window)`` decision days."""
        n = len(window)
        out = self.weights[self._k : self._k + n]
        self._k += n
        return out


def signal_positions(
    forecasts: np.ndarray, past_returns: np.ndarray, *, rule: str, short: bool
) -> np.ndarray:
    """Per-asset positions in [-1, 1] ([0, 1] without shorting), (K, N), equally weighted.

    Args:
        forecasts: (K, N) forecasts made at each origin.
        past_returns: (K, N) the daily return realised *by* each origin (known at t).
        rule: a :data:`qmml.supervised.positions.RULES` rule.
        short: allow negative positions.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    r = np.asarray(past_returns, dtype=np.float64)
    n = f.shape[1]
    pos = np.column_stack(
        [forecast_positions(f[:, i], rule=rule, returns=r[:, i], min_periods=20) for i in range(n)]
    )
    if not short:
        pos = np.clip(pos, 0.0, None)
    return pos / n


def trade(
    market: Market,
    origins: np.ndarray,
    forecasts: np.ndarray,
    *,
    rule: str,
    short: bool,
    cost_bps: float,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Backtest the forecasts' positions and buy-and-hold over the origins' days.

    Args:
        market: the prices (the forecasts' market).
        origins: consecutive day indices, one decision per day.
        forecasts: (K, N) return forecasts at the origins.

    Returns:
        Scalars (Sharpe ratios, their intervals, the paired difference, costs, turnover)
        and the two equity curves (``equity``, ``equity_bh``, K + 1 values each).

    Raises:
        ValueError: origins that are not consecutive days.
    """
    o = np.asarray(origins, dtype=np.int64)
    if o.size < 3 or np.any(np.diff(o) != 1):
        raise ValueError("trading needs at least 3 consecutive origin days")
    logc = np.log(market.close)
    past = logc[o] - logc[o - 1]
    w = signal_positions(forecasts, past, rule=rule, short=short)
    bh = np.full_like(w, 1.0 / w.shape[1])
    model = ExecutionModel(commission_bps=cost_bps, fill="close", allow_short=short)
    res = backtest_batch(
        [Schedule(w, "signal"), Schedule(bh, "buy-and-hold")],
        market,
        start=market.dates[o[0]].strftime("%Y-%m-%d"),
        end=market.dates[o[-1] + 1].strftime("%Y-%m-%d"),
        execution=model,
    )
    eq = np.stack([r.equity for r in res])
    rets = eq[:, 1:] / eq[:, :-1] - 1.0
    sharpe, reps = sharpe_bootstrap(rets, mean_block=MEAN_BLOCK_DAYS, n_boot=N_BOOT)
    with warnings.catch_warnings():  # a flat signal has no Sharpe ratio: NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, [0.025, 0.975], axis=1)
        d_lo, d_hi = np.nanquantile(reps[0] - reps[1], [0.025, 0.975])
    years = rets.shape[1] / 252
    scalars = {
        "sharpe_ratio": sharpe[0],
        "sharpe_low": lo[0],
        "sharpe_high": hi[0],
        "sharpe_bh": sharpe[1],
        "sharpe_bh_low": lo[1],
        "sharpe_bh_high": hi[1],
        "sharpe_minus_bh": sharpe[0] - sharpe[1],
        "sharpe_diff_low": d_lo,
        "sharpe_diff_high": d_hi,
        "total_return_pct": 100 * (eq[0, -1] / eq[0, 0] - 1),
        "total_return_bh_pct": 100 * (eq[1, -1] / eq[1, 0] - 1),
        "cost_drag_pct": 100 * float(res[0].costs.sum()) / float(eq[0, 0]),
        "turnover": float(res[0].traded_value.sum() / eq[0, :-1].mean()) / years,
        "exposure_long": float(np.mean(w.sum(axis=1) > 0)),
        "trade_days": float(rets.shape[1]),
    }
    return {k: float(v) for k, v in scalars.items()}, {"equity": eq[0], "equity_bh": eq[1]}
