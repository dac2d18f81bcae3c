"""Time the Sutton & Barto Figure 2.2 workload: compiled and NumPy ``simulate`` vs. per-run loops.

Workload: ε-greedy with ε = 0, 0.01, 0.1 (sample averages) on the 10-armed testbed,
``--runs`` problems × ``--steps`` steps each. (a) is ``agents.bandits.simulate`` with its
compiled kernel (``engine="compiled"``), (a') the same call on its NumPy loop
(``engine="numpy"``, bit for bit the same trace); (b) and (c) are lecture-style loops: one
agent object and one ``np.random.default_rng`` per run, one step at a time. All play the
same arm means. Times are CPU seconds (``time.process_time``), medians over repeats; the
kernel's one-off cost (compiling into an empty cache, or loading numba and the cache) is
measured in fresh subprocesses and printed apart.

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
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.agents.bandit_base import Engine  # noqa: E402
from qmml.agents.bandits import UCB, BanditAgent, EpsilonGreedy, GradientBandit, simulate  # noqa: E402
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


def run_batched(
    means: np.ndarray, steps: int, epsilon: float, seed: int, engine: Engine = "compiled"
) -> float:
    """Play all runs at once with ``simulate``; return the final % optimal."""
    env_seed, agent_seed = np.random.SeedSequence(seed).spawn(2)
    bandit = BanditBatch(means, rng=np.random.default_rng(env_seed))
    trace = simulate(
        EpsilonGreedy(epsilon=epsilon),
        bandit,
        steps,
        rng=np.random.default_rng(agent_seed),
        engine=engine,
    )
    return float(trace.pct_optimal[-max(1, steps // 10) :].mean())


def run_other(means: np.ndarray, steps: int, agent: BanditAgent, engine: Engine) -> None:
    """Play ``agent`` three times (as many agent-steps as the figure) on ``means``."""
    for seed in range(3):
        env_seed, agent_seed = np.random.SeedSequence(seed).spawn(2)
        bandit = BanditBatch(means, rng=np.random.default_rng(env_seed))
        simulate(agent, bandit, steps, rng=np.random.default_rng(agent_seed), engine=engine)


def timed(fn, repeats: int) -> tuple[float, list[float], list[float]]:
    """Median CPU time of ``fn()`` over ``repeats`` calls, all times, the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        result = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), times, result


_FIRST_CALL = """
import time
import numpy as np
from qmml.agents.bandits import EpsilonGreedy, simulate
from qmml.envs.bandit import BanditBatch
t1 = time.process_time()
simulate(EpsilonGreedy(0.1), BanditBatch.gaussian(2, rng=np.random.default_rng(0)), 2,
         rng=np.random.default_rng(1), record_actions=True, engine="compiled")
print(time.process_time() - t1)
"""


def first_call_s(cache_dir: str | None) -> float:
    """CPU seconds of the first compiled ``simulate`` (ε-greedy) in a fresh process, numba's
    import included, with numba's cache in ``cache_dir`` (None: the default, by the code)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=2000, help="bandit problems (default 2000)")
    p.add_argument("--steps", type=int, default=1000, help="steps per run (default 1000)")
    p.add_argument("--k", type=int, default=10, help="arms (default 10)")
    p.add_argument("--repeats", type=int, default=5, help="timings of (a) and (a')")
    p.add_argument("--loop-repeats", type=int, default=1, help="timings of the loop (slow)")
    p.add_argument(
        "--loop-runs",
        type=int,
        default=None,
        help="run the loop on this many runs and scale its time linearly",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-others", action="store_true", help="skip timing UCB and the gradient bandit"
    )
    args = p.parse_args(argv)
    loop_runs = args.runs if args.loop_runs is None else min(args.loop_runs, args.runs)
    if min(args.runs, args.steps, args.repeats, args.loop_repeats, loop_runs) < 1 or args.k < 2:
        p.error("runs, steps, repeats, loop-repeats and loop-runs must be >= 1, k >= 2")

    means = np.random.default_rng(args.seed).standard_normal((args.runs, args.k))
    print(
        f"Figure 2.2 workload: eps in {EPSILONS}, {args.runs} runs x {args.steps} steps, "
        f"k={args.k}; OMP_NUM_THREADS=1"
    )

    def batched(engine: Engine = "compiled") -> list[float]:
        return [run_batched(means, args.steps, e, args.seed + 1, engine) for e in EPSILONS]

    def loop() -> list[float]:
        return [run_loop(means[:loop_runs], args.steps, e, args.seed + 2) for e in EPSILONS]

    def lecture() -> list[float]:
        return [
            run_loop(means[:loop_runs], args.steps, e, args.seed + 2, LectureEpsilonGreedy)
            for e in EPSILONS
        ]

    with tempfile.TemporaryDirectory() as empty:
        t_compile = first_call_s(empty)
    first_call_s(None)  # make sure the default cache holds this code
    t_load = first_call_s(None)
    print(
        f"compiled kernel, one-off: {t_compile:.2f} s to compile (empty cache), "
        f"{t_load:.2f} s to load numba and the cache (first call of a fresh process)"
    )
    run_batched(means[:2], 2, 0.1, 0)  # this process: load the kernels before timing

    t_a, all_a, opt_a = timed(batched, args.repeats)
    t_np, all_np, opt_np = timed(lambda: batched("numpy"), args.repeats)
    scale = args.runs / loop_runs
    scaled = f", measured on {loop_runs} runs, scaled x{scale:g}" if scale != 1 else ""

    def spread(times: list[float]) -> str:
        return f"{min(times):.3f}-{max(times):.3f}"

    reps = f"median of {args.repeats}"
    print(f"(a)  simulate, compiled        : {t_a:8.3f} s CPU  ({reps}, {spread(all_a)})")
    print(
        f"(a') simulate, NumPy loop      : {t_np:8.3f} s CPU  ({reps}, {spread(all_np)})"
        f"  -> {t_np / t_a:6.1f}x (a)"
    )
    if not args.no_others:
        others = (
            ("UCB c=2", lambda: UCB(c=2.0), means),
            ("gradient a=0.1 baseline", lambda: GradientBandit(alpha=0.1), means + 4.0),
        )
        for name, make, m in others:
            run_other(m[:2], 2, make(), "compiled")  # load this kernel before timing
            (t_c, all_c, _), (t_n, all_n, _) = (
                timed(partial(run_other, m, args.steps, make(), engine), args.repeats)
                for engine in ("compiled", "numpy")
            )
            print(
                f"     {name:<26}: compiled {t_c:.3f} s ({spread(all_c)}), NumPy {t_n:.3f} s "
                f"({spread(all_n)})  -> {t_n / t_c:4.1f}x  (same agent-steps, {reps})"
            )
    opts = {}
    for label, fn in (
        ("(b)  loop, NumPy per learner   ", lecture),
        ("(c)  loop, Python lists (lean) ", loop),
    ):
        t_raw, _, opts[label] = timed(fn, args.loop_repeats)
        t = t_raw * scale
        print(
            f"{label}: {t:8.3f} s CPU  (median of {args.loop_repeats}{scaled})"
            f"  -> {t / t_a:6.1f}x (a), {t / t_np:6.1f}x (a')"
        )
    print(
        f"% optimal action over the last 10% of steps ((a) / (a') / (b) / (c)"
        f"{f'; loops on {loop_runs} runs' if scale != 1 else ''}):"
    )
    b, c = opts.values()
    for e, w, x, y, z in zip(EPSILONS, opt_a, opt_np, b, c, strict=True):
        print(f"  eps={e:<5g} {w:6.1f} / {x:6.1f} / {y:6.1f} / {z:6.1f}")


if __name__ == "__main__":
    main()
