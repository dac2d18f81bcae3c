"""Observation features, each computed from closes up to and including its own day only.

=============  ===============================================================  ============
name           definition at day t (per asset)                                  typical range
=============  ===============================================================  ============
``rel_close``  ``log(C_s / C_t)`` for each day s of the window ending at t:     0 at t, ±0.3
               the price path relative to today's close (so the last row is 0;
               SMAs, momentum, Bollinger bands and RSI can be computed from it
               exactly)
``ret``        ``100 * log(C_t / C_{t-1})``, the daily log return in percent    ±3
``vol20``      standard deviation of the last 20 daily log returns, annualised  0.05 .. 1
               (``* sqrt(252)``)
``mom20``      ``100 * log(C_t / C_{t-20}) / sqrt(20)``: 20-day momentum on     ±3
               the same scale as ``ret``
``rsi14``      Wilder's RSI over 14 days mapped to ``(RSI - 50) / 50``          -1 .. 1
``macd``       MACD histogram ``(EMA12 - EMA26) - EMA9(EMA12 - EMA26)`` as a    ±1
               percentage of ``C_t``
``bb20``       Bollinger z-score ``(C_t - SMA20) / std20``                      ±3
=============  ===============================================================  ============

Normalisation uses no statistic of the data set at all, so it cannot leak the future: every
feature is a ratio of prices of the same asset at days <= t, scaled by a fixed constant (or
a bounded oscillator). Each feature at day t is a function of closes at days <= t only, which
the no-look-ahead property test checks. Values are clipped to ``±OBS_BOUND`` and stored as
float32. Indicators need a warm-up (34 bars for ``macd``); the environment starts its first
decision only where the whole window is warm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qmml.envs.market.data import Market

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "OBS_BOUND",
    "FeatureTable",
    "ObservationLayout",
    "bar_features",
]

FEATURES = ("rel_close", "ret", "vol20", "mom20", "rsi14", "macd", "bb20")
DEFAULT_FEATURES = FEATURES
OBS_BOUND = 50.0


def _ema(df: pd.DataFrame, span: int) -> pd.DataFrame:
    return df.ewm(span=span, adjust=False).mean()  # forward recursion: causal


def bar_features(close: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Per-day features (T, N, F) float64 for ``names`` (``rel_close`` is left as 0: it is
    relative to the window's last day and filled in by :meth:`FeatureTable.windows`).

    Warm-up days are NaN.
    """
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature {unknown[0]!r}; choose from {', '.join(FEATURES)}")
    if all(n == "rel_close" for n in names):  # nothing per day to compute
        return np.zeros((*np.shape(close), len(names)))
    c = pd.DataFrame(np.asarray(close, dtype=np.float64))
    logc = np.log(c)
    r = logc.diff()
    out = np.empty((*c.shape, len(names)))
    for k, name in enumerate(names):
        if name == "rel_close":
            f = pd.DataFrame(np.zeros(c.shape))
        elif name == "ret":
            f = 100.0 * r
        elif name == "vol20":
            f = r.rolling(20).std(ddof=0) * np.sqrt(252.0)
        elif name == "mom20":
            f = 100.0 * logc.diff(20) / np.sqrt(20.0)
        elif name == "rsi14":
            gain = r.clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
            loss = (-r).clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
            total = gain + loss
            f = (2.0 * gain / total.where(total > 0) - 1.0).where(total > 0, 0.0)
            f = f.where(gain.notna())
        elif name == "macd":
            line = _ema(c, 12) - _ema(c, 26)
            hist = line - _ema(line, 9)
            f = 100.0 * hist / c
            f.iloc[:33] = np.nan  # the EMAs need 26 + 9 - 2 days to mean anything
        else:  # bb20
            mean = c.rolling(20).mean()
            sd = c.rolling(20).std(ddof=0)
            f = ((c - mean) / sd.where(sd > 0)).where(sd.isna() | (sd > 0), 0.0)
        out[:, :, k] = f.to_numpy()
    return out


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Features of a market, precomputed once and shared by envs and the fast backtester.

    Attributes:
        features: feature names, in channel order.
        bars: (T, N, F) float32 per-day features, clipped; NaN during warm-up.
        log_close: (T, N) float64 log closes (for ``rel_close``).
        first_valid: first day index at which every per-day feature is defined.
    """

    features: tuple[str, ...]
    bars: np.ndarray
    log_close: np.ndarray
    first_valid: int

    @staticmethod
    def build(market: Market, features: tuple[str, ...] = DEFAULT_FEATURES) -> FeatureTable:
        """Compute the table for ``market``."""
        if not features or len(set(features)) != len(features):
            raise ValueError(
                f"features must be a non-empty list without repeats, got {list(features)}"
            )
        raw = bar_features(market.close, tuple(features))
        ok = np.isfinite(raw).all(axis=(1, 2))
        first = int(np.argmax(ok)) if ok.any() else market.n_days
        if ok.any() and not ok[first:].all():
            raise ValueError(f"{market.name}: features undefined after warm-up")
        bars = np.clip(raw, -OBS_BOUND, OBS_BOUND).astype(np.float32)
        bars.setflags(write=False)
        logc = np.log(market.close)
        logc.setflags(write=False)
        return FeatureTable(tuple(features), bars, logc, first)

    def windows(self, t: np.ndarray, window: int) -> np.ndarray:
        """Observation windows ending at days ``t`` (B,): (B, window, N, F) float32, fresh.

        Row ``window - 1`` is day t itself (the last close the agent has seen); row 0 is day
        ``t - window + 1``. Callers guarantee ``t - window + 1 >= first_valid``.
        """
        t = np.asarray(t, dtype=np.intp)
        rows = t[:, None] + np.arange(1 - window, 1)  # (B, W)
        out = self.bars[rows]  # fancy indexing copies: never a view into the table
        if "rel_close" in self.features:
            k = self.features.index("rel_close")
            rel = self.log_close[rows] - self.log_close[t][:, None, :]
            out[..., k] = np.clip(rel, -OBS_BOUND, OBS_BOUND)
        return out

    def windows_range(self, t_first: int, t_last: int, window: int) -> np.ndarray:
        """The same as ``windows(np.arange(t_first, t_last + 1), window)``, built from sliding
        views instead of a gather (several times faster for long ranges). Rows before day 0
        (a window reaching past the data's start) are NaN."""
        lo = t_first - window + 1
        bars, logc = self.bars[max(lo, 0) : t_last + 1], self.log_close[max(lo, 0) : t_last + 1]
        if lo < 0:  # pad the missing past with NaN: callers read only the rows they own
            bars = np.concatenate([np.full((-lo, *bars.shape[1:]), np.nan, bars.dtype), bars])
            logc = np.concatenate([np.full((-lo, logc.shape[1]), np.nan), logc])
        view = np.lib.stride_tricks.sliding_window_view(bars, window, axis=0)  # (B, N, F, W)
        out = view.transpose(0, 3, 1, 2).copy()  # fresh and writable, C order
        if "rel_close" in self.features:
            k = self.features.index("rel_close")
            lview = np.lib.stride_tricks.sliding_window_view(logc, window, axis=0)  # (B, N, W)
            rel = lview.transpose(0, 2, 1) - logc[window - 1 :][:, None, :]
            out[..., k] = np.clip(rel, -OBS_BOUND, OBS_BOUND)
        return out


@dataclass(frozen=True)
class ObservationLayout:
    """How a flat observation vector is laid out, so agents can take it apart.

    ``obs = concat(window.ravel(), weights, [cash_weight])`` where ``window`` is
    (window, n_assets, n_features) in time order (last row = today) and ``weights`` are the
    current portfolio weights (position value / equity) per asset, marked at today's close.
    An LSTM reads ``window.reshape(window, n_assets * n_features)`` as a sequence.
    """

    window: int
    n_assets: int
    features: tuple[str, ...]

    @property
    def n_features(self) -> int:
        """Features per asset per day F."""
        return len(self.features)

    @property
    def window_size(self) -> int:
        """Length of the window block, ``window * n_assets * n_features``."""
        return self.window * self.n_assets * self.n_features

    @property
    def portfolio_size(self) -> int:
        """Length of the portfolio block: one weight per asset plus the cash weight."""
        return self.n_assets + 1

    @property
    def size(self) -> int:
        """Length of the whole observation vector."""
        return self.window_size + self.portfolio_size

    def unpack(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split observations (D,) or (B, D) into windows (B, W, N, F) and portfolio (B, N+1)."""
        obs = np.asarray(obs)
        flat = obs.reshape(-1, self.size)
        win = flat[:, : self.window_size].reshape(-1, self.window, self.n_assets, self.n_features)
        return win, flat[:, self.window_size :]
