"""The single-asset step of :class:`~envs.market.env.StockTradingEnv`, on Python floats.

One asset is the common case (and the one ``gym.make`` users time), so its step is written
out flat here: the formulas of :func:`~envs.market.execution.fill_orders`,
:func:`~envs.market.execution.mark_to_market` and the ``log_return`` reward of
:func:`~envs.market.rewards.reward_step`, term for term and in the same order, with the
``PY`` backend's ``max``/``clip`` semantics (``a if a > b else b``), so every result is the
same IEEE double as the general path (tests compare the env with the fast backtester and
with :class:`~envs.market.vec_env.MarketVecEnv`, which run the array kernel). What it saves
is interpreter work: no backend dispatch, no per-step function calls, constants hoisted,
the observation one row copy of a precomputed table, and the fill of an unchanged target
skipped (with finite prices and units its every term is an exact 0.0, and ``x - 0.0 == x``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qmml.envs.market.execution import PY, ExecutionModel
from qmml.envs.market.features import OBS_BOUND
from qmml.envs.market.rewards import _TINY, RewardConfig, reward_step

__all__ = ["OneAssetStep"]

_log = math.log
if OBS_BOUND != 50.0:  # _step_one writes the bound as a literal: a constant load, not a global
    raise RuntimeError("OBS_BOUND changed: update the 50.0 literals in _step_one")
MAX_ROW_LIST = 100_000  # rows of the window table kept as a list of row views (~100 B each)


def _ieee_div(a: float, b: float) -> float:
    """``a / b`` with IEEE semantics (±inf, nan) where Python would raise on ``b == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


class OneAssetStep:
    """Mixin: ``_step_one`` for :class:`~envs.market.env.StockTradingEnv` with one asset.

    The attributes below are set by the environment (its portfolio state as floats, its
    precomputed price and observation tables); :meth:`_setup_one_asset` adds the constants.
    """

    execution: ExecutionModel
    reward_cfg: RewardConfig
    rebalance_every: int | None
    fill_lag: int
    first_decision: int
    _t0: int
    _t: int
    _t_end: int
    _cash: Any
    _units: Any
    _prev_w: Any
    _equity: Any
    _peak: Any
    _rstate: tuple[Any, Any, Any]
    _hist: list[tuple[Any, Any]]
    _trades: list[tuple[int, Any]]
    _fill_seq: list[float]
    _close_seq: list[float]
    _date_list: list[np.datetime64]
    _level_list: list[float] | None
    _win_rows: np.ndarray | None
    _row_seq: list[np.ndarray | None] | None
    _k1: tuple[Any, ...]

    def targets(self, action: Any) -> Any:  # pragma: no cover - defined by the environment
        raise NotImplementedError

    def _window_obs(self, t: int) -> np.ndarray:  # pragma: no cover - idem
        raise NotImplementedError

    def _setup_one_asset(self) -> None:
        """Hoist the per-step constants of the execution model and the reward into one tuple
        (one attribute load and an unpack per step instead of a dozen loads)."""
        ex = self.execution
        c, s = ex.commission, ex.slippage
        self._k1 = (
            self._fill_seq,
            self._close_seq,
            self._date_list,
            self.fill_lag,
            s,
            c,
            (1.0 + s) * (1.0 + c),  # the same product fill_orders forms
            ex.units == "whole",
            ex.borrow_daily if ex.borrow_bps else 0.0,
            self.reward_cfg.kind == "log_return",
            self.reward_cfg.scale,
            self.rebalance_every,
        )
        self._row_seq = None  # set on the first reset, from the window table

    def _set_row_seq(self) -> None:
        """Index the window table by bar through a list of its rows: taking a row of a list
        is several times cheaper than of a 2-D array (the array itself when very long). The
        list starts with ``first_decision`` Nones so that ``rows[t]`` is bar t's row."""
        rows = self._win_rows
        if rows is None or len(rows) > MAX_ROW_LIST:
            self._row_seq = None
        else:
            self._row_seq = [None] * self.first_decision + list(rows)

    def _step_one(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        t = self._t
        if t >= self._t_end:  # also before the first reset: both are -1 then
            raise RuntimeError("call reset() before step(), and again after an episode ends")
        fill_seq, close_seq, dates, lag, s, c, size_div, whole, borrow, log_r, scale, every = (
            self._k1
        )
        levels = self._level_list
        if levels is not None:
            try:  # ints and integer scalars index the levels; targets() checks anything else
                if action < 0:  # a list would wrap a negative index to the last level
                    raise IndexError
                w = levels[action]
            except (TypeError, IndexError, ValueError):
                w = self.targets(action)  # raises for an action outside the action space
        else:
            w = self.targets(action)
        cash, units = self._cash, self._units
        fi = t + lag
        if w != self._prev_w or (every is not None and (t - self._t0) % every == 0):
            # fill_orders; an unchanged target trades nothing (every term is 0.0)
            price = fill_seq[fi]
            held = units * price
            equity = cash + held
            avail = equity
            if units != 0 and w * units <= 0:  # closing or reversing pays its exit first
                sign = 1.0 if units > 0 else (-1.0 if units < 0 else 0.0)
                avail = equity - abs(held) * (s + c * (1.0 - s * sign))
            new_units = w * avail / (price * size_div)
            if whole:
                new_units = float(math.trunc(new_units))
            delta = new_units - units
            sign = 1.0 if delta > 0 else (-1.0 if delta < 0 else 0.0)
            fill_price = price * (1.0 + s * sign)
            commission = c * abs(delta) * fill_price
            cash = cash - delta * fill_price - commission
            cost = abs(delta) * price * s + commission
            units = new_units
            if delta != 0:
                fills = 1
                self._trades.append((fi, delta))
            else:
                fills = 0
        else:
            cost, fills = 0.0, 0
        t += 1
        close = close_seq[t]
        # mark_to_market
        if borrow:
            short = -units if -units > 0.0 else 0.0
            cash = cash - borrow * (short * close)
        equity = cash + units * close
        peak = self._peak
        if not peak > equity:
            peak = equity
        if log_r:
            reward = scale * _log((equity if equity > _TINY else _TINY) / self._equity)
        else:
            reward, self._rstate = reward_step(
                self.reward_cfg, self._equity, equity, peak, self._rstate, PY
            )
        self._cash, self._units, self._prev_w, self._peak = cash, units, w, peak
        self._equity = equity
        self._t = t
        self._hist.append((equity, units))
        # the observation: a fresh copy of today's window row, then the portfolio weights
        rows = self._row_seq
        if rows is not None:
            row = rows[t]
            assert row is not None  # only the bars before first_decision are None
            obs = row.copy()
        else:
            obs = self._window_obs(t)
        held = units * close
        try:
            x, y = held / equity, cash / equity
        except ZeroDivisionError:  # equity exactly 0 (the episode ends): numpy's ±inf / nan
            x, y = _ieee_div(held, equity), _ieee_div(cash, equity)
        x = -50.0 if -50.0 > x else x  # min(max(x, lo), hi) as PY.clip, NaN included
        obs[-2] = 50.0 if 50.0 < x else x
        y = -50.0 if -50.0 > y else y
        obs[-1] = 50.0 if 50.0 < y else y
        info = {"equity": equity, "cost": cost, "fills": fills, "t": t, "date": dates[t]}
        if equity > 0.0:
            return obs, reward, False, t >= self._t_end, info
        self._t_end = t  # bankrupt: the episode is over; stepping on needs a reset
        return obs, reward, True, False, info
