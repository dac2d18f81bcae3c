"""How orders fill and what they cost: one accounting kernel shared by the environment, its
vectorised form and the fast backtester, so all three give identical numbers.

Timing. The agent decides at the close of day t. With ``fill="next_open"`` the order fills at
day t+1's open (at day t+1's close when the data has no opens); ``"next_close"`` fills at
day t+1's close; ``"close"`` fills at day t's own close (what backtesting.py calls
``trade_on_close``: optimistic, but a common convention). Positions are then marked at day
t+1's close.

Orders. The agent gives target weights (position value / equity). An asset is traded only
when its target differs from the previous target (or on a forced rebalance); otherwise its
units are held and its weight drifts with the price. Target units are
``w * equity / (price * (1 + slippage) * (1 + commission))`` so that buying from cash never
overdraws; equity is measured after paying for positions that are closed or reversed
(close first, then open, as backtesting.py does). ``units="whole"`` truncates to whole units.

Costs. Buys fill at ``price * (1 + slippage)``, sells at ``price * (1 - slippage)``;
commission is ``commission * |units| * fill price`` on every fill (per side). Shorts pay
``borrow_bps`` a year on their market value, charged at each close. Accounting conserves
value: ``cash + sum(units * price)`` is the equity, and every fill lowers it by exactly the
costs it reports, which are never negative.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["NP", "PY", "ExecutionModel", "fill_orders", "limit_weights", "mark_to_market"]


@dataclass(frozen=True)
class ExecutionModel:
    """Broker settings.

    Attributes:
        commission_bps: commission per side, in basis points of traded value.
        slippage_bps: fill price worse than the quoted price by this many basis points.
        borrow_bps: annual borrow fee on short positions, in basis points of their value.
        fill: ``"next_open"``, ``"next_close"`` or ``"close"`` (see the module docstring).
        units: ``"fractional"`` or ``"whole"`` units (shares).
        allow_short: whether target weights may be negative.
        max_leverage: cap on gross exposure ``sum(|w|)``; larger targets are scaled down.
        initial_cash: starting equity.
    """

    commission_bps: float = 5.0
    slippage_bps: float = 0.0
    borrow_bps: float = 0.0
    fill: Literal["next_open", "next_close", "close"] = "next_open"
    units: Literal["fractional", "whole"] = "fractional"
    allow_short: bool = False
    max_leverage: float = 1.0
    initial_cash: float = 100_000.0

    def __post_init__(self) -> None:
        # numpy numbers (from np.arange grids) are numbers too; stored as Python floats so
        # that a float32 setting cannot change the precision of the accounting
        for name in (
            "commission_bps",
            "slippage_bps",
            "borrow_bps",
            "max_leverage",
            "initial_cash",
        ):
            v = getattr(self, name)
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                object.__setattr__(self, name, float(v))
        for name in ("commission_bps", "slippage_bps", "borrow_bps"):
            v = getattr(self, name)
            if not (isinstance(v, float) and 0 <= v < 1000):
                raise ValueError(f"{name}={v!r}: must be a number in [0, 1000) basis points")
        if self.fill not in ("next_open", "next_close", "close"):
            raise ValueError(f"fill={self.fill!r}: choose 'next_open', 'next_close' or 'close'")
        if self.units not in ("fractional", "whole"):
            raise ValueError(f"units={self.units!r}: choose 'fractional' or 'whole'")
        if not (isinstance(self.max_leverage, float) and 0 < self.max_leverage <= 10):
            raise ValueError(f"max_leverage={self.max_leverage!r}: must be in (0, 10]")
        if not (isinstance(self.initial_cash, float) and self.initial_cash > 0):
            raise ValueError(f"initial_cash={self.initial_cash!r}: must be > 0")

    @property
    def commission(self) -> float:
        """Commission rate per side (fraction)."""
        return self.commission_bps / 1e4

    @property
    def slippage(self) -> float:
        """Slippage rate (fraction)."""
        return self.slippage_bps / 1e4

    @property
    def borrow_daily(self) -> float:
        """Borrow fee per bar (fraction of short value), 252 bars a year."""
        return self.borrow_bps / 1e4 / 252.0

    @property
    def weight_low(self) -> float:
        """Lowest allowed weight of one asset."""
        return -self.max_leverage if self.allow_short else 0.0


class NP:
    """Array backend: batch (B,) of portfolios over (B, N) assets."""

    where = staticmethod(np.where)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    trunc = staticmethod(np.trunc)
    maximum = staticmethod(np.maximum)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def sum(x: np.ndarray) -> np.ndarray:
        return x.sum(axis=-1)

    @staticmethod
    def col(x: np.ndarray) -> np.ndarray:
        return x[:, None]

    @staticmethod
    def clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return np.clip(x, lo, hi)


def _sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


class PY:
    """Scalar backend: one portfolio of one asset as Python floats (several times faster than
    numpy on size-1 arrays; the same formulas, so the same IEEE results)."""

    abs = staticmethod(abs)
    sign = staticmethod(_sign)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        return a if c else b

    @staticmethod
    def trunc(x: float) -> float:
        return float(math.trunc(x))

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a if a > b else b  # np.maximum semantics for non-NaN values

    @staticmethod
    def sum(x: float) -> float:
        return x

    @staticmethod
    def col(x: float) -> float:
        return x

    @staticmethod
    def clip(x: float, lo: float, hi: float) -> float:
        return min(max(x, lo), hi)


def limit_weights(w: Any, model: ExecutionModel, xp: Any = NP) -> Any:
    """Clip target weights to the model's limits: no shorts unless allowed, each weight within
    ``±max_leverage`` and gross exposure scaled down to ``max_leverage``."""
    w = xp.clip(w, model.weight_low, model.max_leverage)
    if xp is PY:
        return w  # one asset: the clip already bounds gross exposure
    gross = np.abs(w).sum(axis=-1, keepdims=True)
    scale = model.max_leverage / np.maximum(gross, 1e-300)
    return np.where(gross > model.max_leverage, w * scale, w)


def fill_orders(
    cash: Any,
    units: Any,
    prev_target: Any,
    target: Any,
    price: Any,
    force: Any,
    model: ExecutionModel,
    xp: Any = NP,
) -> tuple[Any, Any, Any, Any, Any]:
    """Trade every asset whose target changed (or all, where ``force``) at ``price``.

    Args:
        cash: (B,) cash.
        units: (B, N) units held (negative: short).
        prev_target, target: (B, N) previous and new target weights.
        price: (N,) or (B, N) quoted fill prices.
        force: (B, 1) bools (or a bool): rebalance every asset to its target.
        model: the broker settings.
        xp: :class:`NP` for arrays, :class:`PY` for one asset as floats.

    Returns:
        new cash (B,), new units (B, N), costs (B,) (commission + slippage, >= 0, in cash),
        number of fills (B,), traded value at the quoted price (B,).
    """
    c, s = model.commission, model.slippage
    held = units * price
    equity = cash + xp.sum(held)
    change = (target != prev_target) | force
    # positions closed or reversed pay their exit costs before the new size is computed
    closing = change & (units != 0) & (target * units <= 0)
    exit_rate = s + c * (1.0 - s * xp.sign(units))
    avail = equity - xp.sum(xp.where(closing, xp.abs(held) * exit_rate, 0.0))
    desired = target * xp.col(avail) / (price * ((1.0 + s) * (1.0 + c)))
    if model.units == "whole":
        desired = xp.trunc(desired)
    new_units = xp.where(change, desired, units)
    delta = new_units - units
    fill_price = price * (1.0 + s * xp.sign(delta))
    commission = c * xp.abs(delta) * fill_price
    new_cash = cash - xp.sum(delta * fill_price) - xp.sum(commission)
    costs = xp.sum(xp.abs(delta) * price * s) + xp.sum(commission)
    fills = xp.sum(delta != 0)
    traded = xp.sum(xp.abs(delta) * price)
    return new_cash, new_units, costs, fills, traded


def mark_to_market(
    cash: Any, units: Any, close: Any, model: ExecutionModel, xp: Any = NP
) -> tuple[Any, Any]:
    """Charge the day's borrow fee on shorts and value the portfolio at ``close``.

    Returns:
        cash after the fee (B,), equity (B,).
    """
    if model.borrow_bps:
        cash = cash - model.borrow_daily * xp.sum(xp.maximum(-units, 0.0) * close)
    return cash, cash + xp.sum(units * close)
