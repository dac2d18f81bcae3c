"""Statistics for comparing agents over seeds (and trading strategies over time): pure
functions of arrays, no plotting, no I/O.

Bootstrap intervals use an explicit seed so that a report rebuilt from the same results is
byte-identical. References: Agarwal et al. (2021), "Deep RL at the Edge of the Statistical
Precipice" (interquartile mean, probability of improvement, stratified bootstrap); Politis &
Romano (1994), "The Stationary Bootstrap" (resampling a time series in blocks, for strategies
whose seeds change nothing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Interval",
    "bootstrap_curve",
    "bootstrap_diff",
    "bootstrap_mean",
    "iqm",
    "probability_of_improvement",
    "rank_p_value",
    "sharpe_bootstrap",
    "stationary_bootstrap_indices",
]

_BOOT_SEED = 20240229  # fixed: reports must be reproducible byte for byte


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}]"


def _boot_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_mean(
    x: np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = _BOOT_SEED
) -> Interval:
    """Mean of ``x`` with a percentile-bootstrap confidence interval.

    With one value the interval collapses to the value (nothing to resample).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Interval(np.nan, np.nan, np.nan, 0)
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, mean, mean, 1)
    means = x[_boot_indices(x.size, n_boot, seed)].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return Interval(mean, float(lo), float(hi), int(x.size))


def bootstrap_curve(
    y: np.ndarray, *, confidence: float = 0.95, n_boot: int = 1000, seed: int = _BOOT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve over seeds with a pointwise percentile-bootstrap band.

    Args:
        y: shape (n_seeds, n_steps).

    Returns:
        mean, low, high, each of shape (n_steps,).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (seeds, steps), got shape {y.shape}")
    with warnings.catch_warnings():
        # seeds of unequal length leave NaN columns: their mean is NaN, which is the answer
        warnings.simplefilter("ignore", RuntimeWarning)
        return _bootstrap_curve(y, confidence, n_boot, seed)


def _bootstrap_curve(
    y: np.ndarray, confidence: float, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.nanmean(y, axis=0)
    if y.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    idx = _boot_indices(y.shape[0], n_boot, seed)
    # Resample whole seeds (rows) so the band reflects between-seed variation at each step.
    if np.isfinite(y).all():
        # a resample's mean is (draw counts per seed) @ y / n: one matrix product
        n = y.shape[0]
        counts = np.zeros((n_boot, n))
        np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
        boot = counts @ y / n
    else:  # seeds of unequal length: NaN-aware means, in bounded chunks
        boot = np.empty((n_boot, y.shape[1]))
        for chunk in range(0, n_boot, 200):
            sl = slice(chunk, chunk + 200)
            boot[sl] = np.nanmean(y[idx[sl]], axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return mean, lo, hi


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of values (robust to outlier seeds)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    from scipy import stats as sps  # 0.6 CPU-s to import: only when an IQM is asked for

    return float(sps.trim_mean(x, 0.25))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + ½ P(X = Y) for one draw of each: the Mann–Whitney U statistic / (n·m).

    0.5 means no difference; 1.0 means every seed of X beats every seed of Y.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size == 0 or y.size == 0:
        return float("nan")
    gt = (x[:, None] > y[None, :]).mean()
    eq = (x[:, None] == y[None, :]).mean()
    return float(gt + 0.5 * eq)


def bootstrap_diff(
    x: np.ndarray,
    y: np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = _BOOT_SEED,
) -> Interval:
    """Difference of means ``mean(x) - mean(y)`` with a bootstrap CI (independent resamples)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size == 0 or y.size == 0:
        return Interval(np.nan, np.nan, np.nan, 0)
    est = float(x.mean() - y.mean())
    if x.size < 2 and y.size < 2:
        return Interval(est, est, est, 1)
    bx = x[_boot_indices(x.size, n_boot, seed)].mean(axis=1)
    by = y[_boot_indices(y.size, n_boot, seed + 1)].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(bx - by, [alpha, 1 - alpha])
    return Interval(est, float(lo), float(hi), int(min(x.size, y.size)))


def rank_p_value(value: float, reference: np.ndarray, *, higher_is_better: bool = True) -> float:
    """One-sided empirical p-value of ``value`` against a reference sample.

    The share of the reference that does at least as well, with the +1 correction of
    Davison & Hinkley (1997) so that p is never exactly 0: (1 + #{ref >= value}) / (1 + n).
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return float("nan")
    hits = (ref >= value).sum() if higher_is_better else (ref <= value).sum()
    return float((1 + hits) / (1 + ref.size))


def stationary_bootstrap_indices(
    n: int, n_boot: int, *, mean_block: float = 21.0, seed: int = _BOOT_SEED
) -> np.ndarray:
    """Row-wise resamples of ``range(n)`` by the stationary bootstrap, shape (n_boot, n).

    Each resample strings together blocks that start at uniform random positions and have
    geometric lengths of mean ``mean_block`` (wrapping at the end), so that the serial
    dependence of daily returns (volatility clusters) survives inside blocks.
    """
    if n < 1 or n_boot < 1 or mean_block < 1:
        raise ValueError(
            f"n={n}, n_boot={n_boot}, mean_block={mean_block}: need n, n_boot, mean_block >= 1"
        )
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(n_boot, n))
    restart = rng.random((n_boot, n)) < 1.0 / mean_block
    restart[:, 0] = True
    t = np.arange(n)
    begin = np.maximum.accumulate(np.where(restart, t, 0), axis=1)  # where each block began
    rows = np.arange(n_boot)[:, None]
    return (starts[rows, begin] + (t - begin)) % n


def sharpe_bootstrap(
    returns: np.ndarray,
    *,
    periods_per_year: int = 252,
    mean_block: float = 21.0,
    n_boot: int = 2000,
    seed: int = _BOOT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Annualised Sharpe ratios of strategies' periodic returns and their block-bootstrap
    replicates, with the *same* resampled days for every strategy (paired: differences of
    replicates give intervals for differences of Sharpe ratios).

    Args:
        returns: (m, n) returns of m strategies over the same n periods.

    Returns:
        ``(sharpe, replicates)``: shapes (m,) and (m, n_boot); NaN where a series (or a
        resample) has zero variance.
    """
    r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    n_days = r.shape[1]
    idx = stationary_bootstrap_indices(n_days, n_boot, mean_block=mean_block, seed=seed)
    # How often each resample draws each day: a resample's mean and variance are sums
    # weighted by these counts, so every strategy takes two matrix products instead of
    # gathering n_boot x n_days values (a 100-cell grid: 0.3 s instead of 15 s).
    rows = np.arange(n_boot)[:, None] * n_days
    counts = np.bincount((rows + idx).ravel(), minlength=n_boot * n_days)
    counts = counts.reshape(n_boot, n_days).astype(np.float64)
    centre = r.mean(axis=1)
    dev = r - centre[:, None]  # centred first: a constant return leaves no variance
    shift = counts @ dev.T / n_days  # (n_boot, m): resample mean minus full-sample mean
    var = (counts @ (dev * dev).T - n_days * shift * shift) / (n_days - 1)
    sd = np.sqrt(np.maximum(var, 0.0)).T
    scale = np.sqrt(periods_per_year)

    def ratio(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:  # NaN without variation
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((sd > 0) & (sd > 1e-12 * np.abs(mean)), mean / sd * scale, np.nan)

    full = ratio(centre, r.std(axis=1, ddof=1))
    return full, ratio(centre[:, None] + shift.T, sd)
