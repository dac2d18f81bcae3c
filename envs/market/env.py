"""``StockTradingEnv``: trade one or many assets on daily bars, with honest timing and costs."""

from __future__ import annotations

import numbers
from typing import Any, TypedDict

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from qmml.envs.market.actions import finite_actions, level_indices
from qmml.envs.market.data import Market
from qmml.envs.market.execution import (
    NP,
    PY,
    ExecutionModel,
    fill_orders,
    limit_weights,
    mark_to_market,
)
from qmml.envs.market.features import DEFAULT_FEATURES, OBS_BOUND, FeatureTable, ObservationLayout
from qmml.envs.market.observation import WindowObservation
from qmml.envs.market.one_asset import OneAssetStep
from qmml.envs.market.rewards import RewardConfig, reward_step
from qmml.envs.market.sources import load_market
from qmml.envs.market.splits import decision_range, split_dates

__all__ = ["ACTION_MODES", "EpisodeHistory", "StockTradingEnv"]

ACTION_MODES = ("discrete", "continuous", "weights")


class EpisodeHistory(TypedDict):
    """What :meth:`StockTradingEnv.history` returns (a plain dict)."""

    t: np.ndarray  # (K+1,) bar indices, the first the episode's start
    equity: np.ndarray  # (K+1,) equity after each bar
    units: np.ndarray  # (K+1, N) units held after each bar
    trades: list[tuple[int, np.ndarray]]  # (fill bar, (N,) units traded)


class StockTradingEnv(WindowObservation, OneAssetStep, gym.Env[np.ndarray, Any]):
    """Trade daily bars of one or more assets, paying commission, slippage and borrow fees.

    ## Description
    Each step is one trading day. At the close of day t the agent sees a window of features
    up to and including day t, plus its current portfolio weights and cash, and chooses target
    weights. The order fills at day t+1's open (day t+1's close when the data has no opens,
    or per ``execution.fill``), the portfolio is marked at day t+1's close, and the reward is
    computed from that equity. Nothing of day t+1 is visible before the action.

    ## Action Space
    * ``"discrete"``: one position level per asset (``Discrete`` for one asset,
      ``MultiDiscrete`` for several). ``levels`` are fractions of ``max_leverage / N``:
      default ``(-1, 0, 1)`` (short / flat / long) when shorting is allowed, else ``(0, 1)``.
    * ``"continuous"``: ``Box(-1, 1, (N,))``; ``a`` maps to weight ``a * max_leverage`` with
      shorts, ``(a + 1) / 2 * max_leverage`` long-only; gross exposure above
      ``max_leverage`` is scaled down.
    * ``"weights"``: target weights themselves (for rule-based strategies and users).

    An asset is traded only when its target differs from the previous step's target (or every
    ``rebalance_every`` steps), like an order in a backtester; otherwise units are held.

    ## Observation Space
    ``Box(-50, 50, (window * N * F + N + 1,), float32)``: the feature window (see
    :mod:`qmml.envs.market.features`) then current weights per asset and the cash weight.
    :attr:`layout` (:class:`~envs.market.features.ObservationLayout`) unpacks it. Every
    observation is a new array.

    ## Rewards
    ``"log_return"`` (default), ``"differential_sharpe"`` or ``"risk_adjusted"``; see
    :mod:`qmml.envs.market.rewards`. ``info["equity"]`` always carries the money.

    ## Episode End
    Truncated after ``episode_length`` steps (a fixed number, or drawn from a
    ``(shortest, longest)`` range at each reset) or at the end of the period; terminated when
    equity reaches zero.

    ## Arguments
    market: a :class:`~envs.market.data.Market` or a source name for
    :func:`~envs.market.sources.load_market` (with ``tickers``); start/end: the tradable period
    (inclusive dates); split: ``"train"``, ``"val"`` or ``"test"`` of ``split_fractions``
    (instead of start/end); window; features; action_mode; levels; execution: an
    :class:`~envs.market.execution.ExecutionModel` or its keyword dict; reward, reward_scale,
    dsr_eta, risk_penalty; episode_length (None: the whole period); random_start (seeded
    via ``reset(seed=...)``); rebalance_every; render_mode (``"rgb_array"``).

    ## Version History
    * v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        market: Market | str = "sp500-ohlcv",
        *,
        tickers: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        split: str | None = None,
        split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
        window: int = 30,
        features: tuple[str, ...] = DEFAULT_FEATURES,
        action_mode: str = "discrete",
        levels: tuple[float, ...] | None = None,
        execution: ExecutionModel | dict[str, Any] | None = None,
        reward: str = "log_return",
        reward_scale: float = 1.0,
        dsr_eta: float = 0.01,
        risk_penalty: float = 1.0,
        episode_length: int | tuple[int, int] | None = None,
        random_start: bool = False,
        rebalance_every: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(market, str):
            market = load_market(market, tickers=tickers)
        elif tickers:
            market = market.select(tickers)
        self.market = market
        self.execution = (
            execution
            if isinstance(execution, ExecutionModel)
            else ExecutionModel(**(execution or {}))
        )
        self.reward_cfg = RewardConfig(reward, reward_scale, dsr_eta, risk_penalty=risk_penalty)
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode={action_mode!r}: choose from {', '.join(ACTION_MODES)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}: choose None or 'rgb_array'")
        window = _count("window", window)
        if rebalance_every is not None:
            rebalance_every = _count("rebalance_every", rebalance_every)
        self.action_mode, self.window, self.render_mode = action_mode, window, render_mode
        self.rebalance_every = rebalance_every
        self.table = FeatureTable.build(market, tuple(features))
        self.layout = ObservationLayout(window, market.n_assets, self.table.features)
        self.first_decision, self.last_bar = self._period(start, end, split, split_fractions)
        n_decisions = self.last_bar - self.first_decision
        episode_length = _episode_length(episode_length)
        lengths = (episode_length,) * 2 if isinstance(episode_length, int) else episode_length
        if lengths is not None and not 1 <= lengths[0] <= lengths[1] <= n_decisions:
            raise ValueError(
                f"episode_length={episode_length}: must be in [1, {n_decisions}] (the "
                "decisions available in the period), or a (shortest, longest) pair in it"
            )
        self.episode_length, self.random_start = episode_length, random_start
        self._setup_actions(levels)
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (self.layout.size,), np.float32)
        ex = self.execution
        self.fill_price: np.ndarray = (
            market.open if ex.fill == "next_open" and market.open is not None else market.close
        )
        self.fill_lag = 0 if ex.fill == "close" else 1  # bars from decision to fill
        self._dates64 = market.dates.to_numpy()
        self._date_list = list(self._dates64)  # datetime64 scalars, cheaper than indexing
        self._xp = PY if market.n_assets == 1 else NP
        if self._xp is PY:  # Python floats: several times faster than size-1 arrays
            self._fill_seq = self.fill_price[:, 0].tolist()
            self._close_seq = market.close[:, 0].tolist()
            self._setup_one_asset()
        self._t0 = self._t = self._t_end = -1  # no episode yet
        self._setup_observation()

    # -- construction -------------------------------------------------------------------------
    def _period(
        self,
        start: str | None,
        end: str | None,
        split: str | None,
        fractions: tuple[float, float, float],
    ) -> tuple[int, int]:
        m = self.market
        if split is not None:
            if start or end:
                raise ValueError("give either split or start/end, not both")
            periods = split_dates(m.dates, fractions)
            if split not in periods:
                raise ValueError(f"split={split!r}: choose 'train', 'val' or 'test'")
            start, end = periods[split]
        return decision_range(m.dates, self.table.first_valid, self.window, start, end, m.name)

    def _setup_actions(self, levels: tuple[float, ...] | None) -> None:
        ex, n = self.execution, self.market.n_assets
        if self.action_mode == "discrete":
            levels = (
                tuple(levels)
                if levels is not None
                else ((-1.0, 0.0, 1.0) if ex.allow_short else (0.0, 1.0))
            )
            if len(levels) < 2 or any(not -1 <= v <= 1 for v in levels):
                raise ValueError(f"levels={levels}: need >= 2 values in [-1, 1]")
            if min(levels) < 0 and not ex.allow_short:
                raise ValueError(
                    f"levels={levels} include shorts but the execution model has "
                    "allow_short=False; allow shorts or drop negative levels"
                )
            self.levels = levels
            self._level_w = np.asarray(levels) * ex.max_leverage / n
            self._level_list = self._level_w.tolist()
            self.action_space = (
                spaces.Discrete(len(levels)) if n == 1 else spaces.MultiDiscrete([len(levels)] * n)
            )
            return
        self._level_list = None
        if self.action_mode == "continuous":
            self.action_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        else:
            self.action_space = spaces.Box(ex.weight_low, ex.max_leverage, (n,), np.float64)

    def draw_length(self, rng: np.random.Generator) -> int:
        """Steps of the next episode: ``episode_length``, a draw from its (shortest, longest)
        range, or the whole period."""
        e = self.episode_length
        if e is None:
            return self.last_bar - self.first_decision
        if isinstance(e, int):
            return e
        return int(rng.integers(e[0], e[1] + 1))

    def targets(self, action: Any) -> Any:
        """Target weights of an action: a float for one asset, else a (1, N) array.

        Raises:
            ValueError: the action is not in the action space (or is NaN).
        """
        ex, n = self.execution, self.market.n_assets
        if self.action_mode == "discrete":
            idx = level_indices(action, len(self.levels), n, self.action_space)
            if self._xp is PY:
                assert self._level_list is not None  # set with the levels in discrete mode
                return self._level_list[idx[0]]
            return self._level_w[idx.reshape(1, -1)]
        a = finite_actions(action, n, self.action_space).reshape(1, -1)
        if self.action_mode == "continuous":
            a = np.clip(a, -1.0, 1.0)
            a = a * ex.max_leverage if ex.allow_short else (a + 1.0) * 0.5 * ex.max_leverage
        if self._xp is PY:
            return limit_weights(float(a[0, 0]), ex, PY)
        return limit_weights(a, ex, NP)

    # -- episode ------------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. ``options={"start": date or bar index}`` fixes its first day."""
        super().reset(seed=seed)
        length = self.draw_length(self.np_random)
        latest = self.last_bar - length
        if options and "start" in options:
            s = options["start"]
            t0 = _start_bar(self.market, s)
            if not self.first_decision <= t0 <= self.last_bar - 1:
                raise ValueError(
                    f"start {s!r} is outside the decisions of this period "
                    f"({self.market.dates[self.first_decision].date()}.."
                    f"{self.market.dates[self.last_bar - 1].date()})"
                )
            length = min(length, self.last_bar - t0)
        elif self.random_start:
            t0 = int(self.np_random.integers(self.first_decision, latest + 1))
        else:
            t0 = self.first_decision
        self._t0, self._t, self._t_end = int(t0), int(t0), int(t0) + length
        cash0 = float(self.execution.initial_cash)
        n = self.market.n_assets
        if self._xp is PY:
            self._cash, self._units, self._prev_w = cash0, 0.0, 0.0
            self._equity, self._peak = cash0, cash0
        else:
            self._cash, self._units = np.full(1, cash0), np.zeros((1, n))
            self._prev_w, self._equity, self._peak = (
                np.zeros((1, n)),
                np.full(1, cash0),
                np.full(1, cash0),
            )
        self._rstate = self.reward_cfg.initial_state()
        # (equity, units) after each bar: floats, or a float and an (N,) row
        self._hist = [(cash0, 0.0 if self._xp is PY else np.zeros(n))]
        self._trades = []  # (fill bar, units traded: a float or an (N,) array)
        obs = self._observe(self._t)
        if self._xp is PY and self._row_seq is None:
            self._set_row_seq()
        return obs, {"equity": cash0, "t": self._t, "date": self._dates64[self._t]}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._xp is PY:
            return self._step_one(action)  # one asset: the same kernel on floats, flat
        if not self._t0 <= self._t < self._t_end:
            raise RuntimeError("call reset() before step(), and again after an episode ends")
        ex, t = self.execution, self._t
        w = self.targets(action)
        k = t - self._t0
        force = self.rebalance_every is not None and k % self.rebalance_every == 0
        fi = t + self.fill_lag
        price, close = self.fill_price[fi], self.market.close[t + 1]
        old_units = self._units
        cash, units, cost, fills, _traded = fill_orders(
            self._cash, old_units, self._prev_w, w, price, force, ex, NP
        )
        cash, equity = mark_to_market(cash, units, close, ex, NP)
        peak = np.maximum(self._peak, equity)
        reward, self._rstate = reward_step(
            self.reward_cfg, self._equity, equity, peak, self._rstate, NP
        )
        self._cash, self._units, self._prev_w, self._peak = cash, units, w, peak
        self._equity = equity
        self._t = t = t + 1
        self._hist.append((equity[0], units[0].copy()))
        if fills[0]:
            self._trades.append((fi, (units - old_units).reshape(-1)))
        e = float(equity[0])
        info = {
            "equity": e,
            "cost": float(cost[0]),
            "fills": int(fills[0]),
            "t": t,
            "date": self._date_list[t],
        }
        obs = self._observe(t)
        if e > 0.0:
            return obs, float(reward[0]), False, t >= self._t_end, info
        self._t_end = t  # bankrupt: the episode is over; stepping on needs a reset
        return obs, float(reward[0]), True, False, info

    # -- inspection ---------------------------------------------------------------------------
    def history(self) -> EpisodeHistory:
        """This episode so far: bar indices, equity and units after each bar (first row: the
        start), and the fills as ``(bar index, units traded)``."""
        return {
            "t": np.arange(self._t0, self._t + 1),
            "equity": np.array([e for e, _ in self._hist], np.float64),
            "units": np.array([u for _, u in self._hist], np.float64).reshape(len(self._hist), -1),
            "trades": [(fi, np.atleast_1d(d).reshape(-1)) for fi, d in self._trades],
        }

    def render(self) -> np.ndarray | None:
        """An RGB frame of the episode so far (``render_mode="rgb_array"``), else None."""
        if self.render_mode != "rgb_array":
            return None
        from qmml.envs.market.render import episode_frame

        h = self.history()
        t = h["t"]
        close = self.market.close[t]
        weights = h["units"] * close / h["equity"][:, None]
        buys, sells = np.zeros(len(t), bool), np.zeros(len(t), bool)
        for fi, delta in h["trades"]:
            i = min(fi - self._t0, len(t) - 1)
            buys[i] |= delta[0] > 0
            sells[i] |= delta[0] < 0
        return episode_frame(
            self._dates64[t],
            close,
            h["equity"],
            weights,
            buys,
            sells,
            self.market.tickers,
            f"{self.market.name}  equity {h['equity'][-1]:,.0f}",
        )


def _count(name: str, value: Any) -> int:
    """A positive integer setting (Python or numpy int), else a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r}: must be a whole number >= 1")
    return int(value)


def _episode_length(value: Any) -> int | tuple[int, int] | None:
    """``episode_length`` as None, an int or a (shortest, longest) pair of ints."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (_count("episode_length[0]", value[0]), _count("episode_length[1]", value[1]))
    raise ValueError(
        f"episode_length={value!r}: give a whole number of steps, a (shortest, longest) pair "
        "of them, or None for the whole period"
    )


def _start_bar(market: Market, start: Any) -> int:
    """Bar index of a ``reset`` start option: a bar index (int) or a date."""
    if isinstance(start, numbers.Integral) and not isinstance(start, bool):
        return int(start)
    if isinstance(start, (numbers.Real, bool)):
        raise ValueError(f"start {start!r}: give a bar index (an int) or a date (YYYY-MM-DD)")
    return market.index_of(start, "left")
