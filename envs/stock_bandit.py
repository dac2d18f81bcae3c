"""Stock picking as a k-armed bandit: each arm is a stock of real daily data.

At the close of day t the agent picks one stock and holds it until the close of day t+1,
earning that stock's close-to-close return. Switching stocks sells one and buys another, each
side costing ``cost_bps`` basis points of wealth; the first purchase costs one side.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

__all__ = ["StockBanditBatch", "StockPickingEnv", "costs_and_wealth", "kept_after", "net_returns"]


def kept_after(sides: np.ndarray | float, cost_bps: float) -> np.ndarray | float:
    """The share of wealth left after paying ``sides`` trades of ``cost_bps`` each."""
    return 1.0 - cost_bps / 1e4 * sides


def net_returns(
    gross: np.ndarray, actions: np.ndarray, prev: np.ndarray, cost_bps: float
) -> np.ndarray:
    """Returns after costs: the one cost formula of stock picking (rewards and wealth alike).

    Switching stocks sells one and buys another (two sides); keeping the pick costs nothing;
    the first purchase (``prev < 0``) costs one side.

    Args:
        gross: close-to-close returns of the picked stocks (any shape).
        actions: the picks, same shape as ``gross``.
        prev: the picks of the day before (-1 before the first pick), same shape.
        cost_bps: cost per side in basis points.
    """
    sides = np.where(prev < 0, 1.0, 2.0 * (actions != prev))
    return (1.0 + gross) * kept_after(sides, cost_bps) - 1.0


def costs_and_wealth(
    returns: np.ndarray, actions: np.ndarray, cost_bps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Net daily returns and the wealth path of a pick sequence, vectorised over runs.

    Args:
        returns: (T, k) close-to-close returns; row t is the return from close t to t+1.
        actions: (T, n_runs) stock picked at close t.
        cost_bps: cost per side in basis points.

    Returns:
        net returns (T, n_runs) and wealth (T, n_runs) after each day, starting from 1.
    """
    gross = np.take_along_axis(returns, actions.astype(np.intp), axis=1)
    prev = np.full(actions.shape, -1, dtype=np.int64)  # the first day buys one stock
    prev[1:] = actions[:-1]
    net = net_returns(gross, actions, prev, cost_bps)
    return net, np.cumprod(1.0 + net, axis=0)


class StockBanditBatch:
    """``n_runs`` stock pickers stepped together over the same price history.

    Same interface as :class:`envs.bandit.BanditBatch` (``step``, ``optimal_actions``,
    ``n_runs``, ``k``), so every bandit agent runs on it unchanged. Rewards are net daily
    returns in percent (so agent parameters such as UCB's ``c`` keep a sensible scale).
    """

    def __init__(self, returns: np.ndarray, n_runs: int, *, cost_bps: float = 5.0):
        if returns.ndim != 2 or returns.shape[1] < 2:
            raise ValueError(f"returns must be (days, stocks>=2), got shape {returns.shape}")
        self.returns = np.asarray(returns, dtype=np.float64)
        self.n_runs = int(n_runs)
        self.k = self.returns.shape[1]
        self.cost_bps = float(cost_bps)
        self.t = 0
        self._prev = np.full(self.n_runs, -1)

    def step(self, actions: np.ndarray) -> np.ndarray:
        """Hold the picked stocks for one day; net return in percent per run."""
        if self.t >= len(self.returns):
            raise IndexError("no more days in the price history")
        net = net_returns(self.returns[self.t, actions], actions, self._prev, self.cost_bps)
        self._prev = np.asarray(actions).copy()
        self.t += 1
        return 100.0 * net

    def optimal_actions(self) -> np.ndarray:
        """The best stock of the coming day (hindsight: used only to score, never to act)."""
        return np.full(self.n_runs, int(np.argmax(self.returns[self.t])))


def _check_closes(closes: pd.DataFrame) -> None:
    """Refuse a table that is not one column of closes per stock: one asset's bars (Open,
    High, Low, Close, Volume) would otherwise be picked as five "stocks", a volume as a price.

    Raises:
        ValueError: a column named like a bar field, naming it and the fix.
    """
    from qmml.envs.market.data import bar_columns

    bars = bar_columns(closes.columns)
    if bars:
        raise ValueError(
            f"closes has column(s) {', '.join(bars)}: one asset's daily bars, not one column "
            "of closes per stock; pass a table of closes (e.g. "
            "load_market('my.csv').closes() for a long file of several tickers, or one "
            "Close column per ticker)"
        )


class StockPickingEnv(gym.Env[int | np.int64, int | np.int64]):
    """Pick one stock each day from real daily closes.

    ## Description
    A non-stationary k-armed bandit on market data (the lecture study "bandits trade stocks").
    At the close of day t the agent chooses a stock; it holds it until the close of day t+1.

    ## Action Space
    `Discrete(k)`: the index of the stock to hold for the next day (column order of `closes`).

    ## Observation Space
    `Discrete(k + 1)`: the stock currently held (k before the first pick). It carries no
    information about future prices.

    ## Rewards
    The net return of the day in percent: close-to-close return of the held stock, less
    `cost_bps` per side when the pick changes (one side for the first purchase).

    ## Episode End
    Truncated after the last day of the price history (len(closes) - 1 steps).

    ## Arguments
    - `closes`: DataFrame of daily closes, one column per stock (a column named like a bar
      field, `Open`/`High`/`Low`/`Close`/`Adj Close`/`Volume`, is refused: that is one
      asset's bars, not stocks) (e.g. from
      `envs.market.sources.load_market("stocks20").closes()`); default: the bundled 20
      stocks, 2015–2022.
    - `cost_bps`: cost per side in basis points (default 5).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    # ``np.int64`` is in the types because that is what gymnasium's ``Discrete`` spaces hold
    action_space: spaces.Discrete
    observation_space: spaces.Discrete

    def __init__(
        self,
        closes: pd.DataFrame | None = None,
        cost_bps: float = 5.0,
        render_mode: str | None = None,
    ):
        if closes is None:
            from qmml.envs.market.sources import load_market

            closes = load_market("stocks20", start="2015-01-01").closes()
        if cost_bps < 0:
            raise ValueError(f"cost_bps must be >= 0, got {cost_bps}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        _check_closes(closes)
        self.tickers = [str(c) for c in closes.columns]
        self.dates = closes.index
        prices = closes.to_numpy(dtype=np.float64)
        self.returns = prices[1:] / prices[:-1] - 1.0
        self.cost_bps = float(cost_bps)
        self.render_mode = render_mode
        k = len(self.tickers)
        self.action_space = spaces.Discrete(k)
        self.observation_space = spaces.Discrete(k + 1)
        self._batch = StockBanditBatch(self.returns, 1, cost_bps=cost_bps)
        self._wealth = 1.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int | np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self._batch = StockBanditBatch(self.returns, 1, cost_bps=self.cost_bps)
        self._wealth = 1.0
        return self.action_space.n, {"date": str(self.dates[0].date()), "wealth": 1.0}

    def step(self, action: int | np.int64) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in [0, {self.action_space.n}), got {action!r}")
        t = self._batch.t
        reward = float(self._batch.step(np.array([int(action)]))[0])
        self._wealth *= 1.0 + reward / 100.0
        truncated = self._batch.t >= len(self.returns)
        info = {
            "date": str(self.dates[t + 1].date()),
            "wealth": self._wealth,
            "ticker": self.tickers[int(action)],
        }
        return int(action), reward, False, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        t = self._batch.t
        held = self._batch._prev[0]
        name = self.tickers[held] if held >= 0 else "cash"
        return f"{self.dates[t].date()}  holding {name:<6} wealth {self._wealth:.4f}\n"
