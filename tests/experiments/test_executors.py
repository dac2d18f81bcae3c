"""Executors: the pool forks workers from a preloaded server, workers guard against outliving
the process that started them, and a --quick run skips the pool and the heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qmml.experiments.executors import _parent_of
from qmml.experiments.runner import run_experiment
from qmml.experiments.spec import spec_from_dict
from qmml.experiments.workload import TrialResult, Workload, register

LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

TINY = {
    "name": "tiny-quick",
    "kind": "bandit-testbed",
    "seed": 1,
    "seeds": 3,
    "budget": {"steps": 30, "runs": 10},
    "agents": [
        {"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}},
        {"name": "ucb", "type": "ucb", "params": {"c": 2.0}},
    ],
    "report": {"primary": "mean_reward", "plots": [{"plot": "curve", "metric": "reward"}]},
    "quick": {"seeds": 2, "budget": {"steps": 20, "runs": 5}},
}


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=timeout
    )


@LINUX_PROC
def test_parent_of_reads_the_process_table():
    assert _parent_of(os.getpid()) == os.getppid()
    assert _parent_of(2**31 - 1) is None  # no such process


@LINUX_PROC
def test_worker_guard_exits_when_the_launcher_is_not_above_it():
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        code = (
            "from qmml.experiments.executors import _die_with\n"
            f"_die_with({bystander.pid})\n"
            "print('alive')\n"
        )
        proc = _python(code)
        assert proc.returncode == 1 and "alive" not in proc.stdout
    finally:
        bystander.kill()
        bystander.wait()


@LINUX_PROC
def test_worker_guard_accepts_the_launcher_as_parent_or_fork_server_parent():
    guard = (
        "from qmml.experiments.executors import _die_with\n"
        f"_die_with({os.getpid()})\n"
        "print('alive')\n"
    )
    assert _python(guard).stdout.strip() == "alive"  # spawn: the launcher is the parent
    # a fork server between the launcher and the worker: the launcher is the grandparent
    middle = (
        "import subprocess, sys\n"
        f"r = subprocess.run([sys.executable, '-c', {guard!r}], capture_output=True, text=True)\n"
        "print(r.stdout.strip(), r.returncode)\n"
    )
    assert _python(middle).stdout.strip() == "alive 0"


_FORKED_PROBE = """
import os, sys
from qmml.experiments.executors import _pool, start_pool_server

name = "qmml.experiments.workloads.bandits.testbed"
start_pool_server("bandit-testbed")
os.environ["QMML_TEST_LATE"] = "set after the server started"
os.environ.pop("QMML_TEST_GONE")
probe = (
    "(__import__('multiprocessing').get_start_method(), "
    f"{name!r} in __import__('sys').modules, __import__('os').getppid(), "
    "__import__('os').environ.get('QMML_TEST_LATE'), 'QMML_TEST_GONE' in __import__('os').environ)"
)
with _pool(1, "bandit-testbed") as pool:
    method, loaded, parent, late, gone = pool.submit(eval, probe).result()
print(method, loaded, parent != os.getpid(), late == os.environ["QMML_TEST_LATE"], gone)
assert name not in sys.modules  # the server loaded it, not this process
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows")
def test_pool_workers_fork_from_a_preloaded_server_with_the_current_environment():
    env = {**os.environ, "QMML_TEST_GONE": "removed after the server started"}
    proc = subprocess.run(
        [sys.executable, "-c", _FORKED_PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["forkserver", "True", "True", "True", "False"]


def test_quick_run_is_serial_and_imports_no_torch_sklearn_or_sb3(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "runs"
    code = (
        "import sys\n"
        "from qmml.experiments.cli import main\n"
        f"assert main(['run', {str(spec)!r}, '--quick', '--out', {str(out)!r}]) == 0\n"
        "heavy = ('torch', 'sklearn', 'stable_baselines3', 'qmml.supervised')\n"
        "bad = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "assert not bad, bad[:5]\n"
    )
    proc = _python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(next(out.glob("tiny-quick/*/meta.json")).read_text())
    assert meta["executor"] == "serial" and meta["status"] == "complete"
    assert meta["n_trials"] == 4


def test_quick_run_keeps_an_explicit_executor(tmp_path, capsys):
    from qmml.experiments.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    args = ["run", str(spec), "--quick", "--out", str(tmp_path), "--no-progress"]
    assert main([*args, "--executor", "process", "--workers", "2"]) == 0
    meta = json.loads(next(tmp_path.glob("tiny-quick/*/meta.json")).read_text())
    assert meta["executor"] == "process" and meta["status"] == "complete"


def test_trial_progress_can_be_switched_off_in_process(tmp_path):
    seen = []

    class _Probe(Workload):
        name = "test-trial-progress-probe"
        agent_types = {"c": lambda value=1.0: value}

        def run_trial(self, spec, agent, ctx):
            seen.append(ctx.progress)
            return TrialResult.from_arrays(scalars={"value": 1.0})

    register(_Probe())
    spec = spec_from_dict(
        {
            "name": "probe",
            "kind": _Probe.name,
            "seeds": 1,
            "agents": [{"name": "a", "type": "c"}],
        }
    )
    run_experiment(spec, out=tmp_path, executor="serial", progress=True, trial_progress=False)
    run_experiment(spec, out=tmp_path, executor="serial", progress=False, fresh=True)
    run_experiment(spec, out=tmp_path, executor="serial", progress=True, fresh=True)
    assert seen == [False, False, True]
