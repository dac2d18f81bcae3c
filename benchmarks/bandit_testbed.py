"""Time the Sutton & Barto Figure 2.2 workload: batched NumPy agents vs. a per-run object loop.

Workload: ε-greedy with ε = 0, 0.01, 0.1 (sample averages) on the 10-armed testbed,
``--runs`` problems × ``--steps`` steps each. (a) is ``agents.bandits.simulate`` stepping all
runs as arrays; (b) is the lecture-style loop: one plain-Python agent object and one
``np.random.default_rng`` per run, one step at a time. Both play the same arm means.

    PYTHONPATH=. .venv/bin/python benchmarks/bandit_testbed.py --runs 2000 --steps 1000
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy import

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.agents.bandits import EpsilonGreedy, simulate  # noqa: E402
from qmml.envs.bandit import BanditBatch  # noqa: E402

EPSILONS = (0.0, 0.01, 0.1)


class LoopEpsilonGreedy:
    """The lecture code: one learner, Python lists, scalar draws from its own generator."""

    def __init__(self, k: int, epsilon: float, rng: np.random.Generator) -> None:
        self.k, self.epsilon, self.rng = k, epsilon, rng
        self.q = [0.0] * k
        self.n = [0] * k

    def act(self) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.k))
        best = max(self.q)
        ties = [a for a, q in enumerate(self.q) if q == best]
        return ties[int(self.rng.integers(len(ties)))]

    def update(self, action: int, reward: float) -> None:
        self.n[action] += 1
        self.q[action] += (reward - self.q[action]) / self.n[action]


class LectureEpsilonGreedy:
    """The lecture notebook's shape: NumPy arrays per learner, ``np.argmax`` every step."""

    def __init__(self, k: int, epsilon: float, rng: np.random.Generator) -> None:
        self.k, self.epsilon, self.rng = k, epsilon, rng
        self.q = np.zeros(k)
        self.n = np.zeros(k)

    def act(self) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.k))
        ties = np.flatnonzero(self.q == self.q.max())
        return int(ties[self.rng.integers(len(ties))])

    def update(self, action: int, reward: float) -> None:
        self.n[action] += 1
        self.q[action] += (reward - self.q[action]) / self.n[action]


def run_loop(
    means: np.ndarray, steps: int, epsilon: float, seed: int, agent_cls: type = LoopEpsilonGreedy
) -> float:
    """Play every run with its own agent and generator; return the final % optimal."""
    tail = max(1, steps // 10)
    optimal = 0
    for q_star, ss in zip(means, np.random.SeedSequence(seed).spawn(len(means)), strict=True):
        rng = np.random.default_rng(ss)
        agent = agent_cls(len(q_star), epsilon, rng)
        q_list = q_star.tolist()
        best = int(np.argmax(q_star))
        for t in range(steps):
            action = agent.act()
            agent.update(action, q_list[action] + rng.normal())
            if t >= steps - tail:
                optimal += action == best
    return 100.0 * optimal / (len(means) * tail)


def run_batched(means: np.ndarray, steps: int, epsilon: float, seed: int) -> float:
    """Play all runs at once with ``simulate``; return the final % optimal."""
    env_seed, agent_seed = np.random.SeedSequence(seed).spawn(2)
    bandit = BanditBatch(means, rng=np.random.default_rng(env_seed))
    trace = simulate(
        EpsilonGreedy(epsilon=epsilon), bandit, steps, rng=np.random.default_rng(agent_seed)
    )
    return float(trace.pct_optimal[-max(1, steps // 10) :].mean())


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=2000, help="bandit problems (default 2000)")
    p.add_argument("--steps", type=int, default=1000, help="steps per run (default 1000)")
    p.add_argument("--k", type=int, default=10, help="arms (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="timings of the batched version")
    p.add_argument("--loop-repeats", type=int, default=1, help="timings of the loop (slow)")
    p.add_argument(
        "--loop-runs",
        type=int,
        default=None,
        help="run the loop on this many runs and scale its time linearly",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    loop_runs = args.runs if args.loop_runs is None else min(args.loop_runs, args.runs)
    if min(args.runs, args.steps, args.repeats, args.loop_repeats, loop_runs) < 1 or args.k < 2:
        p.error("runs, steps, repeats, loop-repeats and loop-runs must be >= 1, k >= 2")

    means = np.random.default_rng(args.seed).standard_normal((args.runs, args.k))
    print(
        f"Figure 2.2 workload: eps in {EPSILONS}, {args.runs} runs x {args.steps} steps, "
        f"k={args.k}; OMP_NUM_THREADS=1"
    )

    def batched() -> list[float]:
        return [run_batched(means, args.steps, e, args.seed + 1) for e in EPSILONS]

    def loop() -> list[float]:
        return [run_loop(means[:loop_runs], args.steps, e, args.seed + 2) for e in EPSILONS]

    def lecture() -> list[float]:
        return [
            run_loop(means[:loop_runs], args.steps, e, args.seed + 2, LectureEpsilonGreedy)
            for e in EPSILONS
        ]

    t_batch, opt_batch = timed(batched, args.repeats)
    scale = args.runs / loop_runs
    scaled = f" (measured on {loop_runs} runs, time scaled x{scale:g})" if scale != 1 else ""
    print(f"(a) batched simulate           : {t_batch:8.3f} s  (median of {args.repeats})")
    opts = {}
    for label, fn in (
        ("(b) loop, NumPy per learner    ", lecture),
        ("(c) loop, Python lists (lean)  ", loop),
    ):
        t_raw, opts[label] = timed(fn, args.loop_repeats)
        t = t_raw * scale
        print(
            f"{label}: {t:8.3f} s  (median of {args.loop_repeats}){scaled}"
            f"  -> {t / t_batch:6.1f}x slower than (a)"
        )
    print(
        f"% optimal action over the last 10% of steps ((a) / (b) / (c)"
        f"{f' on {loop_runs} runs' if scale != 1 else ''}):"
    )
    b, c = opts.values()
    for e, x, y, z in zip(EPSILONS, opt_batch, b, c, strict=True):
        print(f"  eps={e:<5g} {x:6.1f} / {y:6.1f} / {z:6.1f}")


if __name__ == "__main__":
    main()
