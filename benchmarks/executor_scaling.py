"""How the process executor scales a CPU-bound sweep with workers (issue 2).

Runs the same bandit sweep with the serial executor and with the process pool at 1..N
workers, each into a fresh temporary folder, and prints wall times and speed-ups. Results are
byte-identical across executors (a test checks that); here only time is measured.

    .venv/bin/python benchmarks/executor_scaling.py --repeats 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
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


def timed(executor: str, workers: int, repeats: int, runs: int) -> float:
    times = []
    spec = spec_from_dict({**SWEEP, "budget": {**SWEEP["budget"], "runs": runs}})
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            outcome = run_experiment(
                spec, out=out, executor=executor, workers=workers, progress=False
            )
            times.append(time.perf_counter() - t0)
            assert not outcome.failed
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--runs", type=int, default=500, help="bandit runs per trial (trial size)")
    args = p.parse_args()
    n_trials = 9 * SWEEP["seeds"]
    print(
        f"sweep: {n_trials} trials of {args.runs} runs x "
        f"{SWEEP['budget']['steps']} steps; cores: {os.cpu_count()}"
    )
    base = timed("serial", 1, args.repeats, args.runs)
    print(f"serial              : {base:6.2f} s")
    for w in range(1, args.max_workers + 1):
        t = timed("process", w, args.repeats, args.runs)
        print(f"process, {w} worker(s): {t:6.2f} s  speed-up {base / t:4.2f}x (ideal {w}x)")


if __name__ == "__main__":
    main()
