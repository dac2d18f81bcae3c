"""Forecast statistics against hand-computed cases, and causal positions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from qmml.supervised.forecast_stats import (
    diebold_mariano,
    directional_accuracy,
    historical_mean_forecast,
    mse_ratio,
    oos_r2,
    pesaran_timmermann,
)
from qmml.supervised.positions import forecast_positions


def test_dm_one_step_by_hand():
    e1 = np.array([1.0, 2.0, 0.0, 1.0, 3.0])
    e2 = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    d = np.array([0.0, 3.0, -1.0, 0.0, 8.0])  # e1^2 - e2^2
    dbar = 2.0
    gamma0 = np.mean((d - dbar) ** 2)  # (4 + 1 + 9 + 4 + 36) / 5 = 10.8
    assert gamma0 == pytest.approx(10.8)
    dm = dbar / math.sqrt(10.8 / 5)
    r = diebold_mariano(e1, e2, small_sample=False)
    assert r.statistic == pytest.approx(dm)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(dm))
    assert r.mean_loss_diff == pytest.approx(2.0) and r.long_run_var == pytest.approx(10.8)
    hln = diebold_mariano(e1, e2)  # h = 1: factor sqrt((n - 1) / n)
    assert hln.statistic == pytest.approx(dm * math.sqrt(4 / 5))
    assert hln.p_value == pytest.approx(2 * stats.t(df=4).sf(dm * math.sqrt(4 / 5)))


def test_dm_two_step_hac_by_hand():
    e1 = np.array([2.0, 0.0, 1.0, 3.0, 1.0, 2.0])
    e2 = np.zeros(6)
    d = e1**2  # [4, 0, 1, 9, 1, 4], mean 19/6
    dc = d - 19 / 6
    g0 = np.sum(dc * dc) / 6
    g1 = np.sum(dc[1:] * dc[:-1]) / 6
    for kernel, w in (("bartlett", 0.5), ("truncated", 1.0)):
        lrv = g0 + 2 * w * g1
        r = diebold_mariano(e1, e2, horizon=2, kernel=kernel, small_sample=False)
        assert r.long_run_var == pytest.approx(lrv)
        assert r.statistic == pytest.approx((19 / 6) / math.sqrt(lrv / 6))
    r = diebold_mariano(e1, e2, horizon=2)
    factor = math.sqrt((6 + 1 - 4 + 2 * 1 / 6) / 6)
    assert r.statistic == pytest.approx((19 / 6) / math.sqrt((g0 + g1) / 6) * factor)
    assert diebold_mariano(e1, e2, horizon=2, alternative="greater").p_value < 0.5


def test_dm_absolute_loss_sign():
    rng = np.random.default_rng(0)
    good, bad = 0.5 * rng.standard_normal(300), rng.standard_normal(300)
    r = diebold_mariano(good, bad, loss="absolute", alternative="less")
    assert r.statistic < -3 and r.p_value < 0.01


def test_pt_by_hand():
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0, -1.0])
    x = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    n, p, py, px = 8, 6 / 8, 0.5, 0.5
    p_star = py * px + (1 - py) * (1 - px)  # 0.5
    v_p = p_star * (1 - p_star) / n
    v_star = 4 * py * px * (1 - py) * (1 - px) / n**2  # the (2p-1)^2 terms vanish
    s = (p - p_star) / math.sqrt(v_p - v_star)
    r = pesaran_timmermann(y, x)
    assert (r.hit_rate, r.expected_hit_rate) == (p, p_star)
    assert r.statistic == pytest.approx(s)
    assert r.p_value == pytest.approx(stats.norm.sf(s))
    assert directional_accuracy(y, x) == p


def test_pt_asymmetric_case():
    y = np.array([1.0, 1.0, 1.0, -1.0, 1.0])
    x = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    n, py, px = 5, 0.8, 0.6
    p_star = py * px + (1 - py) * (1 - px)  # 0.56
    v_star = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    s = (0.8 - p_star) / math.sqrt(p_star * (1 - p_star) / n - v_star)
    assert pesaran_timmermann(y, x).statistic == pytest.approx(s)


def test_oos_r2_and_mse_ratio():
    y = np.array([1.0, 2.0, 3.0])
    f = np.array([1.0, 2.0, 2.0])  # SSE 1
    b = np.array([2.0, 2.0, 2.0])  # SSE 2
    assert oos_r2(y, f, b) == pytest.approx(0.5)
    assert mse_ratio(y, f, b) == pytest.approx(0.5)
    assert oos_r2(y, b, b) == 0.0


def test_historical_mean_uses_only_the_past():
    out = historical_mean_forecast(np.array([2.0, 4.0, 6.0, 100.0]))
    assert np.isnan(out[0]) and list(out[1:]) == [2.0, 3.0, 4.0]
    assert np.isnan(historical_mean_forecast(np.arange(5.0), min_periods=3)[:3]).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: diebold_mariano(np.ones(5), np.zeros(5), horizon=0), "horizon must be a positive"),
        (
            lambda: diebold_mariano(np.ones(5), np.zeros(5), horizon=-2),
            "horizon must be a positive",
        ),
        (lambda: diebold_mariano(np.ones(5), np.ones(5)), "do not differ"),
        (lambda: diebold_mariano(np.ones(5), np.zeros(4)), "one length"),
        (lambda: diebold_mariano(np.ones(5), np.zeros(5), loss="huber"), "unknown loss"),
        (lambda: pesaran_timmermann(np.ones(5), np.ones(5)), "never change"),
        (lambda: oos_r2([1.0, np.nan], [1.0, 1.0], [0.0, 0.0]), "NaN"),
        (lambda: forecast_positions(np.ones(5), rule="sgn"), "did you mean 'sign'"),
        (lambda: forecast_positions(np.ones(5), rule="linear", window=6), "longer than the series"),
        (lambda: forecast_positions(np.ones(5), rule="vol-target"), "needs returns"),
    ],
)
def test_errors_are_one_line(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_position_rules():
    f = np.array([0.5, -0.2, 0.0, np.nan, 0.1])
    assert list(forecast_positions(f)) == [1.0, -1.0, 0.0, 0.0, 1.0]
    r = np.full(5, 0.02)
    r[::2] = -0.02  # std 0.0196
    pos = forecast_positions(f, rule="vol-target", returns=r, min_periods=2, target_vol=0.01)
    assert pos[0] == 0.0 and abs(pos[1]) == pytest.approx(0.5)
    lin = forecast_positions(f, rule="linear", min_periods=2, max_abs=2.0)
    assert np.all(np.abs(lin) <= 2.0) and lin[1] < 0


finite = st.floats(-0.1, 0.1, allow_nan=False, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(
    f=arrays(np.float64, 40, elements=finite),
    r=arrays(np.float64, 40, elements=finite),
    tail=arrays(np.float64, 40, elements=finite),
    t=st.integers(0, 39),
    rule=st.sampled_from(["sign", "linear", "vol-target"]),
    window=st.sampled_from([None, 5, 40]),
)
def test_positions_use_only_data_up_to_t(f, r, tail, t, rule, window):
    kw = dict(rule=rule, returns=r, window=window, min_periods=3)
    base = forecast_positions(f, **kw)
    f2, r2 = f.copy(), r.copy()
    f2[t + 1 :], r2[t + 1 :] = tail[t + 1 :], tail[::-1][t + 1 :]
    moved = forecast_positions(f2, **{**kw, "returns": r2})
    np.testing.assert_allclose(moved[: t + 1], base[: t + 1], rtol=1e-9, atol=1e-12)
