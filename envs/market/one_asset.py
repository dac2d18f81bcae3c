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
from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.market.execution import PY, ExecutionModel
from envs.market.features import OBS_BOUND
from envs.market.rewards import _TINY, RewardConfig, reward_step

__all__ = ["OneAssetStep"]

_LO, _HI = -OBS_BOUND, OBS_BOUND
_log = math.log
MAX_ROW_LIST = 100_000  # rows of the window table kept as a list of row views (~100 B each)


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
    _row_seq: Sequence[np.ndarray] | None
    _ws: int
    _ps: int

    def targets(self, action: Any) -> Any:  # pragma: no cover - defined by the environment
        raise NotImplementedError

    def _fill_window(self, obs: np.ndarray, t: int) -> None:  # pragma: no cover - idem
        raise NotImplementedError

    def _setup_one_asset(self) -> None:
        """Hoist the per-step constants of the execution model and the reward."""
        ex = self.execution
        c, s = ex.commission, ex.slippage
        self._c1, self._s1 = c, s
        self._size_div = (1.0 + s) * (1.0 + c)  # the same product fill_orders forms
        self._whole = ex.units == "whole"
        self._borrow = ex.borrow_daily if ex.borrow_bps else 0.0
        self._log_reward = self.reward_cfg.kind == "log_return"
        self._scale = self.reward_cfg.scale
        self._row_seq = None  # set on the first reset, from the window table

    def _set_row_seq(self) -> None:
        """Index the window table through a list of its rows: taking a row of a list is
        several times cheaper than of a 2-D array (the array itself when very long)."""
        rows = self._win_rows
        self._row_seq = rows if rows is None or len(rows) > MAX_ROW_LIST else list(rows)

    def _step_one(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        t = self._t
        if not self._t0 <= t < self._t_end:
            raise RuntimeError("call reset() before step(), and again after an episode ends")
        levels = self._level_list
        if levels is not None:
            try:  # ints and integer scalars index the levels as targets() would
                w = levels[action]
            except TypeError:
                w = self.targets(action)
        else:
            w = self.targets(action)
        every = self.rebalance_every
        change = w != self._prev_w or (every is not None and (t - self._t0) % every == 0)
        cash, units = self._cash, self._units
        fi = t + self.fill_lag
        t = t + 1
        close = self._close_seq[t]
        if change:  # fill_orders; an unchanged target trades nothing (every term is 0.0)
            price = self._fill_seq[fi]
            s, c = self._s1, self._c1
            held = units * price
            equity = cash + held
            avail = equity
            if units != 0 and w * units <= 0:  # closing or reversing pays its exit first
                sign = 1.0 if units > 0 else (-1.0 if units < 0 else 0.0)
                avail = equity - abs(held) * (s + c * (1.0 - s * sign))
            new_units = w * avail / (price * self._size_div)
            if self._whole:
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
        # mark_to_market
        if self._borrow:
            short = -units if -units > 0.0 else 0.0
            cash = cash - self._borrow * (short * close)
        equity = cash + units * close
        peak = self._peak
        if not peak > equity:
            peak = equity
        e_old = self._equity
        if self._log_reward:
            reward = self._scale * _log((equity if equity > _TINY else _TINY) / e_old)
        else:
            reward, self._rstate = reward_step(
                self.reward_cfg, e_old, equity, peak, self._rstate, PY
            )
        self._cash, self._units, self._prev_w, self._peak = cash, units, w, peak
        self._equity, self._t = equity, t
        self._hist.append((equity, units))
        # the observation: a fresh copy of today's window row, then the portfolio weights
        rows = self._row_seq
        if rows is not None:
            obs = rows[t - self.first_decision].copy()
        else:
            obs = np.empty(self._ws + self._ps, np.float32)
            self._fill_window(obs, t)
        x = units * close / equity
        x = _LO if _LO > x else x  # min(max(x, lo), hi) as PY.clip, NaN included
        obs[-2] = _HI if _HI < x else x
        x = cash / equity
        x = _LO if _LO > x else x
        obs[-1] = _HI if _HI < x else x
        info = {"equity": equity, "cost": cost, "fills": fills, "t": t, "date": self._date_list[t]}
        return obs, reward, equity <= 0.0, t >= self._t_end and equity > 0.0, info
