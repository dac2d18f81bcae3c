"""``MarketVecEnv``: N market environments stepped together as array operations (an SB3
``VecEnv``), for fast training. Environment i behaves exactly like a
:class:`~envs.market.env.StockTradingEnv` with the same arguments reset with seed
``seed + i`` (a test checks this step by step); it auto-resets like every SB3 VecEnv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs

from qmml.envs.market.actions import finite_actions, level_indices
from qmml.envs.market.data import DataError, Market
from qmml.envs.market.env import StockTradingEnv
from qmml.envs.market.execution import NP, fill_orders, limit_weights, mark_to_market
from qmml.envs.market.features import OBS_BOUND
from qmml.envs.market.rewards import reward_step
from qmml.envs.market.sources import load_market
from qmml.envs.market.vec_infos import StepInfos
from qmml.envs.market.vec_kernels import observe_windows

__all__ = ["FlatDiscrete", "MarketVecEnv", "flat_to_multi"]


class MarketVecEnv(VecEnv):
    """``n_envs`` copies of a market environment in lock-step, stepped with numpy.

    Args:
        n_envs: number of environments.
        market: one market (or source name) shared by all, or a list of markets with the same
            number of days and assets; environment i trades ``markets[i % len(markets)]``.
        seed: base seed of the episode starts (environment i uses ``seed + i``).
        **env_kwargs: the arguments of :class:`StockTradingEnv` (window, action_mode,
            execution, reward, episode_length, random_start, start/end or split, ...).

    ``step`` returns a fresh observation array every step (SB3's on-policy rollout still
    holds the previous step's array while it steps, so a reused buffer would overwrite it)
    and the infos as a :class:`~envs.market.vec_infos.StepInfos`, a sequence of the usual
    dicts that makes the empty ones only when they are read.
    ``step_arrays(actions)`` is the raw form without info dicts; it returns observations,
    rewards, terminated, truncated and equity as arrays (before auto-reset).
    """

    def __init__(
        self,
        n_envs: int,
        market: Market | str | Sequence[Market] = "sp500-ohlcv",
        *,
        seed: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs={n_envs}: must be >= 1")
        if isinstance(market, str):
            market = load_market(market, tickers=env_kwargs.pop("tickers", None))
        markets = [market] if isinstance(market, Market) else list(market)
        if not markets:
            raise DataError("an empty list of markets; give at least one")
        shapes = {(m.n_days, m.n_assets, m.has_open) for m in markets}
        if len(shapes) > 1:
            raise DataError(
                f"markets differ in (days, assets, has_open): {sorted(shapes)}; "
                "give markets of the same shape"
            )
        periods = [env_kwargs.get(k) is not None for k in ("start", "end", "split")]
        if any(periods) and any(not m.dates.equals(markets[0].dates) for m in markets[1:]):
            # start/end are dates, but the environments share bar indices
            raise DataError(
                "markets with different dates cannot share start/end/split: give markets "
                "with the same dates (e.g. one Market with several tickers), or no period"
            )
        envs = [StockTradingEnv(m, **env_kwargs) for m in markets]
        self.template = tpl = envs[0]
        super().__init__(n_envs, tpl.observation_space, tpl.action_space)
        self.layout, self.execution, self.reward_cfg = tpl.layout, tpl.execution, tpl.reward_cfg
        self.first_decision = max(e.first_decision for e in envs)
        self.last_bar = tpl.last_bar

        # the markets' days stacked as rows (M * T, ...), one copy however many environments:
        # env i's day t is row _day_base[i] + t, so a step reads its prices with one take and
        # builds its windows in one kernel call (each window stays inside its own market:
        # first_decision >= window - 1 past every warm-up). Building windows from these small
        # rows beats copying rows of a precomputed (days, W * N * F) window table, which is
        # W times larger and falls out of the caches (about 1.3x the steps/s at n = 1024).
        def rows(arrays: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(arrays).reshape(len(arrays) * tpl.market.n_days, -1)

        self._bar_rows = rows([e.table.bars for e in envs])  # (M * T, N * F) float32
        self._logc_rows = rows([e.table.log_close for e in envs])
        self._fill_rows = rows([e.fill_price for e in envs])
        self._close_rows = rows([e.market.close for e in envs])
        self._day_base = np.arange(n_envs) % len(markets) * tpl.market.n_days
        features = tpl.table.features
        self._rel = features.index("rel_close") if "rel_close" in features else -1
        n, a = n_envs, tpl.market.n_assets
        self._t = np.zeros(n, np.intp)
        self._t0 = np.zeros(n, np.intp)
        self._t_end = np.zeros(n, np.intp)
        self._cash, self._units = np.zeros(n), np.zeros((n, a))
        self._prev_w, self._equity, self._peak = np.zeros((n, a)), np.zeros(n), np.zeros(n)
        self._rstate: tuple[Any, Any, Any] = (np.zeros(n), np.zeros(n), np.zeros(n))
        self._rngs = [np.random.default_rng(None if seed is None else seed + i) for i in range(n)]
        self._actions: np.ndarray | None = None
        self._running = False  # until reset()
        self._ended = False  # an episode ended and its environment was not reset yet

    # -- episodes -----------------------------------------------------------------------------
    def _reset_envs(self, idx: np.ndarray) -> None:
        tpl, rngs, options = self.template, self._rngs, self._options
        first, last = self.first_decision, self.last_bar
        starts: list[int | np.integer[Any]] = []
        ends: list[int | np.integer[Any]] = []
        for i in idx.tolist():
            opt = options[i] if options else {}
            length = tpl.draw_length(rngs[i])  # same draws, same order as the single env
            t0: int | np.integer[Any] = first
            n_steps = length
            if "start" in opt:
                s = opt["start"]
                t0 = s if isinstance(s, (int, np.integer)) else tpl.market.index_of(s, "left")
                if not first <= t0 <= last - 1:
                    raise ValueError(f"start {s!r} is outside the decisions of this period")
                n_steps = min(length, last - t0)
            elif tpl.random_start:
                t0 = int(rngs[i].integers(first, last - length + 1))
            starts.append(t0)
            ends.append(t0 + n_steps)
        self._t0[idx] = self._t[idx] = starts
        self._t_end[idx] = ends
        cash0 = float(self.execution.initial_cash)
        self._cash[idx], self._units[idx], self._prev_w[idx] = cash0, 0.0, 0.0
        self._equity[idx], self._peak[idx] = cash0, cash0
        init = self.reward_cfg.initial_state()
        for arr, v in zip(self._rstate, init, strict=True):
            arr[idx] = v

    def reset(self) -> np.ndarray:
        for i, s in enumerate(self._seeds):
            if s is not None:
                self._rngs[i] = np.random.default_rng(s)
        self._reset_seeds()
        self._reset_envs(np.arange(self.num_envs))
        self._reset_options()
        self._running, self._ended = True, False
        return self._observe()

    def _observe(
        self, idx: np.ndarray | None = None, close: np.ndarray | None = None
    ) -> np.ndarray:
        """A fresh (n, D) float32 array: the observations of environments ``idx`` (all when
        None) at their current day; ``close`` (n, N) is that day's closes, if the caller has
        them gathered already."""
        t, units, cash, equity = self._t, self._units, self._cash, self._equity
        day_base = self._day_base
        if idx is not None:
            t, units, cash, equity = t[idx], units[idx], cash[idx], equity[idx]
            day_base = day_base[idx]
        days = day_base + t
        if close is None:
            close = self._close_rows.take(days, axis=0)
        obs = np.empty((len(days), self.layout.size), np.float32)
        window, rel = self.layout.window, self._rel
        bars, logc = self._bar_rows, self._logc_rows
        observe_windows(obs, bars, logc, days, window, rel, units, close, cash, equity, OBS_BOUND)
        return obs

    # -- stepping -----------------------------------------------------------------------------
    def targets(self, actions: np.ndarray) -> np.ndarray:
        """Target weights (n, N) of a batch of actions (same mapping as the single env).

        Raises:
            ValueError: an action outside the action space (or NaN).
        """
        tpl, ex = self.template, self.execution
        size = self.num_envs * tpl.market.n_assets
        if tpl.action_mode == "discrete":
            idx = level_indices(actions, len(tpl.levels), size, tpl.action_space)
            return tpl._level_w[idx.reshape(self.num_envs, -1)]
        a = finite_actions(actions, size, tpl.action_space).reshape(self.num_envs, -1)
        if tpl.action_mode == "continuous":
            a = np.clip(a, -1.0, 1.0)
            a = a * ex.max_leverage if ex.allow_short else (a + 1.0) * 0.5 * ex.max_leverage
        return limit_weights(a, ex, NP)

    def step_arrays(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every environment (no auto-reset, no infos).

        Returns:
            observations (n, D) float32, rewards (n,) float64, terminated (n,), truncated
            (n,), equity (n,).
        """
        obs, reward, terminated, truncated = self._step(actions)
        return obs, reward, terminated, truncated, self._equity.copy()

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ex, tpl = self.execution, self.template
        if not self._running or self._ended:
            raise RuntimeError(
                "call reset() before step_arrays(), and again after an episode ends "
                "(step() resets finished environments itself)"
            )
        w = self.targets(actions)
        t = self._t
        force: Any = False
        if tpl.rebalance_every is not None:
            force = ((t - self._t0) % tpl.rebalance_every == 0)[:, None]
        day = self._day_base + t
        price = self._fill_rows.take(day + tpl.fill_lag if tpl.fill_lag else day, axis=0)
        cash, units, _, _, _ = fill_orders(
            self._cash, self._units, self._prev_w, w, price, force, ex, NP
        )
        close = self._close_rows.take(day + 1, axis=0)  # also the next observation's closes
        cash, equity = mark_to_market(cash, units, close, ex, NP)
        peak = np.maximum(self._peak, equity)
        reward, self._rstate = reward_step(
            self.reward_cfg, self._equity, equity, peak, self._rstate, NP
        )
        self._cash, self._units, self._prev_w = cash, units, w
        self._equity, self._peak = equity, peak
        self._t = t = t + 1
        terminated = equity <= 0.0
        ended = terminated | (t >= self._t_end)
        self._ended = bool(ended.any())
        truncated = ended ^ terminated  # (t >= t_end) & ~terminated
        return self._observe(close=close), reward, terminated, truncated

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    # SB3 types infos as list[dict]; StepInfos is the Sequence that stands in for it
    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, StepInfos]:  # type: ignore[override]
        assert self._actions is not None  # VecEnv.step calls step_async first
        obs, reward, terminated, truncated = self._step(self._actions)
        done = terminated | truncated
        # infos: only the finished environments get a dict now; the others on first read
        done_infos: dict[int, dict[str, Any]] = {}
        if self._ended:
            idx = np.flatnonzero(done)
            # one gather for all terminal observations: each info gets its own row (a view)
            ends = zip(
                idx.tolist(),
                obs[idx],
                self._equity[idx].tolist(),
                truncated[idx].tolist(),
                strict=True,
            )
            for i, last_obs, equity, trunc in ends:
                done_infos[i] = {
                    "terminal_observation": last_obs,
                    "equity": equity,
                    "TimeLimit.truncated": trunc,
                }
            self._reset_envs(idx)
            self._ended = False
            obs[idx] = self._observe(idx)
        return obs, reward.astype(np.float32), done, StepInfos(self.num_envs, done_infos)

    # -- VecEnv plumbing ----------------------------------------------------------------------
    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.template, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(
            f"MarketVecEnv shares one configuration; cannot set {attr_name!r} "
            "per environment (build a new MarketVecEnv instead)"
        )

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        fn = getattr(self.template, method_name)
        return [fn(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    @property
    def equity(self) -> np.ndarray:
        """Current equity of every environment (n,)."""
        return self._equity.copy()


class FlatDiscrete(VecEnvWrapper):
    """``MultiDiscrete(nvec)`` actions as one ``Discrete(prod(nvec))`` (DQN on a portfolio)."""

    def __init__(self, venv: VecEnv) -> None:
        space = venv.action_space
        if not isinstance(space, spaces.MultiDiscrete):
            raise TypeError(f"FlatDiscrete needs a MultiDiscrete action space, got {space}")
        self.nvec = np.asarray(space.nvec)
        super().__init__(venv, action_space=spaces.Discrete(int(np.prod(self.nvec))))

    def step_async(self, actions: np.ndarray) -> None:
        flat = np.asarray(actions, dtype=np.intp).reshape(-1)
        self.venv.step_async(np.stack(np.unravel_index(flat, self.nvec), axis=1))

    def reset(self) -> VecEnvObs:
        return self.venv.reset()

    def step_wait(self) -> Any:
        return self.venv.step_wait()


def flat_to_multi(action: Any, nvec: np.ndarray) -> np.ndarray:
    """One flat discrete action as the MultiDiscrete action it stands for."""
    return np.asarray(np.unravel_index(int(np.asarray(action).reshape(-1)[0]), nvec))
