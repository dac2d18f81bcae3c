"""Value iteration on random mazes of 10^3 ... 10^6 states: qmml-lab against pymdptoolbox.

Both solve the same MDP (a seeded random maze with loops and slip, γ = 0.95, −1 per step)
to the same tolerance: pymdptoolbox's ``ValueIteration(epsilon=ε)`` stops when the span of
V_{k+1} − V_k is below ε(1 − γ)/γ, and ours gets that same number as its residual
tolerance. pymdptoolbox has no notion of terminating transitions, so it gets an extra
absorbing state (reward 0) that receives the probability of ending the episode: the same MDP.

pymdptoolbox's constructor bounds the number of iterations with a loop over all states that
copies a column of every transition matrix (O(S²) time), so its full call is timed only up to
``--stock-max`` states. Beyond that the ``run()`` loop is timed alone, with that bound
computed by a shim (the same formula in O(nnz); for these mazes its factor k is exactly 1).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/value_iteration.py            # 10^3 ... 10^6
    PYTHONPATH=. .venv/bin/python benchmarks/value_iteration.py --sizes 1000 10000 --repeats 5
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timings

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from qmml.agents.mdp import TabularMDP  # noqa: E402
from qmml.agents.planning import value_iteration  # noqa: E402
from qmml.envs.gridworld.maps import random_maze  # noqa: E402
from qmml.envs.gridworld.model import build_model  # noqa: E402


def _mdptoolbox():
    """Import pymdptoolbox and define the shim: its input check and iteration bound in
    O(nnz) instead of O(S²) time and memory, same results."""
    import mdptoolbox.mdp as mdp
    import mdptoolbox.util as util

    def sparse_check(P, R):
        # the stock isStochastic subtracts an (S,) vector from an (S, 1) matrix: an S×S array
        for p in P:
            if (
                p.shape[0] != p.shape[1]
                or (p.data < 0).any()
                or np.abs(np.asarray(p.sum(axis=1)).ravel() - 1).max() > 10 * np.spacing(1)
            ):
                raise ValueError("not a square stochastic matrix")
        if R.shape != (P[0].shape[0], len(P)):
            raise ValueError("R has the wrong shape")

    class ShimValueIteration(mdp.ValueIteration):
        """ValueIteration with the O(nnz) check and bound (Puterman Thm 6.6.6: the column
        minima of the sparse matrices instead of a dense column per state)."""

        def __init__(self, *args, **kwargs):
            stock, mdp._util.check = mdp._util.check, sparse_check
            try:
                super().__init__(*args, **kwargs)
            finally:
                mdp._util.check = stock

        def _boundIter(self, epsilon):
            h = np.full(self.S, np.inf)
            for p in self.P:
                col_min = np.asarray(p.tocsc().min(axis=0).todense()).ravel()
                h = np.minimum(h, col_min)
            k = 1 - h.sum()
            _, value = self._bellmanOperator()
            span = util.getSpan(value - self.V)
            self.max_iter = math.ceil(
                math.log((epsilon * (1 - self.discount) / self.discount) / span)
                / math.log(self.discount * k)
            )

    return mdp.ValueIteration, ShimValueIteration


def maze_mdp(states: int, seed: int = 0) -> tuple[TabularMDP, float]:
    """A random maze of about ``states`` states (loops 10%, slip 10%) and its compile time."""
    side = max(2, round(math.sqrt(states / 2)))
    t0 = time.perf_counter()
    grid = random_maze((side, side), seed=seed, loops=0.1, slip=0.1, step_reward=-1.0)
    m = build_model(grid)
    mdp = TabularMDP.from_arrays(m.next_state, m.prob, m.reward, m.terminated)
    return mdp, time.perf_counter() - t0


def toolbox_form(mdp: TabularMDP) -> tuple[list[sp.csr_matrix], np.ndarray]:
    """(P, R) for pymdptoolbox: A stochastic (S+1)×(S+1) matrices (state S absorbs the
    probability of ending the episode) and rewards (S+1, A)."""
    n, a = mdp.n_states, mdp.n_actions
    stop = mdp.termination()
    mats = []
    for act in range(a):
        block = mdp.transitions[act * n : (act + 1) * n]
        block = sp.hstack([block, sp.csr_matrix(stop[act][:, None])])
        sink = sp.csr_matrix(([1.0], ([0], [n])), shape=(1, n + 1))
        mats.append(sp.vstack([block, sink]).tocsr())
    rewards = np.vstack([mdp.rewards.T, np.zeros((1, a))])
    return mats, rewards


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument(
        "--epsilon",
        type=float,
        default=1e-7,
        help="pymdptoolbox's epsilon; ours gets tol = epsilon(1-gamma)/gamma",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats per size (median); 1 above 10^5 states"
    )
    parser.add_argument(
        "--stock-max",
        type=int,
        default=20_000,
        help="largest size for pymdptoolbox's full call (O(S^2) bound)",
    )
    parser.add_argument(
        "--skip-toolbox-above",
        type=int,
        default=10**7,
        help="do not run pymdptoolbox above this many states",
    )
    args = parser.parse_args()
    # pymdptoolbox's input check compares sparse matrices with 0; that warning is its own
    warnings.filterwarnings("ignore", category=sp.SparseEfficiencyWarning)
    stock_cls, shim_cls = _mdptoolbox()
    g, eps = args.gamma, args.epsilon
    tol = eps * (1 - g) / g
    print(
        f"gamma={g}, epsilon={eps:g} (ours: residual tol {tol:.3g}), one thread, "
        f"median of {args.repeats} repeat(s) (1 above 10^5 states)"
    )
    head = (
        f"{'states':>9} {'nnz':>9} {'compile':>8} {'ours':>8} {'sweeps':>6} "
        f"{'mdptb full':>10} {'mdptb run':>9} {'iters':>6} {'full/ours':>9} "
        f"{'run/ours':>8} {'max|dV|':>9}"
    )
    print(head)
    for size in args.sizes:
        reps = args.repeats if size <= 100_000 else 1
        mdp, compile_s = maze_mdp(size)
        ours_s, sol = _median_time(
            lambda mdp=mdp: value_iteration(mdp, g, tol=tol, max_sweeps=10**6), reps
        )
        row = (
            f"{mdp.n_states:>9} {mdp.transitions.nnz:>9} {compile_s:>8.2f} {ours_s:>8.3f} "
            f"{sol.sweeps:>6}"
        )
        if mdp.n_states > args.skip_toolbox_above:
            print(row + "  (pymdptoolbox skipped)", flush=True)
            continue
        mats, rewards = toolbox_form(mdp)
        full_s = math.nan
        cls = stock_cls if mdp.n_states <= args.stock_max else shim_cls

        def solve(cls=cls, mats=mats, rewards=rewards):
            t0 = time.perf_counter()
            vi = cls(mats, rewards, g, epsilon=eps, max_iter=10**6)
            t1 = time.perf_counter()
            vi.run()
            return vi, t1 - t0

        times, runs = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            vi, init_s = solve()
            total = time.perf_counter() - t0
            times.append(total)
            runs.append(total - init_s)
        if cls is stock_cls:
            full_s = statistics.median(times)
        run_s = statistics.median(runs)
        diff = float(np.abs(np.asarray(vi.V[:-1]) - sol.values).max())
        full_txt = f"{full_s:>10.3f}" if not math.isnan(full_s) else f"{'(O(S^2))':>10}"
        ratio_full = f"{full_s / ours_s:>9.1f}" if not math.isnan(full_s) else f"{'-':>9}"
        print(
            row + f" {full_txt} {run_s:>9.3f} {vi.iter:>6} {ratio_full} "
            f"{run_s / ours_s:>8.2f} {diff:>9.1e}",
            flush=True,
        )
        if diff > 1e-6:
            print(f"  WARNING: values differ by {diff:.2e} > 1e-6")


if __name__ == "__main__":
    main()
