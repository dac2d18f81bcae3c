"""How the process executor scales a CPU-bound sweep with workers (issues 2 and 16).

Runs the same bandit sweep with the serial executor (the peer) and with the process pool at
1..N workers, each into a fresh temporary folder, and prints wall times, CPU seconds and
speed-ups. Results are byte-identical across executors (a test checks that); here only time is
measured.

The pool forks its workers from a fork server that imports the runner and the workload once
per process, so the first process run of this script ("cold") pays that import and later ones
do not; both are printed. CPU seconds count this process, its reaped children and the fork
server with the workers it reaped (from /proc): on a machine shared with other jobs the wall
times are noisy, and ``serial CPU / (pool CPU / workers)`` is the speed-up the pool would reach
with its cores to itself.

    .venv/bin/python benchmarks/executor_scaling.py --repeats 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from qmml.experiments.runner import run_experiment  # noqa: E402
from qmml.experiments.spec import spec_from_dict  # noqa: E402

SWEEP = {
    "name": "scaling",
    "kind": "bandit-testbed",
    "seed": 0,
    "seeds": 8,
    "budget": {"steps": 1000, "runs": 500},
    "agents": [
        {
            "name": "eps",
            "type": "epsilon-greedy",
            "sweep": {"epsilon": [0.0, 0.01, 0.05, 0.1, 0.2, 0.4]},
        },
        {"name": "ucb", "type": "ucb", "sweep": {"c": [0.5, 1.0, 2.0]}},
    ],
}
TARGET = 1.8  # speed-up at 2 workers over serial (issue 16)


def _fork_server_cpu() -> float:
    """CPU seconds of the fork server and the workers it has reaped (0 before it starts)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime..cstime


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return total + _fork_server_cpu()


def timed(executor: str, workers: int, runs: int) -> tuple[float, float]:
    """Wall and CPU seconds of one run of the sweep."""
    spec = spec_from_dict({**SWEEP, "budget": {**SWEEP["budget"], "runs": runs}})
    with tempfile.TemporaryDirectory() as out:
        c0, t0 = _cpu(), time.perf_counter()
        outcome = run_experiment(spec, out=out, executor=executor, workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        assert not outcome.failed
    return wall, cpu


def _median(rows: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    walls, cpus = [w for w, _ in rows], [c for _, c in rows]
    return statistics.median(walls), min(walls), max(walls), statistics.median(cpus)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--runs", type=int, default=500, help="bandit runs per trial (trial size)")
    args = p.parse_args()
    n_trials = 9 * SWEEP["seeds"]
    print(
        f"sweep: {n_trials} trials of {args.runs} runs x "
        f"{SWEEP['budget']['steps']} steps; cores: {os.cpu_count()}; load: "
        f"{os.getloadavg()[0]:.1f}"
    )
    timed("serial", 1, args.runs)  # warm-up: the parent imports the workload (as in the CLI)
    base, lo, hi, base_cpu = _median([timed("serial", 1, args.runs) for _ in range(args.repeats)])
    print(f"{'':<22}{'wall s (range)':>22}{'CPU s':>8}{'speed-up':>10}{'CPU model':>11}")
    print(f"{'peer: serial':<22}{base:>8.2f} ({lo:.2f}-{hi:.2f}){base_cpu:>8.2f}")
    top = args.max_workers
    results = [("cold", top, [timed("process", top, args.runs)])]  # starts the fork server
    for w in range(1, top + 1):
        results.append(("warm", w, [timed("process", w, args.runs) for _ in range(args.repeats)]))
    for label, w, rows in results:
        t, lo, hi, cpu = _median(rows)
        print(
            f"{f'process {w}w, {label}':<22}{t:>8.2f} ({lo:.2f}-{hi:.2f}){cpu:>8.2f}"
            f"{base / t:>9.2f}x{base_cpu / (cpu / w):>10.2f}x"
        )
    print(f"target at 2 workers: {TARGET}x (ideal 2x)")


if __name__ == "__main__":
    main()
