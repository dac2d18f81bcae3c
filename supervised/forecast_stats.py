"""Forecast evaluation statistics: pure functions of NumPy arrays (NumPy and SciPy only).

- :func:`diebold_mariano` — equal predictive accuracy of two forecasts (Diebold & Mariano
  1995), long-run variance of the loss differential by a HAC (Newey–West) estimator over
  ``h - 1`` lags for an ``h``-step horizon, with the Harvey–Leybourne–Newbold (1997)
  small-sample correction and Student-t p-values.
- :func:`pesaran_timmermann` — does the forecast predict the *direction* better than chance
  (Pesaran & Timmermann 1992)? One-sided normal test.
- :func:`oos_r2` — out-of-sample R² against a benchmark forecast (Campbell & Thompson 2008);
  :func:`mse_ratio`, :func:`directional_accuracy`, and :func:`historical_mean_forecast`, the
  usual benchmark, which uses only observations before t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "DMResult",
    "PTResult",
    "diebold_mariano",
    "directional_accuracy",
    "historical_mean_forecast",
    "mse_ratio",
    "oos_r2",
    "pesaran_timmermann",
]

_LOSSES = ("squared", "absolute")
_KERNELS = ("bartlett", "truncated")


def _vectors(*arrays: np.ndarray, names: tuple[str, ...], min_n: int = 2) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    n = out[0].shape
    for name, a in zip(names, out, strict=True):
        if a.ndim != 1 or a.shape != n:
            raise ValueError(
                f"{', '.join(names)} must be 1-d arrays of one length; {name} has shape {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has NaN or infinite values; drop those periods first")
    if n[0] < min_n:
        raise ValueError(f"need at least {min_n} observations, got {n[0]}")
    return out


@dataclass(frozen=True)
class DMResult:
    """Diebold–Mariano test of ``E[L(e1) - L(e2)] = 0``.

    Attributes:
        statistic: DM (HLN-corrected when asked); < 0 means forecast 1 has the lower loss.
        p_value: from Student t with n - 1 degrees of freedom (normal without the correction).
        mean_loss_diff: mean of ``d_t = L(e1_t) - L(e2_t)``.
        long_run_var: HAC estimate of the long-run variance of ``d_t``.
        n: observations. horizon: h.
    """

    statistic: float
    p_value: float
    mean_loss_diff: float
    long_run_var: float
    n: int
    horizon: int


def diebold_mariano(
    errors_1: np.ndarray,
    errors_2: np.ndarray,
    *,
    horizon: int = 1,
    loss: str = "squared",
    kernel: str = "bartlett",
    small_sample: bool = True,
    alternative: str = "two-sided",
) -> DMResult:
    """Diebold–Mariano test on forecast errors ``e = actual - forecast`` of two models.

    ``d_t = L(e1_t) - L(e2_t)``; ``γ_k = (1/n) Σ_{t>=k} (d_t - d̄)(d_{t-k} - d̄)``;
    long-run variance ``γ_0 + 2 Σ_{k=1}^{h-1} w_k γ_k`` with Bartlett weights
    ``w_k = 1 - k/h`` (Newey–West, never negative) or ``w_k = 1`` (``"truncated"``, the
    original DM). ``DM = d̄ / sqrt(lrv / n)``, times ``sqrt((n + 1 - 2h + h(h-1)/n) / n)``
    with ``small_sample``.

    Args:
        horizon: h >= 1, the forecast horizon (h-step errors are MA(h-1) under the null).
        loss: ``"squared"`` or ``"absolute"``.
        alternative: ``"two-sided"``, ``"less"`` (model 1 more accurate) or ``"greater"``.

    Raises:
        ValueError: horizon <= 0, unknown loss/kernel/alternative, bad arrays, or a zero
            long-run variance (identical losses).
    """
    if not isinstance(horizon, int | np.integer) or horizon <= 0:
        raise ValueError(
            f"horizon must be a positive integer (1 = one step ahead), got {horizon!r}"
        )
    for name, value, allowed in (
        ("loss", loss, _LOSSES),
        ("kernel", kernel, _KERNELS),
        ("alternative", alternative, ("two-sided", "less", "greater")),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; choose one of {allowed}")
    e1, e2 = _vectors(errors_1, errors_2, names=("errors_1", "errors_2"), min_n=horizon + 2)
    d = e1**2 - e2**2 if loss == "squared" else np.abs(e1) - np.abs(e2)
    n = d.size
    dc = d - d.mean()
    lrv = float(dc @ dc) / n
    for k in range(1, horizon):
        w = 1.0 - k / horizon if kernel == "bartlett" else 1.0
        lrv += 2.0 * w * float(dc[k:] @ dc[:-k]) / n
    if not lrv > 0:
        raise ValueError(
            f"long-run variance of the loss differential is {lrv:.3g}; the losses do not differ"
        )
    dm = d.mean() / np.sqrt(lrv / n)
    if small_sample:
        dm *= np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
        dist = stats.t(df=n - 1)
    else:
        dist = stats.norm()
    if alternative == "two-sided":
        p = 2 * dist.sf(abs(dm))
    elif alternative == "less":
        p = dist.cdf(dm)
    else:
        p = dist.sf(dm)
    return DMResult(float(dm), float(p), float(d.mean()), lrv, n, int(horizon))


@dataclass(frozen=True)
class PTResult:
    """Pesaran–Timmermann directional test.

    Attributes:
        statistic: S_n, asymptotically N(0, 1) when direction is not predicted.
        p_value: one-sided, ``P(Z > S_n)``.
        hit_rate: share of periods where ``actual > 0`` and ``forecast > 0`` agree.
        expected_hit_rate: the hit rate of independent signs with the same frequencies, P*.
    """

    statistic: float
    p_value: float
    hit_rate: float
    expected_hit_rate: float


def pesaran_timmermann(actual: np.ndarray, forecast: np.ndarray) -> PTResult:
    """Pesaran & Timmermann (1992): ``S = (P - P*) / sqrt(V(P) - V(P*))`` with
    ``P*  = p_y p_x + (1 - p_y)(1 - p_x)``, ``V(P) = P*(1 - P*) / n`` and
    ``V(P*) = (2p_y - 1)² p_x(1 - p_x)/n + (2p_x - 1)² p_y(1 - p_y)/n``
    ``+ 4 p_y p_x (1 - p_y)(1 - p_x)/n²``,
    where ``p_y``, ``p_x`` are the shares of ``actual > 0`` and ``forecast > 0``.

    Raises:
        ValueError: bad arrays, or no variation in the signs (the variance is 0).
    """
    y, x = _vectors(actual, forecast, names=("actual", "forecast"))
    n = y.size
    up_y, up_x = y > 0, x > 0
    p = float(np.mean(up_y == up_x))
    py, px = float(up_y.mean()), float(up_x.mean())
    p_star = py * px + (1 - py) * (1 - px)
    v_p = p_star * (1 - p_star) / n
    v_star = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    if not v_p - v_star > 0:
        raise ValueError("the signs of actual or forecast never change; the test is undefined")
    s = (p - p_star) / np.sqrt(v_p - v_star)
    return PTResult(float(s), float(stats.norm.sf(s)), p, p_star)


def oos_r2(actual: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray) -> float:
    """Out-of-sample R²: ``1 - Σ(y - f)² / Σ(y - b)²`` (> 0: the forecast beats the benchmark)."""
    y, f, b = _vectors(
        actual, forecast, benchmark, names=("actual", "forecast", "benchmark"), min_n=1
    )
    den = float(np.sum((y - b) ** 2))
    if den == 0:
        raise ValueError("the benchmark is exact (zero squared error); R² is undefined")
    return 1.0 - float(np.sum((y - f) ** 2)) / den


def mse_ratio(actual: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray) -> float:
    """``MSE(forecast) / MSE(benchmark)`` (< 1: the forecast is more accurate); ``1 - oos_r2``."""
    return 1.0 - oos_r2(actual, forecast, benchmark)


def directional_accuracy(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Share of periods where ``forecast > 0`` agrees with ``actual > 0`` (zero counts as down)."""
    y, x = _vectors(actual, forecast, names=("actual", "forecast"), min_n=1)
    return float(np.mean((y > 0) == (x > 0)))


def historical_mean_forecast(series: np.ndarray, *, min_periods: int = 1) -> np.ndarray:
    """Forecast of ``series[t]`` = mean of ``series[:t]`` (NaN until ``min_periods`` values).

    The benchmark of Welch & Goyal (2008); it uses only observations strictly before t.
    """
    y = np.asarray(series, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"series must be a non-empty 1-d array, got shape {y.shape}")
    if min_periods < 1:
        raise ValueError(f"min_periods must be >= 1, got {min_periods}")
    counts = np.arange(y.size, dtype=np.float64)  # values before t
    sums = np.concatenate([[0.0], np.cumsum(y)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    out[counts < min_periods] = np.nan
    return out
