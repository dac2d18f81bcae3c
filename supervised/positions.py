"""From return forecasts to positions, using only what is known at t (NumPy only).

``forecast[t]`` is the forecast made at the close of day t for the return of day t+1, and
``returns[t]`` the return realised *by* the close of day t. :func:`forecast_positions` turns
them into the position held over day t+1; ``position[t]`` depends on ``forecast[: t + 1]``
and ``returns[: t + 1]`` only (scales are expanding or trailing-window statistics), which a
property test checks. The backtest (``qmml.envs``) applies them; this module never imports it.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qmml.supervised.dataset import did_you_mean

__all__ = ["RULES", "forecast_positions"]

RULES = ("sign", "linear", "vol-target")


def _trailing_std(x: np.ndarray, window: int | None, min_periods: int) -> np.ndarray:
    """Std (ddof=0) of ``x[max(0, t-window+1) : t+1]``; NaN before ``min_periods`` values."""
    n = x.size
    out = np.full(n, np.nan)
    if window is None:  # expanding, through running sums of centred values
        c = x - x[0]
        k = np.arange(1, n + 1)
        mean = np.cumsum(c) / k
        var = np.maximum(np.cumsum(c * c) / k - mean**2, 0.0)
        out = np.sqrt(var)
    else:
        stds = sliding_window_view(x, window).std(axis=1)  # window ending at t = window-1..
        out[window - 1 :] = stds
        for t in range(min(window - 1, n)):  # shorter windows at the start
            out[t] = x[: t + 1].std()
    out[: min_periods - 1] = np.nan
    return out


def forecast_positions(
    forecast: np.ndarray,
    *,
    rule: str = "sign",
    returns: np.ndarray | None = None,
    window: int | None = None,
    min_periods: int = 20,
    target_vol: float = 0.01,
    max_abs: float = 1.0,
) -> np.ndarray:
    """Positions in [-max_abs, max_abs] from forecasts, causally.

    Rules:
        ``"sign"``: ``max_abs * sign(f_t)``.
        ``"linear"``: ``f_t / std(f_0..f_t)``, clipped (a z-score without centring, so the
            sign of the forecast is kept); 0 until ``min_periods`` forecasts.
        ``"vol-target"``: ``sign(f_t) * target_vol / std(r_..t)``, clipped; needs ``returns``;
            0 until ``min_periods`` returns.

    Args:
        forecast: forecasts of the next period's return, shape (n,); NaN = no view (0).
        rule: one of :data:`RULES`.
        returns: realised returns, shape (n,), for ``"vol-target"``.
        window: trailing window of the scale statistics; ``None`` = expanding.
        min_periods: observations needed before a scaled rule takes a position.
        target_vol: per-period volatility aimed at by ``"vol-target"``.
        max_abs: the position limit (1 = fully invested, long or short).

    Raises:
        ValueError: unknown rule, a window longer than the series, missing returns.
    """
    if rule not in RULES:
        hint = did_you_mean(rule, RULES)
        raise ValueError(f"unknown rule {rule!r}: choose one of {RULES}{hint}")
    f = np.asarray(forecast, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"forecast must be a non-empty 1-d array, got shape {f.shape}")
    if window is not None and not 1 <= window <= f.size:
        raise ValueError(
            f"window of {window} is longer than the series of {f.size} (or < 1); "
            f"use window <= {f.size}"
        )
    if min_periods < 1 or not max_abs > 0 or not target_vol > 0:
        raise ValueError("min_periods >= 1, max_abs > 0 and target_vol > 0 are required")
    view = np.nan_to_num(f, nan=0.0)
    if rule == "sign":
        pos = max_abs * np.sign(view)
    elif rule == "linear":
        scale = _trailing_std(view, window, min_periods)
        with np.errstate(invalid="ignore", divide="ignore"):
            pos = view / scale
    else:
        if returns is None:
            raise ValueError("rule 'vol-target' needs returns (realised returns up to each t)")
        r = np.asarray(returns, dtype=np.float64)
        if r.shape != f.shape:
            raise ValueError(f"returns has shape {r.shape}, forecast {f.shape}; they must match")
        vol = _trailing_std(np.nan_to_num(r, nan=0.0), window, min_periods)
        with np.errstate(invalid="ignore", divide="ignore"):
            pos = np.sign(view) * target_vol / vol
    pos = np.where(np.isfinite(pos), pos, 0.0)
    return np.clip(pos, -max_abs, max_abs)
