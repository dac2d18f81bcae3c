"""The observation of :class:`~envs.market.env.StockTradingEnv`: day t's feature window, then
the portfolio weights and the cash weight (the layout of
:class:`~envs.market.features.ObservationLayout`).

The windows of the whole period are precomputed once into a float32 table when it fits in
``max_table_bytes`` (then each observation is one row copy), else assembled per step from the
per-day feature rows; both give the same values. Every observation is a new array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qmml.envs.market.data import Market
from qmml.envs.market.execution import PY
from qmml.envs.market.features import OBS_BOUND, FeatureTable, ObservationLayout

__all__ = ["WindowObservation"]


class WindowObservation:
    """Mixin: observation building for :class:`~envs.market.env.StockTradingEnv`.

    The attributes below are set by the environment (its data, period and portfolio state);
    :meth:`_setup_observation` adds the precomputed plumbing.
    """

    market: Market
    table: FeatureTable
    layout: ObservationLayout
    first_decision: int
    last_bar: int
    _xp: Any
    _cash: Any
    _units: Any
    _equity: Any
    _close_seq: list[float]
    _win_rows: np.ndarray | None

    max_table_bytes = 32 * 2**20  # precompute every window of the period up to this size

    def _setup_observation(self) -> None:
        """Precompute the observation plumbing: the per-day features as (T, N*F) rows, and
        whether rel_close can ever reach the clip bound (if not, clipping is skipped: same
        values, less time)."""
        lay = self.layout
        self._w, self._ws, self._ps = lay.window, lay.window_size, lay.portfolio_size
        self._flat_bars = self.table.bars.reshape(self.market.n_days, -1)
        self._rel = (
            self.table.features.index("rel_close") if "rel_close" in self.table.features else None
        )
        logc = self.table.log_close
        self._rel_clip = bool(np.ptp(logc, axis=0).max() >= OBS_BOUND)

    def _window_table(self) -> np.ndarray | None:
        """Every observation of the period as float32 rows, the portfolio part zero (built
        once, on the first reset)."""
        if not hasattr(self, "_win_rows"):
            lo, hi = self.first_decision, self.last_bar
            self._win_rows = None
            if (hi - lo + 1) * (self._ws + self._ps) * 4 <= self.max_table_bytes:
                self._win_rows = np.zeros((hi - lo + 1, self._ws + self._ps), np.float32)
                windows = self.table.windows_range(lo, hi, self._w)
                self._win_rows[:, : self._ws] = windows.reshape(hi - lo + 1, -1)
        return self._win_rows

    def _window_obs(self, t: int) -> np.ndarray:
        """A new observation array holding day t's feature window (portfolio part unset)."""
        rows = self._window_table()
        if rows is not None:  # same values as _fill_window, one row copy instead of four steps
            return rows[t - self.first_decision].copy()  # a new array every step: no aliasing
        obs = np.empty(self._ws + self._ps, np.float32)
        self._fill_window(obs, t)
        return obs

    def _observe(self, t: int) -> np.ndarray:
        obs = self._window_obs(t)
        if self._xp is PY:
            e = self._equity
            obs[-2] = min(max(self._units * self._close_seq[t] / e, -OBS_BOUND), OBS_BOUND)
            obs[-1] = min(max(self._cash / e, -OBS_BOUND), OBS_BOUND)
        elif self._equity[0] != 0:
            self._write_weights(obs, t)
        else:  # equity exactly 0 ends the episode: its last weights are ±inf (clipped) or nan
            with np.errstate(divide="ignore", invalid="ignore"):
                self._write_weights(obs, t)
        return obs

    def _write_weights(self, obs: np.ndarray, t: int) -> None:
        e = self._equity[0]
        obs[self._ws : -1] = np.clip(
            self._units[0] * self.market.close[t] / e, -OBS_BOUND, OBS_BOUND
        )
        obs[-1] = np.clip(self._cash[0] / e, -OBS_BOUND, OBS_BOUND)

    def _fill_window(self, obs: np.ndarray, t: int) -> None:
        lo = t - self._w + 1
        obs[: self._ws] = self._flat_bars[lo : t + 1].ravel()
        tab, k = self.table, self._rel
        if k is not None:
            rel = tab.log_close[lo : t + 1] - tab.log_close[t]
            if self._rel_clip:
                rel = np.clip(rel, -OBS_BOUND, OBS_BOUND)
            obs[k : self._ws : len(tab.features)] = rel.ravel()  # channel k of every (day, asset)
