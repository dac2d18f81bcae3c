"""Performance metrics as pure functions of arrays; each name carries its unit.

Conventions: ``equity`` is the portfolio value after each bar (first entry: the start);
returns are simple per-bar returns ``E_t / E_{t-1} - 1``; a year has ``periods_per_year``
bars (252 trading days). Ratios are annualised with the square root of that, use the
sample standard deviation (ddof=1) and a zero risk-free rate unless one is given.
Degenerate inputs (no variation, no losses, no trades) give ``nan`` or ``inf`` rather
than raising, so a table of many strategies always fills.

These functions are the definition; :mod:`~qmml.envs.market.backtest.metric_kernels` computes
the same values, bit for bit, for every path of a grid in one compiled pass.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "annual_volatility_pct",
    "cagr_pct",
    "calmar_ratio",
    "drawdown",
    "exposure_pct",
    "max_drawdown_duration_bars",
    "max_drawdown_pct",
    "profit_factor",
    "returns_of",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return_pct",
    "turnover_annual",
    "win_rate_pct",
]

YEAR = 252


def returns_of(equity: np.ndarray) -> np.ndarray:
    """Simple returns per bar of an equity curve (length - 1 values)."""
    e = np.asarray(equity, dtype=np.float64)
    return e[1:] / e[:-1] - 1.0


def total_return_pct(equity: np.ndarray) -> float:
    """``100 * (E_last / E_first - 1)``."""
    e = np.asarray(equity, dtype=np.float64)
    if len(e) == 0:
        return float("nan")
    return float(100.0 * (e[-1] / e[0] - 1.0))


def cagr_pct(equity: np.ndarray, periods_per_year: int = YEAR) -> float:
    """Compound annual growth rate in percent, over ``len(equity) - 1`` bars."""
    e = np.asarray(equity, dtype=np.float64)
    years = (len(e) - 1) / periods_per_year
    if years <= 0 or e[-1] <= 0:
        return float("nan") if years <= 0 else -100.0
    return float(100.0 * ((e[-1] / e[0]) ** (1.0 / years) - 1.0))


def annual_volatility_pct(returns: np.ndarray, periods_per_year: int = YEAR) -> float:
    """Standard deviation of returns (ddof=1) times ``sqrt(periods_per_year)``, in percent."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return float("nan")
    return float(100.0 * r.std(ddof=1) * np.sqrt(periods_per_year))


def sharpe_ratio(
    returns: np.ndarray, risk_free_annual: float = 0.0, periods_per_year: int = YEAR
) -> float:
    """Annualised Sharpe ratio: ``mean(r - rf) / std(r) * sqrt(periods_per_year)``."""
    r = np.asarray(returns, dtype=np.float64) - risk_free_annual / periods_per_year
    if len(r) < 2:
        return float("nan")
    sd, mean = r.std(ddof=1), r.mean()
    # a constant return leaves only rounding noise in sd (~1e-18): no variation, no ratio
    if sd == 0 or sd <= 1e-12 * abs(mean):
        return float("nan")
    return float(mean / sd * np.sqrt(periods_per_year))


def sortino_ratio(
    returns: np.ndarray, risk_free_annual: float = 0.0, periods_per_year: int = YEAR
) -> float:
    """Annualised Sortino ratio: mean excess return over the downside deviation
    ``sqrt(mean(min(r - rf, 0)^2))`` (all bars count in the mean, the usual definition)."""
    r = np.asarray(returns, dtype=np.float64) - risk_free_annual / periods_per_year
    if len(r) < 1:
        return float("nan")
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    if downside == 0:
        return float("inf") if r.mean() > 0 else float("nan")
    return float(r.mean() / downside * np.sqrt(periods_per_year))


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown after each bar as a fraction: ``E_t / max(E_0..E_t) - 1`` (<= 0)."""
    e = np.asarray(equity, dtype=np.float64)
    return e / np.maximum.accumulate(e) - 1.0


def max_drawdown_pct(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall in percent, as a negative number (0 if none)."""
    dd = drawdown(equity)
    return float(100.0 * dd.min()) if len(dd) else float("nan")


def max_drawdown_duration_bars(equity: np.ndarray) -> int:
    """Longest stretch of bars spent below a previous peak (to recovery or to the end)."""
    under = drawdown(equity) < 0
    if not under.any():
        return 0
    i = np.arange(len(under))
    last_peak = np.maximum.accumulate(np.where(under, -1, i))  # latest bar not under water
    return int((i - last_peak)[under].max())


def calmar_ratio(equity: np.ndarray, periods_per_year: int = YEAR) -> float:
    """CAGR divided by the absolute maximum drawdown (both in percent)."""
    mdd = max_drawdown_pct(equity)
    if mdd == 0:
        return float("nan")
    return float(cagr_pct(equity, periods_per_year) / abs(mdd))


def exposure_pct(units: np.ndarray) -> float:
    """Share of bars holding any position, in percent. ``units``: (bars,) or (bars, assets)."""
    u = np.asarray(units, dtype=np.float64)
    if len(u) == 0:
        return float("nan")
    u = u.reshape(len(u), -1)
    return float(100.0 * np.mean((u != 0).any(axis=1)))


def turnover_annual(
    traded_value: np.ndarray, equity: np.ndarray, periods_per_year: int = YEAR
) -> float:
    """Traded value per year as a multiple of the average equity (one full round trip of the
    whole portfolio counts 2). ``traded_value`` has one entry per bar."""
    tv = np.asarray(traded_value, dtype=np.float64)
    e = np.asarray(equity, dtype=np.float64)
    years = len(tv) / periods_per_year
    if years <= 0 or e.mean() <= 0:
        return float("nan")
    return float(tv.sum() / e.mean() / years)


def win_rate_pct(trade_pnl: np.ndarray) -> float:
    """Share of trades with a positive profit, in percent (nan without trades)."""
    p = np.asarray(trade_pnl, dtype=np.float64)
    return float(100.0 * np.mean(p > 0)) if len(p) else float("nan")


def profit_factor(trade_pnl: np.ndarray) -> float:
    """Gross profit of winning trades over gross loss of losing trades."""
    p = np.asarray(trade_pnl, dtype=np.float64)
    gain, loss = p[p > 0].sum(), -p[p < 0].sum()
    if loss == 0:
        return float("inf") if gain > 0 else float("nan")
    return float(gain / loss)
