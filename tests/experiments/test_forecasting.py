"""The lstm-forecast experiment: a quick run with a report, scalers that see training rows
only, causal positions, spec errors, leaky vs honest, determinism, no torch at import."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import plan_trials, run_experiment, trial_context
from qmml.experiments.spec import SpecError, spec_from_dict
from qmml.experiments.workload import expand_agents, get_workload
from qmml.experiments.workloads.supervised.forecast_data import Fold, fold_data, fold_scalers
from qmml.experiments.workloads.supervised.forecast_trading import signal_positions

NAME = "lstm-forecast"


@pytest.mark.slow
def test_quick_run_and_report(tmp_path):
    spec = apply_quick(resolve_spec(NAME))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.ran == outcome.n_trials > 0 and not outcome.failed
    text = build_report(outcome.run_dir.path).read_text()
    assert "Out-of-sample forecast accuracy" in text and "Trading the forecasts" in text
    assert "beats the zero-return forecast" in text or "beat the zero-return" in text
    assert "buy-and-hold" in text
    curves, scalars = outcome.run_dir.load_tables()
    assert {"equity", "equity_bh", "val_loss"} <= set(curves["metric"])
    assert {"mse_ratio", "oos_r2", "dir_acc", "up_rate", "dm_p", "pt_p", "sharpe_ratio"} <= set(
        scalars["metric"]
    )
    assert scalars["value"].notna().all()


def _trial(spec, agent_name, seed_index=0):
    agent = next(a for a in expand_agents(spec) if a.name == agent_name)
    return get_workload(spec.kind).run_trial(spec, agent, trial_context(spec, seed_index))


def _reproducible(res):
    s = res.scalars
    return s[~s["metric"].str.endswith(("_wall_s", "_cpu_s"))].reset_index(drop=True)


@pytest.mark.parametrize("agent", ["boosted trees", "LSTM"])
def test_same_seed_same_results(agent):
    spec = apply_quick(resolve_spec(NAME))
    first, again = _trial(spec, agent), _trial(spec, agent)
    pd.testing.assert_frame_equal(_reproducible(first), _reproducible(again), check_exact=True)
    pd.testing.assert_frame_equal(first.curves, again.curves, check_exact=True)


def _prices(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(0.01 * rng.standard_normal((n, 2)), axis=0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    train=st.integers(40, 120),
    val=st.integers(15, 40),
    test=st.integers(10, 40),
    window=st.integers(1, 10),
    horizon=st.integers(1, 5),
    scale=st.floats(0.5, 3.0),
)
def test_scalers_see_training_rows_only(seed, train, val, test, window, horizon, scale):
    close = _prices(seed, 1 + train + val + test + 5)
    fold = Fold(0, (1, train), (train + 1, train + val), (train + val + 1, train + val + test))
    changed = close.copy()
    changed[fold.train[1] + 1 :] *= scale  # validation and test prices move
    changed[fold.train[1] + 1 :: 3] *= 1.1
    for leaks in (frozenset(), frozenset({"levels"})):
        kw = dict(window=window, horizon=horizon, leaks=leaks)
        pairs = zip(fold_scalers(close, fold, **kw), fold_scalers(changed, fold, **kw), strict=True)
        for a, b in pairs:
            for sa, sb in zip(a, b, strict=True):
                assert np.array_equal(sa.mean, sb.mean) and np.array_equal(sa.std, sb.std)
        d0, d1 = fold_data(close, fold, **kw), fold_data(changed, fold, **kw)
        assert np.array_equal(d0.x_train, d1.x_train) and np.array_equal(d0.y_train, d1.y_train)
    # the notebook's scaler does see them
    leak = dict(window=window, horizon=horizon, leaks=frozenset({"scaler"}))
    assert not np.array_equal(
        fold_scalers(close, fold, **leak)[0][0].std, fold_scalers(changed, fold, **leak)[0][0].std
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(25, 120),
    cut=st.integers(0, 120),
    rule=st.sampled_from(["sign", "linear", "vol-target"]),
    short=st.booleans(),
)
def test_positions_use_data_up_to_t_only(seed, n, cut, rule, short):
    rng = np.random.default_rng(seed)
    t = min(cut, n - 1)
    f, r = rng.standard_normal((n, 2)), 0.01 * rng.standard_normal((n, 2))
    f2, r2 = f.copy(), r.copy()
    f2[t + 1 :] = rng.standard_normal(f2[t + 1 :].shape) * 5
    r2[t + 1 :] = rng.standard_normal(r2[t + 1 :].shape)
    a = signal_positions(f, r, rule=rule, short=short)
    b = signal_positions(f2, r2, rule=rule, short=short)
    assert np.array_equal(a[: t + 1], b[: t + 1])
    assert np.all(np.abs(a) <= 0.5 + 1e-12) and (short or np.all(a >= 0))


BASE = {
    "name": "t",
    "kind": NAME,
    "seeds": 1,
    "env": {"train_days": 500, "val_days": 100, "test_days": 100},
    "agents": [{"name": "a", "type": "ridge"}],
}


@pytest.mark.parametrize(
    "change, match",
    [
        ({"env": {"train_days": 9000}}, "walk-forward needs"),
        ({"env": {"start": "2022-01-03", "train_days": 500}}, "walk-forward needs"),
        ({"agents": [{"name": "a", "type": "lstn"}]}, "did you mean 'lstm'"),
        ({"env": {"horizon": 0}}, "horizon must be >= 1"),
        ({"env": {"horizon": -2}}, "horizon must be >= 1"),
        ({"env": {"window": 200, "val_days": 100}}, "longer than the validation block"),
        ({"env": {"leaks": ["scalar"]}}, "leaks"),
        ({"env": {"data": "sp5000"}}, "did you mean"),
        ({"agents": [{"name": "a", "type": "gru", "params": {"hidden": 0}}]}, "hidden"),
        ({"agents": [{"name": "a", "type": "ridge", "params": {"alpha": -1}}]}, "alpha"),
    ],
)
def test_spec_errors(change, match):
    with pytest.raises(SpecError, match=match) as err:
        plan_trials(spec_from_dict({**BASE, **change}))
    assert "\n" not in str(err.value)


def test_leaky_quick_run_shows_inflated_r2():
    spec = apply_quick(resolve_spec("lstm-forecast-leaky"))

    def r2(name):
        return _trial(spec, name).scalars.set_index("metric")["value"]["apparent_r2"]

    assert r2("ridge AR(20) (leaky)") > 0.9 > 0.0 > r2("ridge AR(20)")
    assert r2("persistence (leaky)") > 0.9 > 0.0 > r2("zero return") - 0.01


def test_full_specs_validate():
    for name in (NAME, "lstm-forecast-leaky"):
        spec = resolve_spec(name)
        assert len(plan_trials(spec)) == spec.seeds * len(expand_agents(spec)) and spec.quick


def test_module_imports_without_torch():
    code = (
        "import sys; import qmml.experiments.workloads.supervised.forecasting; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
