"""Rule-based trading strategies as agents.

Each strategy decides from the environment's observation (the ``rel_close`` channel of the
window: prices relative to today's close), so the same object runs step by step in
:class:`~envs.market.env.StockTradingEnv` (``action_mode="weights"``) through
:meth:`Strategy.predict`, and over all days at once in the fast backtester
(:func:`envs.market.backtest.backtest`) through :meth:`Strategy.decide` — with identical
results. Moving sums are accumulated row by row in a fixed order, so a decision never
depends on how many days are computed together.

Targets are weights per asset; ``nan`` keeps the previous target (orders only on signals).
A signal on one asset of N uses weight ``1 / N`` (long) or ``-1 / N`` (short).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from qmml.agents.checks import check_number
from qmml.agents.protocol import BudgetUnit
from qmml.agents.strategy_kernels import sma_cross, window_sums
from qmml.envs.market.features import ObservationLayout

__all__ = [
    "STRATEGIES",
    "BollingerReversion",
    "BuyAndHold",
    "CrossSectionalMomentum",
    "EqualWeight",
    "RandomStrategy",
    "RsiReversion",
    "SmaCrossover",
    "Strategy",
    "TimeSeriesMomentum",
]


def _prices(window: np.ndarray, features: tuple[str, ...], cache: dict | None) -> np.ndarray:
    """exp(rel_close), time-major: (W, B, N) prices relative to the last close (float64)."""
    key = ("p", window.shape[1])
    if cache is not None and key in cache:
        return cache[key]
    if "rel_close" not in features:
        raise ValueError("this strategy reads the 'rel_close' feature; keep it in features")
    rel = window[..., features.index("rel_close")].transpose(1, 0, 2)
    p = np.ascontiguousarray(rel, dtype=np.float64)  # each day's row contiguous
    p = np.exp(p, out=p) if p is not rel else np.exp(p)  # in place when p is a fresh copy
    if cache is not None:
        cache[key] = p
    return p


def _sum(p: np.ndarray, n: int, shift: int, cache: dict | None, power: int = 1) -> np.ndarray:
    """Sum of ``p**power`` (power 1 or 2) over the n days ending ``shift`` days before the
    last (B, N), added day by day in a fixed order: same bits for any batch size."""
    key = ("sum", n, shift, power, p.shape[0])
    if cache is not None and key in cache:
        return cache[key]
    w, b, k = p.shape
    last = w - 1 - shift
    acc = window_sums(p.reshape(w, b * k), np.array([last - n + 1]), np.array([last]), power == 2)
    acc = acc.reshape(b, k)
    if cache is not None:
        cache[key] = acc
    return acc


class Strategy:
    """Base class: the agent protocol (``learn``/``predict``) on top of :meth:`decide`.

    Subclasses set ``lookback`` and implement ``decide(window, features, cache)`` returning
    (B, N) target weights (nan = keep the last target).
    """

    budget_unit: ClassVar[BudgetUnit] = "none"  # nothing to learn: budget is ignored
    lookback: int = 1
    features: tuple[str, ...] = ("rel_close",)
    rebalance_every: int | None = None
    stateful = False  # decide() is a pure function of each window (batching cannot matter)
    name: str = "strategy"

    def __init__(self) -> None:
        self.layout: ObservationLayout | None = None
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the last target (and re-seed, for random strategies)."""
        self._last = None

    def check(self, n_assets: int) -> None:
        """Raise ValueError if the strategy cannot trade ``n_assets`` assets."""

    def learn(self, env: gym.Env, budget: int = 0) -> Strategy:
        """Nothing to learn: remember the env's observation layout and reset."""
        layout = getattr(env.unwrapped, "layout", None)
        if layout is None:
            raise ValueError("a rule-based strategy needs a StockTradingEnv (with .layout)")
        if layout.window < self.lookback:
            raise ValueError(
                f"{self.name} reads {self.lookback} days but the env's window is "
                f"{layout.window}; make the env with window >= {self.lookback}"
            )
        self.check(layout.n_assets)
        self.layout = layout
        self.reset()
        return self

    def predict(self, obs: np.ndarray, *, deterministic: bool = True) -> np.ndarray:
        """Target weights (N,) for one observation (call :meth:`learn` first)."""
        if self.layout is None:
            raise RuntimeError("call learn(env) first so the strategy knows the observation layout")
        window, _ = self.layout.unpack(obs)
        raw = self.decide(window, self.layout.features)[0]
        last = np.zeros(raw.shape) if self._last is None else self._last
        self._last = np.where(np.isnan(raw), last, raw)
        return self._last.copy()

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict[Any, Any] | None = None
    ) -> np.ndarray:
        """Target weights (B, N) from windows (B, W, N, F); W >= ``lookback``."""
        raise NotImplementedError


class BuyAndHold(Strategy):
    """Buy every asset with weight 1/N on the first day and never trade again."""

    name = "buy-and-hold"

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        b, _, n, _ = window.shape
        return np.full((b, n), 1.0 / n)


class EqualWeight(BuyAndHold):
    """Weight 1/N in every asset, rebalanced every ``rebalance_every`` days."""

    name = "equal-weight"

    def __init__(self, rebalance_every: int = 21) -> None:
        super().__init__()
        check_number("rebalance_every", rebalance_every, low=1, hint="days")
        self.rebalance_every = rebalance_every


class SmaCrossover(Strategy):
    """Go long when the fast moving average of the close crosses above the slow one, exit
    (or go short with ``allow_short``) when it crosses below; hold in between. A cross
    needs ``fast < slow`` yesterday and ``fast > slow`` today (backtesting.py's
    ``crossover``)."""

    name = "sma-crossover"

    def __init__(self, fast: int = 10, slow: int = 30, allow_short: bool = False) -> None:
        super().__init__()
        check_number("fast", fast, low=1, hint="days")
        if not fast < slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={fast}, slow={slow}")
        self.fast, self.slow, self.allow_short = int(fast), int(slow), allow_short
        self.lookback = self.slow + 1

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        return np.ascontiguousarray(self.decide_batch([self], window, features, cache)[:, 0])

    @classmethod
    def decide_batch(
        cls,
        strategies: Sequence[SmaCrossover],
        window: np.ndarray,
        features: tuple[str, ...],
        cache: dict | None = None,
    ) -> np.ndarray:
        """Targets (B, G, N) of G crossovers on the same windows, each column equal to that
        strategy's :meth:`decide`: one pass computes every moving average the batch needs
        (each length once) and every crossing.

        A cross up is ``fast < slow`` yesterday and ``fast > slow`` today, each average
        ``sum / length`` of the prices relative to today's close.
        """
        p = _prices(window, features, cache)
        w, b, n = p.shape
        if max(s.lookback for s in strategies) > w:
            raise ValueError(f"a window of {w} days is shorter than a crossover's look-back")
        lengths = sorted({x for s in strategies for x in (s.fast, s.slow)})
        row = {
            (x, shift): shift * len(lengths) + i for shift in (0, 1) for i, x in enumerate(lengths)
        }
        firsts = np.array([w - shift - x for shift in (0, 1) for x in lengths])
        lasts = np.array([w - 1 - shift for shift in (0, 1) for _ in lengths])
        sums = window_sums(p.reshape(w, b * n), firsts, lasts, False)
        index = np.array(
            [[row[s.fast, 0], row[s.slow, 0], row[s.fast, 1], row[s.slow, 1]] for s in strategies]
        )
        out = sma_cross(
            sums,
            np.array(lengths * 2),
            index,
            1.0 / n,
            np.array([-1.0 / n if s.allow_short else 0.0 for s in strategies]),
        )
        return out.reshape(b, n, len(strategies)).transpose(0, 2, 1)


class TimeSeriesMomentum(Strategy):
    """Long each asset whose return over the last ``lookback_days`` is positive, else flat
    (or short with ``allow_short``)."""

    name = "ts-momentum"

    def __init__(self, lookback_days: int = 126, allow_short: bool = False) -> None:
        super().__init__()
        check_number("lookback_days", lookback_days, low=1, hint="days")
        self.lookback_days, self.allow_short = int(lookback_days), allow_short
        self.lookback = self.lookback_days + 1

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        rel = window[:, -self.lookback, :, features.index("rel_close")]  # log(C_t-L / C_t)
        n = window.shape[2]
        return np.where(rel < 0, 1.0 / n, -1.0 / n if self.allow_short else 0.0)


class CrossSectionalMomentum(Strategy):
    """Long the ``top`` fraction of assets with the best return over ``lookback_days``
    (equal weights summing to 1); with ``allow_short`` also short the worst fraction."""

    name = "xs-momentum"

    def __init__(
        self, lookback_days: int = 126, top: float = 0.3, allow_short: bool = False
    ) -> None:
        super().__init__()
        check_number("lookback_days", lookback_days, low=1, hint="days")
        top_max = 0.5 + 0.5 * (not allow_short)
        check_number("top", top, low=0.0, high=top_max, low_open=True, hint="<= 0.5 with shorts")
        self.lookback_days, self.top, self.allow_short = int(lookback_days), top, allow_short
        self.lookback = self.lookback_days + 1

    def check(self, n_assets: int) -> None:
        if n_assets < 2:
            raise ValueError("cross-sectional momentum ranks assets: give at least 2 tickers")

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        past = window[:, -self.lookback, :, features.index("rel_close")]
        b, n = past.shape
        k = max(1, round(self.top * n))
        if self.allow_short:  # the long and the short basket must not share an asset
            k = min(k, n // 2)
        order = np.argsort(past, axis=1, kind="stable")  # most negative rel = best return
        w = np.zeros((b, n))
        np.put_along_axis(w, order[:, :k], 1.0 / k, axis=1)
        if self.allow_short:
            np.put_along_axis(w, order[:, n - k :], -1.0 / k, axis=1)
            w *= 0.5  # gross exposure 1
        return w


class RsiReversion(Strategy):
    """Mean reversion on the RSI (Cutler's, simple averages over ``period`` days): buy when
    RSI < ``buy_below``, sell when RSI > ``sell_above``, hold in between."""

    name = "rsi-reversion"

    def __init__(self, period: int = 14, buy_below: float = 30.0, sell_above: float = 70.0) -> None:
        super().__init__()
        check_number("period", period, low=2, hint="days")
        if not 0 < buy_below < sell_above < 100:
            raise ValueError(
                f"need 0 < buy_below < sell_above < 100, got buy_below={buy_below}, "
                f"sell_above={sell_above}"
            )
        self.period, self.buy_below, self.sell_above = int(period), buy_below, sell_above
        self.lookback = self.period + 1

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        p = _prices(window, features, cache)
        last = p.shape[0] - 1
        gain = np.zeros(p.shape[1:])
        loss = np.zeros(p.shape[1:])
        for j in range(last - self.period + 1, last + 1):
            d = p[j] - p[j - 1]
            gain = gain + np.maximum(d, 0.0)
            loss = loss + np.maximum(-d, 0.0)
        total = gain + loss
        rsi = np.where(total > 0, 100.0 * gain / np.where(total > 0, total, 1.0), 50.0)
        n = p.shape[2]
        return np.where(rsi < self.buy_below, 1.0 / n, np.where(rsi > self.sell_above, 0.0, np.nan))


class BollingerReversion(Strategy):
    """Mean reversion on Bollinger bands: buy when the close is ``k`` standard deviations
    below its ``period``-day mean, sell when it is back above the mean, hold in between."""

    name = "bollinger-reversion"

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        super().__init__()
        check_number("period", period, low=2, hint="days")
        check_number("k", k, low=0.0, low_open=True, hint="band width in standard deviations")
        self.period, self.k = int(period), float(k)
        self.lookback = self.period

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        p = _prices(window, features, cache)
        mean = _sum(p, self.period, 0, cache) / self.period
        var = np.maximum(_sum(p, self.period, 0, cache, power=2) / self.period - mean**2, 0.0)
        sd = np.sqrt(var)
        z = np.where(sd > 0, (1.0 - mean) / np.where(sd > 0, sd, 1.0), 0.0)  # today's close = 1
        n = p.shape[2]
        return np.where(z < -self.k, 1.0 / n, np.where(z > 0, 0.0, np.nan))


class RandomStrategy(Strategy):
    """Each day, with probability ``p_trade`` per asset, switch to a random position level
    (flat or long; also short with ``allow_short``). Seeded: ``reset()`` restarts the draws."""

    name = "random"
    features: tuple[str, ...] = ()
    stateful = True  # draws in day order: the backtester feeds it its own days only

    def __init__(self, p_trade: float = 0.05, seed: int = 0, allow_short: bool = False) -> None:
        super().__init__()
        check_number("p_trade", p_trade, low=0.0, high=1.0, low_open=True)
        self.p_trade, self.seed, self.allow_short = p_trade, int(seed), allow_short
        self._rng = np.random.default_rng(self.seed)

    def reset(self) -> None:
        super().reset()
        self._rng = np.random.default_rng(self.seed)

    def decide(
        self, window: np.ndarray, features: tuple[str, ...], cache: dict | None = None
    ) -> np.ndarray:
        b, _, n, _ = window.shape
        draws = self._rng.random((b, 2, n))  # day by day in order: any batching, same draws
        u, v = draws[:, 0], draws[:, 1]
        levels = np.array([-1.0, 0.0, 1.0]) if self.allow_short else np.array([0.0, 1.0])
        pick = levels[np.minimum((v * len(levels)).astype(np.intp), len(levels) - 1)] / n
        return np.where(u < self.p_trade, pick, np.nan)


STRATEGIES: dict[str, type[Strategy]] = {
    "buy-and-hold": BuyAndHold,
    "equal-weight": EqualWeight,
    "sma-crossover": SmaCrossover,
    "ts-momentum": TimeSeriesMomentum,
    "xs-momentum": CrossSectionalMomentum,
    "rsi-reversion": RsiReversion,
    "bollinger-reversion": BollingerReversion,
    "random": RandomStrategy,
}
