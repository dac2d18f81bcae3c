"""The compiled moving sums and SMA crossings equal the NumPy code they replaced, bit for bit;
a batch of crossovers decides what each decides alone."""

from __future__ import annotations

import numpy as np
import pytest

from qmml.agents.strategies import SmaCrossover, _prices
from qmml.agents.strategy_kernels import window_sums

FEATURES = ("rel_close",)


def _numpy_sum(p: np.ndarray, n: int, shift: int, power: int) -> np.ndarray:
    """``strategies._sum`` before the kernel."""
    last = p.shape[0] - 1 - shift
    acc = p[last - n + 1] ** power if power != 1 else p[last - n + 1].copy()
    for j in range(last - n + 2, last + 1):
        np.add(acc, p[j] ** power if power != 1 else p[j], out=acc)
    return acc


def _numpy_decide(s: SmaCrossover, window: np.ndarray) -> np.ndarray:
    """``SmaCrossover.decide`` before the kernel."""
    p = _prices(window, FEATURES, None)
    n = p.shape[2]
    f_now = _numpy_sum(p, s.fast, 0, 1) / s.fast
    s_now = _numpy_sum(p, s.slow, 0, 1) / s.slow
    f_prev = _numpy_sum(p, s.fast, 1, 1) / s.fast
    s_prev = _numpy_sum(p, s.slow, 1, 1) / s.slow
    up = (f_prev < s_prev) & (f_now > s_now)
    down = (f_prev > s_prev) & (f_now < s_now)
    exit_w = -1.0 / n if s.allow_short else 0.0
    return np.where(up, 1.0 / n, np.where(down, exit_w, np.nan))


def _windows(rng: np.random.Generator, days: int, w: int, n: int) -> np.ndarray:
    rel = np.cumsum(rng.normal(0, 0.01, (days, w, n)), axis=1)
    return (rel - rel[:, -1:, :])[..., None].astype(np.float32)  # 0 on the last row


@pytest.mark.parametrize("shape", [(41, 1, 1), (41, 300, 1), (61, 257, 3), (12, 600, 2)])
def test_window_sums_equal_the_numpy_loop(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    p = np.exp(rng.normal(0, 0.05, shape))
    w, b, n = shape
    for length, shift, power in [(1, 0, 1), (5, 1, 1), (w - 1, 1, 2), (w, 0, 2), (w // 2, 0, 1)]:
        last = w - 1 - shift
        got = window_sums(
            p.reshape(w, b * n), np.array([last - length + 1]), np.array([last]), power == 2
        ).reshape(b, n)
        assert got.tobytes() == _numpy_sum(p, length, shift, power).tobytes()


@pytest.mark.parametrize("n_assets", [1, 3])
def test_sma_decide_equals_the_numpy_code_and_batches_agree(n_assets: int) -> None:
    rng = np.random.default_rng(n_assets)
    window = _windows(rng, 700, 52, n_assets)
    grid = [SmaCrossover(f, s, short) for f in (2, 5, 9) for s in (10, 30, 51) for short in (0, 1)]
    batch = SmaCrossover.decide_batch(grid, window, FEATURES, {})
    assert batch.shape == (700, len(grid), n_assets)
    for g, s in enumerate(grid):
        want = _numpy_decide(s, window)
        assert s.decide(window, FEATURES).tobytes() == want.tobytes()
        assert np.ascontiguousarray(batch[:, g]).tobytes() == want.tobytes()
    assert np.isfinite(batch).any() and np.isnan(batch).any()  # crossings and holds


def test_decide_batch_needs_a_long_enough_window() -> None:
    window = _windows(np.random.default_rng(0), 5, 20, 1)
    with pytest.raises(ValueError, match="shorter than a crossover's look-back"):
        SmaCrossover.decide_batch([SmaCrossover(5, 20)], window, FEATURES)
