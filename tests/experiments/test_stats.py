import numpy as np
import pytest

from qmml.envs.market.backtest.metrics import sharpe_ratio
from qmml.experiments.stats import (
    bootstrap_curve,
    bootstrap_diff,
    bootstrap_mean,
    iqm,
    probability_of_improvement,
    rank_p_value,
    sharpe_bootstrap,
    stationary_bootstrap_indices,
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


def test_stationary_bootstrap_resamples_in_blocks():
    idx = stationary_bootstrap_indices(500, 400, mean_block=20.0, seed=1)
    assert idx.shape == (400, 500) and idx.min() >= 0 and idx.max() < 500
    np.testing.assert_array_equal(
        idx, stationary_bootstrap_indices(500, 400, mean_block=20.0, seed=1)
    )
    # a block continues with the next day (wrapping at the end) with probability 1 - 1/20
    cont = (idx[:, 1:] == (idx[:, :-1] + 1) % 500).mean()
    assert cont == pytest.approx(1 - 1 / 20, abs=0.01)
    # every day is about equally likely to be drawn
    counts = np.bincount(idx.ravel(), minlength=500) / idx.size
    assert counts.max() < 3 / 500
    iid = stationary_bootstrap_indices(500, 400, mean_block=1.0, seed=1)
    assert (iid[:, 1:] == (iid[:, :-1] + 1) % 500).mean() < 0.01
    with pytest.raises(ValueError, match="mean_block"):
        stationary_bootstrap_indices(10, 10, mean_block=0.5)


def test_sharpe_bootstrap_point_estimate_and_coverage():
    rng = np.random.default_rng(3)
    daily_mu, daily_sd = 0.0005, 0.01  # true annual Sharpe 0.0005/0.01*sqrt(252) = 0.79
    true = daily_mu / daily_sd * np.sqrt(252)
    r = rng.normal(daily_mu, daily_sd, size=(60, 750))
    sharpe, reps = sharpe_bootstrap(r, n_boot=400, mean_block=5.0, seed=0)
    assert reps.shape == (60, 400)
    assert sharpe[0] == pytest.approx(sharpe_ratio(r[0]), rel=1e-12)  # the metrics' formula
    lo, hi = np.quantile(reps, [0.025, 0.975], axis=1)
    coverage = np.mean((lo <= true) & (true <= hi))
    assert 0.85 <= coverage <= 1.0  # nominal 95%, 60 series


def test_sharpe_bootstrap_is_paired_and_widens_with_dependence():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0004, 0.01, 1000)
    _, reps = sharpe_bootstrap(np.stack([x, x]), n_boot=300)
    np.testing.assert_array_equal(reps[0], reps[1])  # same days: a zero difference
    # autocorrelated returns: blocks keep the dependence, so the interval is wider than iid's
    e = rng.normal(0, 0.01, 3000)
    ar = np.empty_like(e)
    ar[0] = e[0]
    for t in range(1, e.size):
        ar[t] = 0.6 * ar[t - 1] + e[t]
    ar += 0.0003

    def width(mean_block: float) -> float:
        _, rep = sharpe_bootstrap(ar, n_boot=600, mean_block=mean_block, seed=2)
        lo, hi = np.quantile(rep[0], [0.025, 0.975])
        return hi - lo

    assert width(25.0) > 1.4 * width(1.0)
    const = np.full((1, 50), 0.001)
    s, rep = sharpe_bootstrap(const, n_boot=10)
    assert np.isnan(s[0]) and np.isnan(rep).all()  # zero variance: no Sharpe ratio
