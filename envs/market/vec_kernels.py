"""Compiled observation assembly for :class:`~envs.market.vec_env.MarketVecEnv`.

An observation is a window of per-day features (W days x N assets x F features, C order)
followed by the portfolio: the weight of each asset and the cash weight (see
:class:`~envs.market.features.ObservationLayout`). In NumPy, for n environments, building
the observations takes two gathers and a handful of passes over small temporaries::

    rows = days[:, None] + np.arange(1 - W, 1)     # (n, W): day t is the last row
    win = out[:, :ws].reshape(n, W, N, F)
    win[:] = bars[rows]
    win[..., rel] = np.clip(log_close[rows] - log_close[days][:, None], -b, b)
    # then the portfolio (_fill_portfolio)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, ws:-1] = np.clip(units * close / equity[:, None], -b, b)
        out[:, -1] = np.clip(cash / equity, -b, b)

The kernel does the same in one pass over ``out``. Every value is computed with the same IEEE
operations in the same order (one subtraction; or a product then a quotient; float64, no
FMA, since numba only contracts under ``fastmath``), clipped by ``np.clip``'s rules (NaN
stays NaN) and rounded to float32 as a NumPy assignment rounds, so the bytes equal those of
the lines above (``tests/envs/market/test_vec_kernels.py`` compares them, and the vec env's
golden digests pin whole rollouts). Division by zero gives ±inf or
NaN, as NumPy does (``error_model="numpy"``), and the clip turns ±inf into ±bound. Indices
are cast to unsigned after their bounds are checked: numba then drops its negative-index
wraparound branches and vectorises the copies (explicit loops: numba's slice assignment is
about 4x slower here).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["observe_windows"]

_U = np.uint64  # unsigned index: no wraparound check


@njit(cache=True, error_model="numpy")
def _clip(x: float, bound: float) -> float:
    if x < -bound:  # NaN compares false both times and is kept, as in np.clip
        return -bound
    if x > bound:
        return bound
    return x


@njit(cache=True, error_model="numpy")
def _fill_portfolio(
    out: np.ndarray,
    ws: int,
    units: np.ndarray,
    close: np.ndarray,
    cash: np.ndarray,
    equity: np.ndarray,
    bound: float,
) -> None:
    """Write the portfolio columns ``out[:, ws:]`` of n observations.

    NumPy meaning: ``out[:, ws:-1] = clip(units * close / equity[:, None])`` and
    ``out[:, -1] = clip(cash / equity)``, clipped to ``±bound``.

    Args:
        out: (n, ws + N + 1) float32 observations.
        ws: length of the window block.
        units: (n, N) units held.
        close: (n, N) closes of each environment's current day.
        cash: (n,) cash.
        equity: (n,) equity.
        bound: the observation bound.
    """
    n, n_assets = units.shape
    for i in range(n):
        e = equity[i]
        for j in range(n_assets):
            out[i, ws + j] = _clip(units[i, j] * close[i, j] / e, bound)
        out[i, ws + n_assets] = _clip(cash[i] / e, bound)


@njit(cache=True, error_model="numpy")
def observe_windows(
    out: np.ndarray,
    bars: np.ndarray,
    log_close: np.ndarray,
    days: np.ndarray,
    window: int,
    rel: int,
    units: np.ndarray,
    close: np.ndarray,
    cash: np.ndarray,
    equity: np.ndarray,
    bound: float,
) -> None:
    """n observations: the feature window ending at row ``days[i]``, then the portfolio.

    Channel ``rel`` (``rel_close``, or -1 for none) is ``clip(log_close[s] - log_close[t])``
    for each day s of the window ending at t; the other channels are copied from ``bars``.

    Args:
        out: (n, window * N * F + N + 1) float32 observations, C-contiguous (written).
        bars: (R, N * F) float32 per-day features, C-contiguous.
        log_close: (R, N) float64 log closes of the same rows, C-contiguous.
        days: (n,) row of each environment's current day; the caller guarantees that its
            window stays inside that environment's own market.
        window: days per window.
        rel: the channel of ``rel_close``, or -1.
        units, close, cash, equity, bound: as in :func:`_fill_portfolio`.

    Raises:
        IndexError: a window outside the rows.
    """
    n_rows, row_size = bars.shape
    n_assets = log_close.shape[1]
    n_feat = row_size // n_assets
    ws, size = window * row_size, out.shape[1]
    flat, logc, dst = bars.reshape(-1), log_close.reshape(-1), out.reshape(-1)
    for i in range(days.shape[0]):
        last = days[i]
        if last - window + 1 < 0 or last >= n_rows:
            raise IndexError("observation window outside the feature rows")
        src, at = _U((last + 1) * row_size - ws), _U(i * size)
        for k in range(ws):
            dst[at + _U(k)] = flat[src + _U(k)]
        if rel >= 0:
            first = _U((last - window + 1) * n_assets)
            at += _U(rel)
            for a in range(n_assets):
                today = logc[_U(last * n_assets + a)]
                for w in range(window):
                    j = _U(w * n_assets + a)  # (day w, asset a) of the window
                    dst[at + j * _U(n_feat)] = _clip(logc[first + j] - today, bound)
    _fill_portfolio(out, ws, units, close, cash, equity, bound)
