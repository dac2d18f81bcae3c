"""The compiled observation kernel gives the bytes of its NumPy meaning."""

from __future__ import annotations

import numpy as np
import pytest

from qmml.envs.market.vec_kernels import observe_windows

BOUND = 50.0


def _numpy_meaning(bars, logc, days, window, rel, units, close, cash, equity):
    n, n_assets = units.shape
    n_feat = bars.shape[1] // n_assets
    ws = window * n_assets * n_feat
    out = np.empty((n, ws + n_assets + 1), np.float32)
    rows = days[:, None] + np.arange(1 - window, 1)
    win = out[:, :ws].reshape(n, window, n_assets, n_feat)
    win[...] = bars.reshape(len(bars), n_assets, n_feat)[rows]
    if rel >= 0:
        win[..., rel] = np.clip(logc[rows] - logc[days][:, None, :], -BOUND, BOUND)
    e = equity[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, ws:-1] = np.clip(units * close / e, -BOUND, BOUND)
        out[:, -1] = np.clip(cash / equity, -BOUND, BOUND)
    return out


@pytest.mark.parametrize(("n_assets", "n_feat", "rel"), [(1, 7, 0), (3, 2, 1), (2, 3, -1)])
def test_observe_windows_is_bit_identical_to_numpy(n_assets: int, n_feat: int, rel: int) -> None:
    rng = np.random.default_rng(n_assets)
    n_rows, window, n = 90, 6, 40
    bars = rng.normal(0, 20, (n_rows, n_assets * n_feat)).astype(np.float32)
    logc = rng.normal(0, 30, (n_rows, n_assets))  # large: the clip to ±50 matters
    days = rng.integers(window - 1, n_rows, n)
    units = rng.normal(0, 100, (n, n_assets))
    units[0] = -0.0
    units[1, 0] = np.nan
    close = rng.uniform(1, 200, (n, n_assets))
    cash = rng.normal(0, 1e5, n)
    equity = rng.normal(0, 1e5, n)
    equity[:4] = [0.0, 0.0, -0.0, 1e-300]  # ±inf and NaN weights, as a wiped-out portfolio
    cash[0] = 0.0
    out = np.full((n, window * n_assets * n_feat + n_assets + 1), 7.0, np.float32)
    observe_windows(out, bars, logc, days, window, rel, units, close, cash, equity, BOUND)
    want = _numpy_meaning(bars, logc, days, window, rel, units, close, cash, equity)
    assert np.isnan(want).any() and (np.abs(want) == BOUND).any()
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))


def test_a_window_outside_the_rows_is_an_error() -> None:
    bars, logc = np.zeros((10, 2), np.float32), np.zeros((10, 1))
    one = np.ones((1, 1))
    out = np.empty((1, 3 * 2 + 2), np.float32)
    for day in (1, 10):  # the window starts before row 0; the day is past the last row
        with pytest.raises(IndexError, match="outside the feature rows"):
            observe_windows(out, bars, logc, np.array([day]), 3, 0, one, one, one[0], one[0], 1.0)
