import numpy as np
import pytest

from experiments.stats import (
    bootstrap_curve,
    bootstrap_diff,
    bootstrap_mean,
    iqm,
    probability_of_improvement,
    rank_p_value,
)


def test_bootstrap_mean_contains_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_mean(rng.normal(1.0, 1.0, 10))
    large = bootstrap_mean(rng.normal(1.0, 1.0, 1000))
    assert small.low <= small.estimate <= small.high
    assert (large.high - large.low) < (small.high - small.low)
    assert large.low < 1.0 < large.high


def test_bootstrap_mean_coverage_is_near_nominal():
    # 95% intervals should cover the true mean in roughly 95% of repeated experiments
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(200):
        ci = bootstrap_mean(rng.normal(0.0, 1.0, 30), n_boot=500, seed=i)
        covered += ci.low < 0.0 < ci.high
    assert 0.88 <= covered / 200 <= 0.99


def test_bootstrap_is_reproducible_and_degenerate_cases():
    x = np.array([1.0, 2.0, 4.0])
    assert bootstrap_mean(x) == bootstrap_mean(x)
    one = bootstrap_mean(np.array([3.0]))
    assert (one.estimate, one.low, one.high, one.n) == (3.0, 3.0, 3.0, 1)
    assert np.isnan(bootstrap_mean(np.array([])).estimate)
    assert bootstrap_mean(np.array([1.0, np.nan, 3.0])).estimate == 2.0


def test_bootstrap_curve_shapes_and_band():
    y = np.vstack([np.arange(5.0), np.arange(5.0) + 2, np.arange(5.0) + 4])
    mean, lo, hi = bootstrap_curve(y)
    np.testing.assert_allclose(mean, np.arange(5.0) + 2)
    assert np.all(lo <= mean) and np.all(mean <= hi)
    assert np.all(lo >= np.arange(5.0)) and np.all(hi <= np.arange(5.0) + 4)
    m1, l1, h1 = bootstrap_curve(y[:1])
    np.testing.assert_array_equal(m1, l1)
    np.testing.assert_array_equal(m1, h1)
    with pytest.raises(ValueError, match="2-D"):
        bootstrap_curve(np.arange(3.0))


def test_iqm_hand_computed():
    # middle 50% of 1..8 is 3,4,5,6
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    assert iqm(np.array([1.0, 2.0, 3.0, 1000.0])) == pytest.approx(2.5)


def test_probability_of_improvement_hand_computed():
    assert probability_of_improvement(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    assert probability_of_improvement(np.array([1.0]), np.array([1.0])) == 0.5
    # pairs: (1,0)>,(1,2)<,(3,0)>,(3,2)> -> 3/4
    assert probability_of_improvement(np.array([1.0, 3.0]), np.array([0.0, 2.0])) == 0.75


def test_bootstrap_diff_sign():
    d = bootstrap_diff(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0, 3.0]))
    assert d.estimate == pytest.approx(4.0)
    assert d.low > 0


def test_rank_p_value():
    ref = np.arange(99.0)  # 0..98
    assert rank_p_value(1000.0, ref) == pytest.approx(1 / 100)
    assert rank_p_value(-1.0, ref) == pytest.approx(1.0)
    assert rank_p_value(49.0, ref) == pytest.approx((1 + 50) / 100)
    assert rank_p_value(-1.0, ref, higher_is_better=False) == pytest.approx(1 / 100)
