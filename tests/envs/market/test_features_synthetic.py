"""Features (definitions, causality) and the seeded synthetic markets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmml.envs.market.features import FEATURES, FeatureTable, ObservationLayout, bar_features
from qmml.envs.market.synthetic import gbm, jump_diffusion, regime_switching


@pytest.mark.parametrize(
    "make",
    [
        lambda s: gbm(300, 3, seed=s, corr=0.5),
        lambda s: regime_switching(300, 2, seed=s)[0],
        lambda s: jump_diffusion(300, 2, seed=s, jump_rate=20),
    ],
)
def test_synthetic_seeded_and_valid(make) -> None:
    a, b, c = make(1), make(1), make(2)
    np.testing.assert_array_equal(a.close, b.close)
    np.testing.assert_array_equal(a.open, b.open)
    assert not np.array_equal(a.close, c.close)
    assert a.close[0].tolist() == [100.0] * a.n_assets
    assert (a.high >= np.maximum(a.open, a.close)).all()
    assert (a.low <= np.minimum(a.open, a.close)).all()


def test_synthetic_statistics() -> None:
    m = gbm(50_000, seed=0, mu=0.1, sigma=0.2)
    r = np.diff(np.log(m.close[:, 0]))
    assert r.std() * np.sqrt(252) == pytest.approx(0.2, rel=0.02)
    assert r.mean() * 252 == pytest.approx(0.1 - 0.02, abs=0.03)
    corr = np.corrcoef(np.diff(np.log(gbm(20_000, 2, seed=1, corr=0.6).close), axis=0).T)[0, 1]
    assert corr == pytest.approx(0.6, abs=0.03)
    m, regimes = regime_switching(20_000, seed=2)
    assert set(np.unique(regimes)) == {0, 1}
    r = np.diff(np.log(m.close[:, 0]))
    assert r[regimes[1:] == 1].std() > 2 * r[regimes[1:] == 0].std()  # the volatile regime
    jd = np.diff(
        np.log(
            jump_diffusion(20_000, seed=3, jump_rate=10, jump_mean=-0.1, jump_std=0.01).close[:, 0]
        )
    )
    assert (jd < -0.07).sum() > 100  # the jumps are there
    with pytest.raises(ValueError, match="corr"):
        gbm(10, corr=1.0)
    with pytest.raises(ValueError, match="summing to 1"):
        regime_switching(10, transition=((0.5, 0.4), (0.5, 0.5)))
    with pytest.raises(ValueError, match="n_days"):
        gbm(1)


def test_feature_definitions() -> None:
    m = gbm(200, seed=4)
    c = m.close[:, 0]
    f = bar_features(m.close, FEATURES)
    k = {n: i for i, n in enumerate(FEATURES)}
    t = 150
    assert f[t, 0, k["ret"]] == pytest.approx(100 * np.log(c[t] / c[t - 1]))
    assert f[t, 0, k["mom20"]] == pytest.approx(100 * np.log(c[t] / c[t - 20]) / np.sqrt(20))
    r = np.diff(np.log(c))[t - 20 : t]
    assert f[t, 0, k["vol20"]] == pytest.approx(r.std() * np.sqrt(252))
    win = c[t - 19 : t + 1]
    assert f[t, 0, k["bb20"]] == pytest.approx((c[t] - win.mean()) / win.std())
    assert np.nanmax(np.abs(f[:, 0, k["rsi14"]])) <= 1.0
    assert np.isnan(f[32, 0, k["macd"]]) and np.isfinite(f[33, 0, k["macd"]])
    assert FeatureTable.build(m).first_valid == 33
    with pytest.raises(ValueError, match="unknown feature 'rsi'"):
        bar_features(m.close, ("rsi",))
    with pytest.raises(ValueError, match="without repeats"):
        FeatureTable.build(m, ("ret", "ret"))


@settings(max_examples=20, deadline=None)
@given(t=st.integers(40, 180), factor=st.floats(0.1, 10.0), seed=st.integers(0, 20))
def test_features_use_no_future_data(t: int, factor: float, seed: int) -> None:
    m = gbm(200, 2, seed=seed)
    changed = m.close.copy()
    changed[t + 1 :] *= factor * np.linspace(1, 2, 200 - t - 1)[:, None]
    a, b = bar_features(m.close, FEATURES), bar_features(changed, FEATURES)
    np.testing.assert_array_equal(a[: t + 1], b[: t + 1])


def test_layout_unpacks_flat_observations() -> None:
    lay = ObservationLayout(window=4, n_assets=2, features=("rel_close", "ret", "vol20"))
    assert lay.window_size == 24 and lay.portfolio_size == 3 and lay.size == 27
    obs = np.arange(2 * 27, dtype=np.float32).reshape(2, 27)
    win, port = lay.unpack(obs)
    assert win.shape == (2, 4, 2, 3) and port.shape == (2, 3)
    assert win[1, 3, 1, 2] == obs[1, 23] and port[0, 2] == 26
