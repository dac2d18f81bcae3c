"""The runner: same seed -> same bytes on every executor, resume after a kill, failures kept."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from qmml.experiments.cli import main
from qmml.experiments.runner import plan_trials, run_experiment, trial_context, trial_seed
from qmml.experiments.spec import spec_from_dict
from qmml.experiments.workload import TrialResult, Workload, register

SPEC = {
    "name": "det",
    "kind": "bandit-testbed",
    "seed": 7,
    "seeds": 3,
    "budget": {"steps": 200, "runs": 50},
    "agents": [
        {"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}},
        {"name": "ucb", "type": "ucb", "params": {"c": 2.0}},
        {"name": "grad", "type": "gradient", "sweep": {"alpha": [0.1, 0.4]}},
    ],
    "report": {"primary": "mean_reward", "plots": [{"plot": "curve", "metric": "reward"}]},
}
RESULT_FILES = ("curves.parquet", "scalars.csv")


def _files(run_dir: Path) -> dict[str, bytes]:
    out = {f: (run_dir / f).read_bytes() for f in RESULT_FILES}
    for p in sorted((run_dir / "trials").rglob("*.parquet")):
        out[str(p.relative_to(run_dir))] = p.read_bytes()
    return out


def test_seeds_depend_only_on_spec_and_index():
    spec = spec_from_dict(SPEC)
    a = trial_seed(spec, 2).generate_state(4)
    b = trial_seed(spec, 2).generate_state(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, trial_seed(spec, 1).generate_state(4))
    keys = [t.key for t in plan_trials(spec)]
    assert len(keys) == 4 * 3 and len(set(keys)) == len(keys)


def test_trial_context_derives_the_same_children_on_every_call():
    """One way to turn a trial's seed into seeds: fresh children each call, so a second call
    cannot silently draw other numbers (``SeedSequence.spawn`` counts its calls)."""
    ctx = trial_context(spec_from_dict(SPEC), 3)
    assert ctx.seed_index == 3 and ctx.artifacts_dir is None and ctx.threads == 1
    first = [s.generate_state(2).tolist() for s in ctx.seeds(3)]
    assert first == [s.generate_state(2).tolist() for s in ctx.seeds(3)]
    assert first[0] == ctx.seeds(1)[0].generate_state(2).tolist()
    assert ctx.int_seeds(4) == ctx.int_seeds(4)
    assert all(0 <= v < 2**31 for v in ctx.int_seeds(50, high=2**31))
    assert ctx.int_seed() == int(trial_seed(spec_from_dict(SPEC), 3).generate_state(1)[0])
    np.testing.assert_array_equal(ctx.rng().random(3), ctx.rng().random(3))
    other = trial_context(spec_from_dict(SPEC), 2)
    assert other.int_seeds(2) != ctx.int_seeds(2)


def test_trials_get_their_own_artifacts_folder(tmp_path):
    seen = []

    class _Probe(Workload):
        name = "test-artifacts-probe"
        agent_types = {"const": lambda value=1.0: value}

        def run_trial(self, spec, agent, ctx):
            from qmml.supervised.progress import progress_enabled

            seen.append((ctx.artifacts_dir, (ctx.progress, progress_enabled())))
            return TrialResult.from_arrays(scalars={"value": 1.0})

    register(_Probe())
    spec = spec_from_dict(
        {
            "name": "probe",
            "kind": "test-artifacts-probe",
            "seeds": 2,
            "agents": [{"name": "a", "type": "const"}],
        }
    )
    out = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert sorted(p for p, _ in seen) == [
        out.run_dir.path.resolve() / "artifacts" / f"a__seed{i:03d}" for i in range(2)
    ]
    assert {flags for _, flags in seen} == {(False, False)}
    # in-process trials may show their own bars under the run's; pool workers never do
    seen.clear()
    run_experiment(spec, out=tmp_path, executor="serial", progress=True, fresh=True)
    assert {flags for _, flags in seen} == {(True, True)}


def test_serial_equals_process_byte_for_byte(tmp_path):
    spec = spec_from_dict(SPEC)
    serial = run_experiment(spec, out=tmp_path / "s", executor="serial", progress=False)
    proc = run_experiment(spec, out=tmp_path / "p", executor="process", workers=2, progress=False)
    one = run_experiment(spec, out=tmp_path / "p1", executor="process", workers=1, progress=False)
    assert serial.ran == 12 and not serial.failed
    ref = _files(serial.run_dir.path)
    assert _files(proc.run_dir.path) == ref
    assert _files(one.run_dir.path) == ref
    # different seed -> different results
    other = run_experiment(
        spec_from_dict({**SPEC, "seed": 8}), out=tmp_path / "o", executor="serial", progress=False
    )
    assert _files(other.run_dir.path)["scalars.csv"] != ref["scalars.csv"]


@pytest.mark.slow
@pytest.mark.ray
def test_ray_equals_serial(tmp_path):
    pytest.importorskip("ray")
    spec = spec_from_dict(SPEC)
    serial = run_experiment(spec, out=tmp_path / "s", executor="serial", progress=False)
    ray_run = run_experiment(spec, out=tmp_path / "r", executor="ray", workers=2, progress=False)
    assert ray_run.ran == 12 and not ray_run.failed
    assert _files(ray_run.run_dir.path) == _files(serial.run_dir.path)
    meta = json.loads((ray_run.run_dir.path / "meta.json").read_text())
    assert meta["executor"] == "ray" and meta["status"] == "complete"


def test_rerun_skips_finished_trials_and_fresh_starts_over(tmp_path):
    spec = spec_from_dict(SPEC)
    first = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    again = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert (again.ran, again.skipped) == (0, 12)
    assert again.run_dir.path == first.run_dir.path
    fresh = run_experiment(spec, out=tmp_path, executor="serial", progress=False, fresh=True)
    assert (fresh.ran, fresh.skipped) == (12, 0)


SLOW_SPEC = {**SPEC, "name": "slow", "seeds": 6, "budget": {"steps": 3000, "runs": 400}}


def _launch(spec_path: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qmml.experiments.cli",
            "run",
            str(spec_path),
            "--out",
            str(out),
            "--executor",
            "serial",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )


def _wait_for_trials(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        done = [p for p in out.rglob("trials/*") if not p.name.startswith(".")]
        if len(done) >= n:
            return
        assert proc.poll() is None, "run finished before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("trials did not appear in time")


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory) -> dict[str, bytes]:
    """The result files of one uninterrupted serial run of SLOW_SPEC: what every interrupted
    and resumed run must reproduce byte for byte (computed once for all the resume tests)."""
    ref = run_experiment(
        spec_from_dict(SLOW_SPEC),
        out=tmp_path_factory.mktemp("reference"),
        executor="serial",
        progress=False,
    )
    assert ref.ran == 24 and not ref.failed
    return _files(ref.run_dir.path)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_to_identical_results(tmp_path, sig, slow_reference):
    spec_path = tmp_path / "slow.yaml"
    spec_path.write_text(yaml.safe_dump(SLOW_SPEC))
    out = tmp_path / "runs"
    proc = _launch(spec_path, out)
    _wait_for_trials(out, 3, proc)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert b"resume" in proc.stderr.read()
    run_dir = next(out.glob("slow/*"))
    stored = [p for p in (run_dir / "trials").iterdir() if not p.name.startswith(".")]
    assert 3 <= len(stored) < 24
    for p in stored:  # only whole trials are ever visible
        assert {f.name for f in p.iterdir()} == {"curves.parquet", "scalars.parquet", "info.json"}
    assert (
        main(["run", str(spec_path), "--out", str(out), "--executor", "serial", "--no-progress"])
        == 0
    )
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["resumed_from"] == len(stored) and meta["status"] == "complete"
    assert _files(run_dir) == slow_reference


class _Flaky(Workload):
    name = "test-flaky"
    description = "fails for agents named 'bad' (runner test)"
    agent_types = {"const": lambda value=1.0: value}

    def run_trial(self, spec, agent, ctx):
        if agent.name == "bad":
            raise RuntimeError("this trial is meant to fail")
        return TrialResult.from_arrays(
            curves={"x": np.arange(3.0)}, scalars={"value": agent.params.get("value", 1.0)}
        )


register(_Flaky())


def test_failing_trial_is_recorded_and_others_finish(tmp_path, capsys):
    data = {
        "name": "flaky",
        "kind": "test-flaky",
        "seeds": 2,
        "agents": [{"name": "good", "type": "const"}, {"name": "bad", "type": "const"}],
        "report": {"primary": "value", "plots": [{"plot": "bar", "metric": "value"}]},
    }
    spec_path = tmp_path / "flaky.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    code = main(
        ["run", str(spec_path), "--out", str(tmp_path), "--executor", "serial", "--no-progress"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "2 trial(s) failed: bad__seed000, bad__seed001" in err
    run_dir = next(tmp_path.glob("flaky/*"))
    log = (run_dir / "run.log").read_text()
    assert "this trial is meant to fail" in log and "Traceback" in log
    assert (run_dir / "trials" / "good__seed001").is_dir()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["failed"] == ["bad__seed000", "bad__seed001"]
    assert "failed and are missing" in (run_dir / "report.html").read_text()
