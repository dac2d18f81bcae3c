"""Value iteration on random mazes of 10^3 ... 10^6 states: qmml-lab against pymdptoolbox,
against the bare sparse product it is built on, and against its previous NumPy loop.

Both solve the same MDP (a seeded random maze with loops and slip, γ = 0.95, −1 per step)
to the same tolerance: pymdptoolbox's ``ValueIteration(epsilon=ε)`` stops when the span of
V_{k+1} − V_k is below ε(1 − γ)/γ, and ours gets that same number as its residual
tolerance. pymdptoolbox has no notion of terminating transitions, so it gets an extra
absorbing state (reward 0) that receives the probability of ending the episode: the same MDP.

pymdptoolbox's constructor bounds the number of iterations with a loop over all states that
copies a column of every transition matrix (O(S²) time), so its full call is timed only up to
``--stock-max`` states. Beyond that the ``run()`` loop is timed alone, with that bound
computed by a shim (the same formula in O(nnz); for these mazes its factor k is exactly 1).

"matvec×sw" is one bare product with the (A·S)×S matrix, scipy's ``csr_matvec`` kernel into a
preallocated vector, times our number of sweeps: the floor of any loop that reads the matrix
once per sweep. "spmv×sw" is the same with ``transitions @ v``, which also allocates and
page-faults a fresh (A·S,) result each time, as the previous loop did. "prev" is the
previous implementation's loop (the scipy product, then NumPy reductions) on the same MDP,
whose values ours must reproduce bit for bit (checked). "build" generates the maze, its
model arrays and the sparse MDP; the last line adds it to our solve at 10^6 states (target:
under 30 s). All times are CPU seconds (``time.process_time``), one thread, medians.

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
    """A random maze of about ``states`` states (loops 10%, slip 10%) and the CPU time to
    build it: the maze, its model arrays and the sparse MDP."""
    side = max(2, round(math.sqrt(states / 2)))
    t0 = time.process_time()
    grid = random_maze((side, side), seed=seed, loops=0.1, slip=0.1, step_reward=-1.0)
    m = build_model(grid)
    mdp = TabularMDP.from_arrays(m.next_state, m.prob, m.reward, m.terminated)
    return mdp, time.process_time() - t0


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
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def previous_loop(mdp: TabularMDP, g: float, tol: float) -> tuple[np.ndarray, int]:
    """The previous value-iteration loop: the scipy product, then NumPy reductions."""
    n, a = mdp.n_states, mdp.n_actions
    v = np.zeros(n)
    r = mdp.rewards if mdp.all_valid else np.where(mdp.valid, mdp.rewards, -np.inf)
    q, new, diff = np.empty((a, n)), np.empty(n), np.empty(n)
    t, k = mdp.transitions, 0
    while True:
        k += 1
        np.multiply((t @ v).reshape(a, n), g, out=q)
        q += r
        np.max(q, axis=0, out=new)
        np.subtract(new, v, out=diff)
        np.abs(diff, out=diff)
        v, new = new, v
        if float(diff.max()) < tol:
            return v, k


def spmv_times(mdp: TabularMDP, products: int, repeats: int) -> tuple[float, float]:
    """Median CPU seconds of one bare product with the (A·S)×S matrix: ``transitions @ v``
    (which allocates its result, as the previous loop did), and scipy's own ``csr_matvec``
    kernel into a preallocated vector (the floor: no allocation, no reshape)."""
    from scipy.sparse._sparsetools import csr_matvec  # private, but it is what ``@`` runs

    v = -np.arange(mdp.n_states, dtype=np.float64)
    t = mdp.transitions
    y = np.zeros(t.shape[0])  # csr_matvec adds into y; the sums do not change the timing
    m, n = t.shape

    def bare() -> None:
        for _ in range(products):
            csr_matvec(m, n, t.indptr, t.indices, t.data, v, y)

    alloc, _ = _median_time(lambda: [t @ v for _ in range(products)], repeats)
    floor, _ = _median_time(bare, repeats)
    return alloc / products, floor / products


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
        "--repeats",
        type=int,
        default=3,
        help="repeats per size (median); 1 above 10^5 states, ours at least 15 up to 2*10^4",
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
    parser.add_argument(
        "--prev-max",
        type=int,
        default=200_000,
        help="largest size for timing the previous NumPy loop (and checking identical values)",
    )
    parser.add_argument(
        "--spmv-products", type=int, default=100, help="bare products per timing (at most sweeps)"
    )
    args = parser.parse_args()
    # pymdptoolbox's input check compares sparse matrices with 0; that warning is its own
    warnings.filterwarnings("ignore", category=sp.SparseEfficiencyWarning)
    stock_cls, shim_cls = _mdptoolbox()
    g, eps = args.gamma, args.epsilon
    tol = eps * (1 - g) / g
    t0 = time.process_time()
    value_iteration(maze_mdp(100)[0], g)  # numba: load the cached kernels (or compile them)
    print(
        f"gamma={g}, epsilon={eps:g} (ours: residual tol {tol:.3g}), one thread, CPU seconds, "
        f"median of {args.repeats} repeat(s) (1 above 10^5 states); kernels loaded in "
        f"{time.process_time() - t0:.2f} s"
    )
    print(
        f"{'states':>9} {'nnz':>9} {'build':>6} {'ours':>7} {'sweeps':>6} {'matvec*sw':>9} "
        f"{'ours/mv':>7} {'spmv*sw':>7} {'ours/spmv':>9} {'prev':>7} {'prev/ours':>9} "
        f"{'mdptb full':>10} {'mdptb run':>9} "
        f"{'iters':>5} {'full/ours':>9} {'run/ours':>8} {'max|dV|':>8}"
    )
    largest = None
    for size in args.sizes:
        reps = args.repeats if size <= 100_000 else 1
        fast = max(reps, 15) if size <= 20_000 else reps  # ms-long solves: more repeats
        mdp, build_s = maze_mdp(size)
        ours_s, sol = _median_time(
            lambda mdp=mdp: value_iteration(mdp, g, tol=tol, max_sweeps=10**6), fast
        )
        spmv_s, mv_s = spmv_times(mdp, min(sol.sweeps, args.spmv_products), fast)
        spmv_s, mv_s = spmv_s * sol.sweeps, mv_s * sol.sweeps
        if size >= 1_000_000:
            largest = (mdp.n_states, build_s, ours_s)
        row = (
            f"{mdp.n_states:>9} {mdp.transitions.nnz:>9} {build_s:>6.3f} {ours_s:>7.3f} "
            f"{sol.sweeps:>6} {mv_s:>9.3f} {ours_s / mv_s:>7.2f} {spmv_s:>7.3f} "
            f"{ours_s / spmv_s:>9.2f}"
        )
        if mdp.n_states <= args.prev_max:
            prev_s, (v_prev, k_prev) = _median_time(
                lambda mdp=mdp: previous_loop(mdp, g, tol), fast
            )
            same = k_prev == sol.sweeps and v_prev.tobytes() == sol.values.tobytes()
            row += f" {prev_s:>7.3f} {prev_s / ours_s:>9.2f}"
            if not same:
                print(f"  WARNING: values differ from the previous loop at {size} states")
        else:
            row += f" {'-':>7} {'-':>9}"
        if mdp.n_states > args.skip_toolbox_above:
            print(row + "  (pymdptoolbox skipped)", flush=True)
            continue
        mats, rewards = toolbox_form(mdp)
        full_s = math.nan
        cls = stock_cls if mdp.n_states <= args.stock_max else shim_cls

        def solve(cls=cls, mats=mats, rewards=rewards):
            t0 = time.process_time()
            vi = cls(mats, rewards, g, epsilon=eps, max_iter=10**6)
            t1 = time.process_time()
            vi.run()
            return vi, t1 - t0

        times, runs = [], []
        for _ in range(reps):
            t0 = time.process_time()
            vi, init_s = solve()
            total = time.process_time() - t0
            times.append(total)
            runs.append(total - init_s)
        if cls is stock_cls:
            full_s = statistics.median(times)
        run_s = statistics.median(runs)
        diff = float(np.abs(np.asarray(vi.V[:-1]) - sol.values).max())
        full_txt = f"{full_s:>10.3f}" if not math.isnan(full_s) else f"{'(O(S^2))':>10}"
        ratio_full = f"{full_s / ours_s:>9.1f}" if not math.isnan(full_s) else f"{'-':>9}"
        print(
            row + f" {full_txt} {run_s:>9.3f} {vi.iter:>5} {ratio_full} "
            f"{run_s / ours_s:>8.2f} {diff:>8.1e}",
            flush=True,
        )
        if diff > 1e-6:
            print(f"  WARNING: values differ by {diff:.2e} > 1e-6")
    if largest is not None:
        n, build_s, ours_s = largest
        print(
            f"{n} states: built in {build_s:.2f} s + solved in {ours_s:.2f} s = "
            f"{build_s + ours_s:.2f} s CPU (target < 30 s)"
        )


if __name__ == "__main__":
    main()
