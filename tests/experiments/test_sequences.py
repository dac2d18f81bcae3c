"""The sequence-basics experiment: a quick run with a report, seeded determinism, the noise
floor, direct = free-running at one step, spec errors, and no torch at import."""

import subprocess
import sys

import pandas as pd
import pytest

from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import plan_trials, run_experiment, trial_context
from qmml.experiments.spec import SpecError, spec_from_dict
from qmml.experiments.workload import expand_agents, get_workload
from qmml.experiments.workloads.supervised.sequences import SeriesSection, noise_floor

NAME = "sequence-basics"


@pytest.mark.slow
def test_quick_run_and_report(tmp_path):
    spec = apply_quick(resolve_spec(NAME))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.ran == outcome.n_trials > 0 and not outcome.failed
    report = build_report(outcome.run_dir.path)
    text = report.read_text()
    assert "Held-out MSE by horizon" in text and "noise floor" in text
    assert len(list((outcome.run_dir.path / "figures").glob("*.png"))) >= len(spec.report.plots)
    curves, scalars = outcome.run_dir.load_tables()
    assert {"mse", "mse_free", "val_loss"} <= set(curves["metric"])
    for h in (1, 4, 16, 64):
        assert {f"mse_h{h}", f"mse_free_h{h}"} <= set(scalars["metric"])
    assert scalars["value"].notna().all()


def _trial(agent_name, seed_index=0):
    spec = apply_quick(resolve_spec(NAME))
    agent = next(a for a in expand_agents(spec) if a.name == agent_name)
    return get_workload(NAME).run_trial(spec, agent, trial_context(spec, seed_index))


def _reproducible(res):
    s = res.scalars
    return s[~s["metric"].str.endswith(("_wall_s", "_cpu_s"))].reset_index(drop=True)


@pytest.mark.parametrize("agent", ["ridge AR(32)", "MLP", "LSTM"])
def test_same_seed_same_results(agent):
    first, again = _trial(agent), _trial(agent)
    pd.testing.assert_frame_equal(_reproducible(first), _reproducible(again), check_exact=True)
    pd.testing.assert_frame_equal(first.curves, again.curves, check_exact=True)
    other = _trial(agent, seed_index=1)
    assert not _reproducible(first)["value"].equals(_reproducible(other)["value"])


def test_oracle_sits_on_the_noise_floor_and_h1_modes_agree():
    env = SeriesSection.model_validate(apply_quick(resolve_spec(NAME)).env)
    oracle = _trial("oracle (noise floor)").scalars.set_index("metric")["value"]
    for h in (1, 4):
        assert oracle[f"mse_h{h}"] == pytest.approx(noise_floor(env, h), rel=0.3)
    for agent in ("persistence", "ridge AR(32)", "RNN"):
        s = _trial(agent).scalars.set_index("metric")["value"]
        assert s["mse_h1"] == pytest.approx(s["mse_free_h1"], rel=1e-6)
    persistence = _trial("persistence").scalars.set_index("metric")["value"]
    assert persistence["mse_h16"] > oracle["mse_h16"]


BASE = {
    "name": "t",
    "kind": NAME,
    "seeds": 1,
    "env": {"n_steps": 600},
    "agents": [{"name": "a", "type": "ar"}],
}


@pytest.mark.parametrize(
    "change, match",
    [
        ({"agents": [{"name": "a", "type": "lstn"}]}, "did you mean 'lstm'"),
        ({"env": {"horizons": [0, 4]}}, "horizons must be >= 1"),
        ({"env": {"horizons": [-3]}}, "horizons must be >= 1"),
        ({"env": {"window": 5000}}, "longer than the train block"),
        ({"env": {"n_steps": 600, "horizons": [100]}}, "longer than the validation block"),
        ({"env": {"ar_coef": 1.0}}, "ar_coef"),
        ({"env": {"periods": [10, 20], "amplitudes": [1.0]}}, "one amplitude per period"),
        ({"agents": [{"name": "a", "type": "rnn", "params": {"hidden": 0}}]}, "hidden"),
        ({"agents": [{"name": "a", "type": "ar", "params": {"alpha": -1}}]}, "alpha"),
        ({"budget": {"steps": 0}}, "steps"),
    ],
)
def test_spec_errors(change, match):
    with pytest.raises(SpecError, match=match) as err:
        plan_trials(spec_from_dict({**BASE, **change}))
    assert "\n" not in str(err.value)


def test_full_spec_validates():
    spec = resolve_spec(NAME)
    assert len(plan_trials(spec)) == spec.seeds * len(expand_agents(spec)) and spec.quick


def test_module_imports_without_torch():
    code = (
        "import sys; import qmml.experiments.workloads.supervised.sequences; "
        "import qmml.experiments.workloads.supervised.sequence_plots; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
