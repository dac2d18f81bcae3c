"""Start-up costs of the ``qmml`` command line, against the targets of issue 16.

Prints CPU seconds (user + system, of the command's process and the children it waited for;
medians over ``--repeats`` fresh processes) of ``qmml --help`` and ``qmml list``, and for
``qmml run bandit-testbed --quick`` the share of its CPU time that is fixed cost: everything
but the trials' own compute. That compute is measured here, in this process, by running the
same trials again once the workload and its compiled kernels are loaded (what a long run
amortises); the rest of the command (interpreter, imports, first kernel calls, validation,
writing, the report) is the fixed cost. ``--breakdown`` splits it into phases.

CPU seconds rather than wall time: the project's machines are shared and wall time is noisy.
The "peer" column holds the targets.

    .venv/bin/python benchmarks/startup.py --repeats 5
    .venv/bin/python benchmarks/startup.py --repeats 3 --breakdown
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

QMML = [sys.executable, "-m", "qmml.experiments.cli"]
TARGETS = {"help": 0.3, "list": 0.5, "fixed_share": 0.30}

_PHASES = r"""
import json, os, sys, time
os.environ.setdefault("MPLBACKEND", "Agg")
laps, t = {}, [time.process_time()]
def lap(name):
    now = time.process_time(); laps[name] = now - t[0]; t[0] = now
laps["interpreter"] = t[0]
from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_quick
spec = apply_quick(resolve_spec("bandit-testbed"))
lap("import cli, read the spec")
from qmml.experiments.runner import plan_trials, run_experiment
lap("import runner")
plan_trials(spec)
lap("import workload, validate")
out = run_experiment(spec, out=sys.argv[1], executor="serial", progress=False)
lap("trials, store, consolidate")
from qmml.experiments.report import build_report
build_report(out.run_dir.path)
lap("report")
print(json.dumps(laps))
"""


def _child_cpu(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """CPU seconds of ``cmd`` and the children it waited for, and its result."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, proc


def _median_cpu(cmd: list[str], repeats: int) -> tuple[float, float, float]:
    runs = [_child_cpu(cmd)[0] for _ in range(repeats)]
    return statistics.median(runs), min(runs), max(runs)


def _trial_compute() -> float:
    """CPU seconds of the quick run's trials alone, with everything loaded and warmed up."""
    from qmml.experiments.cli import resolve_spec
    from qmml.experiments.executors import Job, run_trial
    from qmml.experiments.overrides import apply_quick
    from qmml.experiments.runner import plan_trials

    spec = apply_quick(resolve_spec("bandit-testbed"))
    trials = plan_trials(spec)
    job = Job(spec)
    for t in trials:  # warm-up: the first call of each compiled kernel loads it
        run_trial(job, t)
    times = []
    for _ in range(3):
        t0 = time.process_time()
        for t in trials:
            run_trial(job, t)
        times.append(time.process_time() - t0)
    return statistics.median(times)


def _quick_run(repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            cmd = [*QMML, "run", "bandit-testbed", "--quick", "--out", out]
            cpu, _ = _child_cpu(cmd, env={**os.environ, "MPLBACKEND": "Agg"})
            runs.append(cpu)
    return runs


def _breakdown() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        _, proc = _child_cpu([sys.executable, "-c", _PHASES, out])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--breakdown", action="store_true", help="split the quick run into phases")
    args = p.parse_args()
    print(f"cores: {os.cpu_count()}; load: {os.getloadavg()[0]:.1f}; CPU seconds, medians")
    print(f"{'':<38}{'peer (target)':>14}{'ours':>8}{'range':>14}{'ours/peer':>11}")
    for name, cmd in (("help", [*QMML, "--help"]), ("list", [*QMML, "list"])):
        med, lo, hi = _median_cpu(cmd, args.repeats)
        label = f"qmml {'--help' if name == 'help' else name} [CPU s]"
        ratio = med / TARGETS[name]
        print(
            f"{label:<38}{TARGETS[name]:>14.2f}{med:>8.2f}{f'{lo:.2f}-{hi:.2f}':>14}{ratio:>10.2f}x"
        )
    compute = _trial_compute()
    runs = _quick_run(args.repeats)
    total = statistics.median(runs)
    shares = sorted((r - compute) / r for r in runs)
    share = statistics.median(shares)
    print(f"{'run bandit-testbed --quick [CPU s]':<38}{'':>14}{total:>8.2f}"
          f"{f'{min(runs):.2f}-{max(runs):.2f}':>14}")  # fmt: skip
    print(f"{'  of which trials compute [CPU s]':<38}{'':>14}{compute:>8.2f}")
    print(f"{'  fixed-cost share [%]':<38}{100 * TARGETS['fixed_share']:>14.0f}{100 * share:>8.0f}"
          f"{f'{100 * shares[0]:.0f}-{100 * shares[-1]:.0f}':>14}"
          f"{share / TARGETS['fixed_share']:>10.2f}x")  # fmt: skip
    if args.breakdown:
        print("\nfixed cost by phase (one fresh process, serial, no progress bars) [CPU s]:")
        for phase, cpu in _breakdown().items():
            print(f"  {phase:<36}{cpu:>8.2f}")


if __name__ == "__main__":
    main()
