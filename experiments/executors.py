"""Where trials run: in the runner's own process, in a local process pool, or on Ray.

Every executor takes the run's :class:`Job` and the trials still to run, and yields
``(key, files or traceback, wall seconds)`` as trials finish, in any order; the runner stores
them. Results do not depend on the executor (a trial's seed depends only on the spec and its
seed index), so all three write byte-identical files.

The process pool forks its workers from a *fork server* that has imported the runner and the
workload once (``multiprocessing``'s ``forkserver`` start method, preloaded): a worker then
starts in milliseconds instead of re-importing NumPy, pandas, SciPy and the workload (about
0.7 CPU-s per worker with ``spawn``), while still starting from a clean, single-threaded
process (no ``fork`` of a parent that runs threads, torch or a notebook kernel).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.store import TrialFiles, encode_trial
from qmml.experiments.workload import TrialContext, get_workload

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

    from qmml.experiments.runner import Trial

__all__ = ["EXECUTORS", "Job", "TrialOutcome", "run_trial", "start_pool_server"]

TrialOutcome = tuple[str, TrialFiles | str, float]  # key, files or traceback, wall seconds


@dataclass(frozen=True)
class Job:
    """What every trial of a run shares: the spec, the artifacts root, whether a trial may
    draw its own progress bars (only in the runner's own process: bars from pool workers
    would garble the run's bar)."""

    spec: ExperimentSpec
    artifacts: Path | None = None
    progress: bool = False


def run_trial(job: Job, trial: Trial) -> TrialOutcome:
    """Run one trial and encode its files; never raises (a failure comes back as its
    traceback). Encoding here puts that work in the workers, not the parent process."""
    t0 = time.perf_counter()
    spec = job.spec
    art = job.artifacts / trial.key if job.artifacts else None
    ctx = TrialContext.of(spec, trial.seed_index, art, job.progress)
    try:
        with _progress_scope(job.progress):  # training loops inside the trial show their bars
            result = get_workload(spec.kind).run_trial(spec, trial.agent, ctx)
        return trial.key, encode_trial(result), time.perf_counter() - t0
    except Exception:  # a failing trial must not kill the others
        return trial.key, traceback.format_exc(), time.perf_counter() - t0


def _progress_scope(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """``show_progress(enabled)``, imported only when it can matter: its module loads
    ``qmml.supervised`` (scikit-learn, about 1 CPU-s), and while that module is not loaded
    nothing can have switched the bars on, so a trial that imports it later sees the
    default (off) either way."""
    if not enabled and "qmml.supervised.progress" not in sys.modules:
        return contextlib.nullcontext()
    from qmml.supervised.progress import show_progress

    return show_progress(enabled)


# -- in this process ----------------------------------------------------------------------
def _serial(
    job: Job, trials: list[Trial], workers: int, address: str | None
) -> Generator[TrialOutcome]:
    for t in trials:
        yield run_trial(job, t)


# -- local process pool -------------------------------------------------------------------
def _pool_context(kind: str) -> BaseContext:
    """The pool's start method: a fork server preloaded with the runner and the workload of
    ``kind`` where the platform has one, else ``spawn``. The preload list only takes effect
    when the server starts (the first pool of this process); a later pool for another kind
    imports that workload in each worker, once."""
    import multiprocessing as mp

    from qmml.experiments.workloads import BUILTIN

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    # pyarrow.parquet: every trial's files are encoded with it (pandas imports it lazily);
    # pool_warmup last: it warms what the workload's modules loaded (numba)
    workload = [BUILTIN[kind]] if kind in BUILTIN else []
    modules = [
        "qmml.experiments.runner",
        "pyarrow.parquet",
        *workload,
        "qmml.experiments.pool_warmup",
    ]
    ctx.set_forkserver_preload(modules)
    return ctx


def start_pool_server(kind: str) -> None:
    """Start the process pool's fork server now, so that it imports the runner and the
    workload while this process plans the run (both take a fraction of a second on one
    core). Does nothing where there is no fork server, or when it runs already."""
    ctx = _pool_context(kind)
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _worker_init(launcher: int | None = None, environ: dict[str, str] | None = None) -> None:
    if environ is not None:
        # the launcher's environment now, as a spawned worker would have it (a fork server's
        # is the one of its start; what its preloaded modules read on import stays that one)
        for var in set(os.environ) - set(environ):
            del os.environ[var]
        os.environ.update(environ)
    # One BLAS/torch thread per worker: no oversubscription, and float results do not depend
    # on how many workers share the machine.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if launcher is not None:
        _die_with(launcher)


def _parent_of(pid: int) -> int | None:
    """The parent process of ``pid`` (from /proc), or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _die_with(launcher: int) -> None:
    """End this worker when ``launcher`` (the process that started the pool) dies, however it
    dies (SIGKILL included). The worker's parent is the launcher (spawn) or its fork server,
    which exits as soon as the launcher does: the kernel's parent-death signal ends the worker
    with its parent on Linux, and a watchdog thread does everywhere."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    parent = os.getppid()

    def attached() -> bool:
        if os.getppid() != parent:
            return False
        above = parent if parent == launcher else _parent_of(parent)
        return above in (launcher, None)  # None: no /proc, the parent check must do

    if not attached():  # died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while attached():
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="qmml-parent-watch", daemon=True).start()


def _pool(workers: int, kind: str) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes for trials of workload ``kind``, each ending itself
    when this process dies and running with this process's environment."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_pool_context(kind),
        initializer=_worker_init,
        initargs=(os.getpid(), dict(os.environ)),
    )


def _process(
    job: Job, trials: list[Trial], workers: int, address: str | None
) -> Generator[TrialOutcome]:
    pool = _pool(max(1, min(workers, len(trials))), job.spec.kind)  # no idle workers
    futures: set[Future[Any]] = set()
    try:
        queue = list(trials)
        while queue or futures:
            while queue and len(futures) < 2 * workers:  # bounded in-flight work
                futures.add(pool.submit(run_trial, job, queue.pop(0)))
            done, futures = wait(futures, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
    finally:
        for f in futures:
            f.cancel()
        # Interrupted (Ctrl-C, SIGTERM) or failed: stop the trials in flight now, instead of
        # waiting for them at exit; their results were not stored, so nothing is lost.
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


# -- Ray ----------------------------------------------------------------------------------
def _ray(
    job: Job, trials: list[Trial], workers: int, address: str | None
) -> Generator[TrialOutcome]:
    try:
        import ray
    except ImportError:
        raise SpecError("--executor ray needs Ray: pip install 'qmml-lab[ray]'") from None
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers, **kwargs)
        started = True
    remote = ray.remote(num_cpus=1)(_ray_task)
    pending = [remote.remote(job, t) for t in trials]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _ray_task(job: Job, trial: Trial) -> TrialOutcome:
    _worker_init()
    return run_trial(job, trial)


ExecutorFn = Callable[[Job, "list[Trial]", int, "str | None"], Generator[TrialOutcome]]

EXECUTORS: dict[str, ExecutorFn] = {"serial": _serial, "process": _process, "ray": _ray}
