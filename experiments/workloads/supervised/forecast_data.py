"""The data side of ``lstm-forecast``: walk-forward folds as day indices, the series a model
reads, forecast origins per block, and the scalers — all from closing prices, and where the
notebook's mistakes (``leaks``) come in.

Day ``t`` is a row of the price array. An origin ``t`` reads the series up to day t and
forecasts the ``h``-day log return ``log C[t+h] - log C[t]`` (or, leaking, the price level
``C[t+h]``). A block (train, validation, test) owns the origins whose target days
``t+1 .. t+h`` lie inside it; windows may look back into earlier blocks (past data only).
Honest scalers are fitted on the fold's training days alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qmml.envs.market.splits import walk_forward
from qmml.supervised.lagged import Scaler, lag_windows

__all__ = ["LEAKS", "Fold", "FoldData", "fold_data", "folds_of", "model_series", "targets"]

LEAKS = ("scaler", "in-sample", "levels")


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: inclusive day-index ranges of its three blocks."""

    index: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


def folds_of(
    dates: pd.DatetimeIndex,
    *,
    train_days: int,
    val_days: int,
    test_days: int,
    expanding: bool,
    max_folds: int | None,
) -> list[Fold]:
    """Walk-forward folds (:func:`qmml.envs.market.splits.walk_forward`) as day indices,
    the most recent ``max_folds`` of them. Day 0 is left out: it has no return.

    Raises:
        DataError: the data is too short for one fold.
    """
    wins = walk_forward(
        dates[1:],
        train_days=train_days,
        val_days=val_days,
        test_days=test_days,
        anchored=expanding,
    )
    if max_folds is not None:
        wins = wins[-max_folds:]

    def idx(period: tuple[str, str]) -> tuple[int, int]:
        return int(dates.get_loc(pd.Timestamp(period[0]))), int(
            dates.get_loc(pd.Timestamp(period[1]))
        )

    return [Fold(k, idx(w.train), idx(w.val), idx(w.test)) for k, w in enumerate(wins)]


def model_series(close: np.ndarray, levels: bool) -> np.ndarray:
    """What a model reads, (T, N): daily log returns (row 0 NaN) or, leaking, price levels."""
    c = np.asarray(close, dtype=np.float64)
    if levels:
        return c.copy()
    r = np.full_like(c, np.nan)
    r[1:] = np.diff(np.log(c), axis=0)
    return r


def targets(close: np.ndarray, origins: np.ndarray, horizon: int, levels: bool) -> np.ndarray:
    """Targets at ``origins`` (K, N): the ``horizon``-day log return, or the price level."""
    c = np.asarray(close, dtype=np.float64)
    o = np.asarray(origins, dtype=np.int64)
    if levels:
        return c[o + horizon]
    return np.log(c[o + horizon]) - np.log(c[o])


@dataclass
class FoldData:
    """One fold's standardised model inputs, per ticker stacked into rows.

    Attributes:
        x_train, y_train, x_val, y_val: pooled rows of all tickers (standardised).
        eval_origins: origins scored (the test block, or the training block when leaking
            ``in-sample``); x_eval: their windows per ticker, (N, K, W).
        trade_origins: every origin whose position falls in the test block (none when
            leaking ``in-sample``); x_trade: (N, K', W).
        x_scalers, y_scalers: one per ticker.
        train_origins: the training origins (for baselines fitted on them).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_origins: np.ndarray
    eval_origins: np.ndarray
    x_eval: np.ndarray
    trade_origins: np.ndarray
    x_trade: np.ndarray
    x_scalers: list[Scaler]
    y_scalers: list[Scaler]


def fold_scalers(
    close: np.ndarray, fold: Fold, *, window: int, horizon: int, leaks: frozenset[str]
) -> tuple[list[Scaler], list[Scaler]]:
    """Per-ticker scalers of the inputs and of the targets: fitted on the fold's training
    days only, or on every day of the data when leaking ``scaler``."""
    levels = "levels" in leaks
    series = model_series(close, levels)
    lo, hi = fold.train
    tr = train_origins(fold, window, horizon)
    if "scaler" in leaks:  # the notebook: fit_transform on the whole series
        rows = np.arange(1, len(close))
        tr = np.arange(window, len(close) - horizon)
    else:
        rows = np.arange(lo, hi + 1)
    y = targets(close, tr, horizon, levels)
    xs = [Scaler.fit(series[rows, i]) for i in range(series.shape[1])]
    ys = [Scaler.fit(y[:, i]) for i in range(series.shape[1])]
    return xs, ys


def train_origins(fold: Fold, window: int, horizon: int) -> np.ndarray:
    """Training origins: the whole window and every target day inside the training block."""
    lo, hi = fold.train
    return np.arange(max(lo + window - 1, window), hi - horizon + 1)


def _block(lo: int, hi: int, horizon: int) -> np.ndarray:
    return np.arange(lo - 1, hi - horizon + 1)  # target days t+1..t+h inside [lo, hi]


def fold_data(
    close: np.ndarray, fold: Fold, *, window: int, horizon: int, leaks: frozenset[str]
) -> FoldData:
    """The fold's windows and targets, standardised (see the module docstring).

    Raises:
        ValueError: a block with no origin (window or horizon too long for it).
    """
    levels = "levels" in leaks
    series = model_series(close, levels)
    xs, ys = fold_scalers(close, fold, window=window, horizon=horizon, leaks=leaks)
    tr = train_origins(fold, window, horizon)
    va = _block(*fold.val, horizon)
    if "in-sample" in leaks:  # the notebook: score on the rows it trained on
        ev, trade = tr, np.arange(0)
    else:
        ev = _block(*fold.test, horizon)
        trade = np.arange(fold.test[0] - 1, fold.test[1])
    for name, o in (("training", tr), ("validation", va), ("test", ev)):
        if o.size < 2:
            raise ValueError(
                f"fold {fold.index}: the {name} block has {o.size} forecast origins; use a "
                "shorter window or horizon, or longer blocks"
            )
    n = series.shape[1]
    z = np.column_stack([xs[i].transform(series[:, i]) for i in range(n)])

    def rows(o: np.ndarray, with_y: bool) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack([lag_windows(z[:, i], o, window) for i in range(n)])  # (N, K, W)
        if not with_y:
            return x, np.empty(0)
        y = targets(close, o, horizon, levels)
        yz = np.column_stack([ys[i].transform(y[:, i]) for i in range(n)])  # (K, N)
        return x.reshape(-1, window), yz.T.reshape(-1)

    x_tr, y_tr = rows(tr, True)
    x_va, y_va = rows(va, True)
    x_ev, _ = rows(ev, False)
    x_td = rows(trade, False)[0] if trade.size else np.empty((n, 0, window))
    return FoldData(x_tr, y_tr, x_va, y_va, tr, ev, x_ev, trade, x_td, xs, ys)
