"""Expand a spec into trials, run them serially, in local processes or on Ray (the executors
are in :mod:`qmml.experiments.executors`), store them and consolidate the tables.

Every trial's seed is ``SeedSequence(spec.seed, spawn_key=(seed_index,))``: it depends only on
the spec and the seed index, never on the executor, the worker count or the order in which
trials finish, so all executors write byte-identical result files. Trials with the same seed
index share the environment's random numbers across agents (common random numbers), which
makes pairwise comparisons sharper.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from qmml.experiments.executors import EXECUTORS, Job, start_pool_server
from qmml.experiments.spec import ExperimentSpec, SpecError, spec_hash
from qmml.experiments.store import RunDir, environment_meta, now_iso
from qmml.experiments.workload import ResolvedAgent, TrialContext, get_workload

__all__ = ["RunOutcome", "Trial", "plan_trials", "run_experiment", "trial_context", "trial_seed"]

Executor = Literal["serial", "process", "ray"]


@dataclass(frozen=True)
class Trial:
    """One unit of work: an agent and a seed index."""

    key: str
    agent: ResolvedAgent
    seed_index: int


@dataclass
class RunOutcome:
    """What :func:`run_experiment` did."""

    run_dir: RunDir
    n_trials: int
    ran: int
    skipped: int
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0


def trial_seed(spec: ExperimentSpec, seed_index: int) -> np.random.SeedSequence:
    """The seed sequence of seed index ``seed_index`` (shared by every agent)."""
    return trial_context(spec, seed_index).seed


def trial_context(
    spec: ExperimentSpec,
    seed_index: int,
    artifacts_dir: Path | None = None,
    progress: bool = False,
) -> TrialContext:
    """What a trial of seed index ``seed_index`` is handed (see :class:`TrialContext`)."""
    return TrialContext.of(spec, seed_index, artifacts_dir, progress)


def _key(agent: str, seed: int) -> str:
    safe = re.sub(r"[^\w.=-]+", "_", agent).strip("_")  # \w: unicode letters too (ε, δ)
    if safe.startswith("."):  # a hidden folder reads as a half-written trial on resume
        safe = "_" + safe
    return f"{safe}__seed{seed:03d}"


def plan_trials(spec: ExperimentSpec) -> list[Trial]:
    """All trials of ``spec`` (agent × seed), in a fixed order.

    Raises:
        SpecError: anything the workload finds wrong with the spec.
    """
    agents = get_workload(spec.kind).validate(spec)
    trials = [Trial(_key(a.name, s), a, s) for a in agents for s in range(spec.seeds)]
    owner: dict[str, str] = {}
    for t in trials:
        if t.key not in owner:
            owner[t.key] = t.agent.name
            continue
        other = owner[t.key]
        if other == t.agent.name:
            raise SpecError(
                f"agent {other!r} appears twice; a sweep lists the same value twice, or two "
                "values that print alike: give distinct values"
            )
        raise SpecError(
            f"agents {other!r} and {t.agent.name!r} map to the same file name; make their "
            "names differ in letters or digits, not only punctuation"
        )
    return trials


def _provenance(spec: ExperimentSpec) -> list[list[str]]:
    """The workload's account of its data; a failure to describe it never stops a run."""
    try:
        return [[str(k), str(v)] for k, v in get_workload(spec.kind).provenance(spec)]
    except Exception as err:
        return [["data", f"could not be described ({type(err).__name__}: {err})"]]


def run_dir_for(spec: ExperimentSpec, out: str | Path) -> RunDir:
    """Where a spec's results go: ``<out>/<name>/<spec hash>``, so the same command resumes."""
    return RunDir(Path(out) / spec.name / spec_hash(spec))


def run_experiment(
    spec: ExperimentSpec,
    *,
    out: str | Path = "runs",
    executor: Executor = "process",
    workers: int | None = None,
    ray_address: str | None = None,
    fresh: bool = False,
    progress: bool = True,
    name: str | None = None,
    trial_progress: bool | None = None,
) -> RunOutcome:
    """Run every trial of ``spec`` not stored yet, then consolidate the result tables.

    Args:
        spec: the resolved spec.
        out: the results root.
        executor: ``serial``, ``process`` (local process pool) or ``ray``.
        workers: parallel workers (default: all cores).
        ray_address: address of a running Ray cluster (default: start a local one).
        fresh: drop earlier results of this spec first.
        progress: show a progress bar.
        name: a label for the run (``qmml runs``, ``qmml compare``), kept in ``meta.json``.
        trial_progress: whether long trials may draw their own bars under the run's (only
            in this process: under the serial executor); default: when ``progress`` is on.

    Raises:
        SpecError: a problem with the spec or the arguments.
    """
    if executor not in EXECUTORS:
        raise SpecError(f"unknown executor {executor!r}; choose from serial, process, ray")
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise SpecError(f"--workers must be at least 1, got {workers}")
    if executor == "process":  # its imports overlap with the planning below
        start_pool_server(spec.kind)
    trials = plan_trials(spec)
    run = run_dir_for(spec, out)
    with run.lock():  # one run at a time per folder; a second waits, then reuses the trials
        run.init(spec, fresh=fresh)
        in_trial = executor == "serial" and (progress if trial_progress is None else trial_progress)
        return _run(spec, trials, run, executor, workers, ray_address, progress, name, in_trial)


def _run(
    spec: ExperimentSpec,
    trials: list[Trial],
    run: RunDir,
    executor: str,
    workers: int,
    ray_address: str | None,
    progress: bool,
    name: str | None = None,
    trial_progress: bool = False,
) -> RunOutcome:
    for stale in run.trials_dir.glob(".*"):  # half-written trials of an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    for t in trials:  # a damaged trial file (a crash mid-disk-write, an edit) is re-run
        why = run.trial_damage(t.key)
        if why:
            run.append_log(f"[{now_iso()}] trial {t.key} is damaged ({why}); running it again")
            shutil.rmtree(run.trials_dir / t.key, ignore_errors=True)
    pending = [t for t in trials if not run.trial_done(t.key)]
    meta = {
        "run_id": run.path.name,
        "name": name or run.load_meta().get("name"),
        "experiment": spec.name,
        "kind": spec.kind,
        "started": now_iso(),
        "finished": None,
        "status": "running",
        "executor": executor,
        "workers": workers,
        "n_trials": len(trials),
        "resumed_from": len(trials) - len(pending),
        "seeds": [
            {
                "trial": t.key,
                "seed_index": t.seed_index,
                "entropy": spec.seed,
                "spawn_key": [t.seed_index],
            }
            for t in trials
        ],
        "provenance": _provenance(spec),
        **environment_meta(),
    }
    run.write_meta(meta)
    outcome = RunOutcome(run, len(trials), 0, len(trials) - len(pending))
    trial_wall_s: dict[str, float] = {}
    t0 = time.perf_counter()
    bar = tqdm(
        total=len(trials),
        initial=outcome.skipped,
        unit="trial",
        disable=not progress,
        desc=spec.name,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    try:
        if pending:
            # trial artifacts (logs, models) under the run; a trial's own bars only in-process
            job = Job(spec, run.path.resolve() / "artifacts", trial_progress)
            runs = EXECUTORS[executor](job, pending, workers, ray_address)
            with contextlib.closing(runs):  # closed on Ctrl-C too: the workers stop at once
                for key, result, wall_s in runs:
                    if isinstance(result, str):
                        outcome.failed.append(key)
                        run.append_log(
                            f"[{now_iso()}] trial {key} FAILED after {wall_s:.1f}s\n{result}"
                        )
                    else:
                        run.write_trial(key, result)
                        outcome.ran += 1
                    trial_wall_s[key] = round(wall_s, 3)
                    bar.update(1)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        bar.close()
    outcome.wall_s = time.perf_counter() - t0
    run.consolidate([(t.key, t.agent.name, t.seed_index) for t in trials])
    status = "interrupted" if outcome.interrupted else "failed" if outcome.failed else "complete"
    meta.update(
        finished=now_iso(),
        status=status,
        failed=outcome.failed,
        wall_s=round(outcome.wall_s, 3),
        trial_wall_s=trial_wall_s,
    )
    run.write_meta(meta)
    return outcome
