"""Seeded synthetic markets for tests and teaching: geometric Brownian motion, Markov regime
switching and Merton jump diffusion. Each returns daily OHLCV bars as a :class:`Market`.

Parameters are annual (``mu`` drift and ``sigma`` volatility of log prices); one year is 252
bars. Each day's log return is split into an overnight gap (close to open) and an intraday
move (open to close); highs and lows extend beyond the open and close by a half-normal amount.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmml.envs.market.data import Market

__all__ = ["gbm", "jump_diffusion", "regime_switching"]

_YEAR = 252


def _check(n_days: int, n_assets: int, s0: float) -> None:
    if n_days < 2 or n_assets < 1:
        raise ValueError(f"need n_days >= 2 and n_assets >= 1, got {n_days} and {n_assets}")
    if s0 <= 0:
        raise ValueError(f"s0 must be > 0, got {s0}")


def _bars(
    log_ret: np.ndarray,
    rng: np.random.Generator,
    s0: float,
    daily_sigma: float,
    start: str,
    name: str,
) -> Market:
    """OHLCV bars from daily log returns (T, N); the first close is ``s0``."""
    n_days, n_assets = log_ret.shape
    log_ret = log_ret.copy()
    log_ret[0] = 0.0  # the first close is s0
    log_close = np.log(s0) + np.cumsum(log_ret, axis=0)
    gap = rng.normal(0.0, 0.3 * daily_sigma, size=log_ret.shape)  # overnight share of the move
    log_open = np.vstack([log_close[:1], log_close[:-1] + gap[1:]])
    wick_hi = np.abs(rng.normal(0.0, 0.5 * daily_sigma, size=log_ret.shape))
    wick_lo = np.abs(rng.normal(0.0, 0.5 * daily_sigma, size=log_ret.shape))
    close, open_ = np.exp(log_close), np.exp(log_open)
    close[0] = open_[0] = s0  # exactly, not exp(log(s0))
    high = np.maximum(open_, close) * np.exp(wick_hi)
    low = np.minimum(open_, close) * np.exp(-wick_lo)
    volume = np.round(rng.lognormal(np.log(1e6), 0.3, size=log_ret.shape))
    dates = pd.bdate_range(start, periods=n_days, name="Date")
    tickers = tuple(f"SYN{i}" for i in range(n_assets))
    return Market(dates, tickers, close, open_, high, low, volume, name=name)


def gbm(
    n_days: int = 1000,
    n_assets: int = 1,
    *,
    mu: float = 0.05,
    sigma: float = 0.2,
    s0: float = 100.0,
    corr: float = 0.0,
    seed: int | np.random.SeedSequence | None = None,
    start: str = "2000-01-03",
) -> Market:
    """Geometric Brownian motion: daily log returns ``N((mu - sigma^2/2)/252, sigma^2/252)``.

    Args:
        n_days, n_assets: size of the market.
        mu, sigma: annual drift and volatility.
        s0: first close of every asset.
        corr: pairwise correlation of the assets' shocks (0 <= corr < 1).
        seed: seed of the market's own generator (same seed, same prices).
        start: first date (business days follow).
    """
    _check(n_days, n_assets, s0)
    if not 0.0 <= corr < 1.0:
        raise ValueError(f"corr must be in [0, 1), got {corr}")
    rng = np.random.default_rng(seed)
    dt = 1.0 / _YEAR
    z = rng.standard_normal((n_days, n_assets))
    common = rng.standard_normal((n_days, 1))
    shocks = np.sqrt(1 - corr) * z + np.sqrt(corr) * common  # unit variance, pairwise corr
    log_ret = (mu - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * shocks
    return _bars(log_ret, rng, s0, sigma * np.sqrt(dt), start, f"gbm(seed={seed})")


def regime_switching(
    n_days: int = 1000,
    n_assets: int = 1,
    *,
    mus: tuple[float, ...] = (0.15, -0.25),
    sigmas: tuple[float, ...] = (0.12, 0.35),
    transition: tuple[tuple[float, ...], ...] = ((0.99, 0.01), (0.03, 0.97)),
    s0: float = 100.0,
    seed: int | np.random.SeedSequence | None = None,
    start: str = "2000-01-03",
) -> tuple[Market, np.ndarray]:
    """A hidden Markov chain of regimes (e.g. bull / bear), each a GBM with its own drift and
    volatility; all assets share the regime.

    Returns:
        The market and the regime index of each day (hidden from agents; for teaching plots).
    """
    _check(n_days, n_assets, s0)
    mus_a, sig_a = np.asarray(mus, float), np.asarray(sigmas, float)
    p = np.asarray(transition, float)
    k = len(mus_a)
    if len(sig_a) != k or p.shape != (k, k):
        raise ValueError(f"mus, sigmas and transition must describe the same {k} regimes")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0):
        raise ValueError("each row of transition must be probabilities summing to 1")
    rng = np.random.default_rng(seed)
    u = rng.random(n_days)
    regimes = np.zeros(n_days, dtype=np.int64)
    cum = np.cumsum(p, axis=1)
    for t in range(1, n_days):
        regimes[t] = min(int(np.searchsorted(cum[regimes[t - 1]], u[t], side="right")), k - 1)
    dt = 1.0 / _YEAR
    z = rng.standard_normal((n_days, n_assets))
    m, s = mus_a[regimes][:, None], sig_a[regimes][:, None]
    log_ret = (m - 0.5 * s**2) * dt + s * np.sqrt(dt) * z
    market = _bars(
        log_ret, rng, s0, float(sig_a.mean() * np.sqrt(dt)), start, f"regime_switching(seed={seed})"
    )
    return market, regimes


def jump_diffusion(
    n_days: int = 1000,
    n_assets: int = 1,
    *,
    mu: float = 0.05,
    sigma: float = 0.15,
    jump_rate: float = 3.0,
    jump_mean: float = -0.05,
    jump_std: float = 0.07,
    s0: float = 100.0,
    seed: int | np.random.SeedSequence | None = None,
    start: str = "2000-01-03",
) -> Market:
    """Merton jump diffusion: GBM plus Poisson(``jump_rate`` per year) jumps whose log sizes
    are ``N(jump_mean, jump_std^2)``. The drift is compensated so ``mu`` stays the expected
    annual growth rate of prices.
    """
    _check(n_days, n_assets, s0)
    if jump_rate < 0 or jump_std < 0:
        raise ValueError("jump_rate and jump_std must be >= 0")
    rng = np.random.default_rng(seed)
    dt = 1.0 / _YEAR
    kappa = np.exp(jump_mean + 0.5 * jump_std**2) - 1.0  # mean relative jump size
    z = rng.standard_normal((n_days, n_assets))
    n_jumps = rng.poisson(jump_rate * dt, size=(n_days, n_assets))
    jumps = n_jumps * jump_mean + np.sqrt(n_jumps) * jump_std * rng.standard_normal(z.shape)
    log_ret = (mu - jump_rate * kappa - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * z + jumps
    return _bars(log_ret, rng, s0, sigma * np.sqrt(dt), start, f"jump_diffusion(seed={seed})")
