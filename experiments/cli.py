"""The ``qmml`` command line: list, run, report, compare.

User mistakes end in one line on stderr and exit status 2; failed trials in exit status 1;
Ctrl-C in exit status 130 with every finished trial kept (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import textwrap
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.spec import ExperimentSpec, SpecError, did_you_mean, load_spec

__all__ = ["builtin_experiments", "main", "resolve_spec"]

_EPILOG_RUN = """examples:
  qmml run bandit-testbed                       the book's Figures 2.2-2.6 (about a minute)
  qmml run bandit-stocks --quick                a smoke run with a tiny budget
  qmml run bandit-stocks --set env.cost_bps=20  the same study with higher trading costs
  qmml run bandit-testbed --set agent.epsilon=0.05 --seeds 20
  qmml run my-experiment.yaml --executor ray --ray-address auto

--set KEY=VALUE takes a dotted path into the spec (values are YAML): budget.steps=500,
env.start=2018-01-01, agents.NAME.epsilon=0.2 (one agent), agent.epsilon=0.2 (every agent
that has an epsilon). The same command with the same settings resumes an interrupted run;
--fresh starts it over."""


def builtin_experiments() -> dict[str, Path]:
    """Built-in experiment names and their spec files."""
    folder = resources.files("qmml.experiments") / "specs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve_spec(name_or_path: str) -> ExperimentSpec:
    """A built-in experiment by name, or a YAML file by path.

    Raises:
        SpecError: unknown name or invalid file.
    """
    builtins = builtin_experiments()
    if name_or_path in builtins:
        return load_spec(builtins[name_or_path])
    if name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).exists():
        return load_spec(name_or_path)
    did = did_you_mean(name_or_path, builtins)
    raise SpecError(
        f"unknown experiment {name_or_path!r}; built-ins: "
        f"{', '.join(sorted(builtins))} (or give a .yaml file){did}"
    )


def _cmd_list(args: argparse.Namespace) -> int:
    # from static tables (qmml.experiments.listing): importing the workloads and the
    # environments to describe them would load torch, SB3 and scikit-learn (about 4 CPU-s)
    from qmml.experiments.listing import ENVIRONMENTS, WORKLOADS

    print("experiments (qmml run NAME):")
    for name, path in sorted(builtin_experiments().items()):
        spec = load_spec(path)
        print(f"  {name:<22} {textwrap.shorten(spec.description, 76, placeholder=' …')}")
    print("\nenvironments (gymnasium.make ID, after `import envs`):")
    for env_id, entry_point in sorted(ENVIRONMENTS.items()):
        print(f"  {env_id:<32} {entry_point}")
    print("\nworkloads and their agent types (the 'kind' and 'type' of a spec):")
    rows = {k: (e.description, e.agent_types) for k, e in WORKLOADS.items()}
    registry = sys.modules.get("qmml.experiments.workload")
    if registry is not None:  # workloads registered in this process (a notebook, a test)
        for k, w in registry._REGISTRY.items():
            rows.setdefault(k, (w.description, tuple(sorted(w.agent_types))))
    for name, (description, agent_types) in sorted(rows.items()):
        print(f"  {name:<22} {description}")
        print(f"  {'':<22} agents: {', '.join(agent_types)}")
    return 0


def _accepts(spec: ExperimentSpec):
    from qmml.experiments.workload import accepts_param, get_workload

    types = get_workload(spec.kind).agent_types

    def accepts(agent_type: str, key: str) -> bool:
        return agent_type in types and accepts_param(types[agent_type], key)

    return accepts


def _cmd_run(args: argparse.Namespace) -> int:
    from qmml.experiments.report import build_report, summary_table
    from qmml.experiments.runner import run_experiment

    spec = resolve_spec(args.experiment)
    if args.quick:
        spec = apply_quick(spec)
    if args.seeds is not None:
        if args.seeds < 1:
            raise SpecError(f"--seeds {args.seeds}: give at least 1 seed")
        spec = apply_overrides(spec, [f"seeds={args.seeds}"])
    if args.set:
        spec = apply_overrides(spec, args.set, _accepts(spec))
        _check_shadowed(spec, args.set)
    outcome = run_experiment(
        spec,
        out=args.out,
        # a --quick run's trials take less than starting a pool, and too little for bars
        executor=args.executor or ("serial" if args.quick else "process"),
        trial_progress=None if args.executor or not args.quick else False,
        workers=args.workers,
        ray_address=args.ray_address,
        fresh=args.fresh,
        progress=not args.no_progress,
        name=args.name,
    )
    run = outcome.run_dir
    print(
        f"run folder: {run.path}  ({outcome.ran} trial(s) run, {outcome.skipped} reused, "
        f"{len(outcome.failed)} failed, {outcome.wall_s:.1f}s)"
    )
    if outcome.interrupted:
        print(
            "interrupted: finished trials are stored; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    report = build_report(run.path)
    if spec.report.primary:
        _, scalars = run.load_tables()
        table = summary_table(
            scalars[scalars["metric"] == spec.report.primary], list(dict.fromkeys(scalars["agent"]))
        )
        table = table.sort_values("mean", ascending=not spec.report.higher_is_better)
        print(f"\n{spec.report.primary} (mean [95% CI] over {spec.seeds} seed(s)), best first:")
        top = table.head(10)
        width = max(34, *(len(str(a)) for a in top["agent"])) if len(top) else 34
        for r in top.itertuples():
            print(f"  {r.agent:<{width}} {r.mean:10.4g}  [{r.ci_low:.4g}, {r.ci_high:.4g}]")
    print(f"\nreport: {report}")
    if outcome.failed:
        print(
            f"{len(outcome.failed)} trial(s) failed: {', '.join(outcome.failed)}; "
            f"tracebacks in {run.path / 'run.log'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_shadowed(spec: ExperimentSpec, overrides: list[str]) -> None:
    """Refuse ``--set env.KEY=V`` that no agent would see: when every agent sets
    ``env.KEY`` itself, the experiment-wide value is never used (nor validated)."""
    for raw in overrides:
        key = raw.split("=", 1)[0].strip()
        if not key.startswith("env.") or key.count(".") != 1:
            continue
        name = key[len("env.") :]
        if spec.agents and all(name in a.env for a in spec.agents):
            first = spec.agents[0].name
            raise SpecError(
                f"--set {key}: every agent sets env.{name} itself, so this value would not be "
                f"used; set it per agent, e.g. --set 'agents.{first}.env.{name}=...'"
            )


def _cmd_report(args: argparse.Namespace) -> int:
    from qmml.experiments.report import build_report

    print(f"report: {build_report(args.run_dir)}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from qmml.experiments.compare import compare_runs, spec_differences
    from qmml.experiments.store import RunDir

    report = compare_runs(args.run_dirs, args.out, mixed=args.mixed)
    specs = [RunDir(d).load_spec() for d in args.run_dirs]
    for line in spec_differences(specs, [str(d) for d in args.run_dirs]) or ["specs identical"]:
        print(line)
    print(f"report: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``qmml`` (also used to render --help in the docs)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="qmml",
        formatter_class=fmt,
        description="qmml-lab: run RL, trading and supervised-learning experiments, store the "
        "results, and compare agents in plotted reports.",
        epilog="start with:  qmml list   then   qmml run bandit-testbed --quick",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sp = sub.add_parser(
        "list",
        help="built-in experiments, environments and agents",
        description="List built-in experiments, registered Gymnasium ids and "
        "the agent types each workload accepts.",
    )
    sp.set_defaults(func=_cmd_list)

    sp = sub.add_parser(
        "run",
        help="run an experiment and build its report",
        formatter_class=fmt,
        description="Run every trial (agent x seed) of an experiment, store "
        "the results under OUT/<experiment>/<run-id>/ and build "
        "report.html there.",
        epilog=_EPILOG_RUN,
    )
    sp.add_argument("experiment", help="built-in name (see qmml list) or path to a YAML spec")
    sp.add_argument("--seeds", type=int, help="number of seeds per agent (overrides the spec)")
    sp.add_argument(
        "--workers", type=int, default=None, help="parallel workers (default: all cores)"
    )
    sp.add_argument(
        "--executor",
        choices=["serial", "process", "ray"],
        default=None,
        help="where trials run: in this process, a local process pool (default; serial "
        "for --quick, whose trials take less than starting a pool), or Ray "
        "(pip install 'qmml-lab[ray]')",
    )
    sp.add_argument(
        "--ray-address",
        default=None,
        help="address of a running Ray cluster, e.g. auto or ray://host:10001 "
        "(default: start a local Ray instance)",
    )
    sp.add_argument("--out", default="runs", help="results root folder (default: runs)")
    sp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value; repeatable (see examples below)",
    )
    sp.add_argument(
        "--quick",
        action="store_true",
        help="tiny budget from the spec's 'quick' section, for smoke runs",
    )
    sp.add_argument(
        "--fresh",
        action="store_true",
        help="ignore and delete earlier results of the same settings",
    )
    sp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sp.add_argument(
        "--name", default=None, help="a label for this run (shown by qmml runs and compare)"
    )
    sp.set_defaults(func=_cmd_run)

    sp = sub.add_parser(
        "report",
        help="rebuild a run's report from stored results",
        description="Rebuild report.html, summary.md and figures/ of a run "
        "from its stored results, without re-running anything.",
    )
    sp.add_argument("run_dir", help="a run folder, e.g. runs/bandit-testbed/<run-id>")
    sp.set_defaults(func=_cmd_report)

    sp = sub.add_parser(
        "compare",
        help="one report over several runs",
        description="Compare runs of the same experiment (e.g. two configurations) in one "
        "report; agents are labelled <run name or id>:<agent>, and what differs between "
        "the runs' specs is printed and shown first.",
    )
    sp.add_argument("run_dirs", nargs="+", help="two or more run folders")
    sp.add_argument(
        "--out", default=None, help="folder for the comparison (default: runs/compare/<hash>)"
    )
    sp.add_argument(
        "--mixed",
        action="store_true",
        help="pool runs of different experiments (same kind) in one report",
    )
    sp.set_defaults(func=_cmd_compare)
    from qmml.experiments.runs_cli import add_parsers as _add_runs

    _add_runs(sub)
    from qmml.experiments.backtest_cli import add_parser as _add_backtest

    _add_backtest(sub)
    from qmml.experiments.serve_cli import add_parser as _add_serve

    _add_serve(sub)
    return p


_OS_FIXES = {
    errno.EACCES: "check its permissions, or choose another folder (--out)",
    errno.EPERM: "check its permissions, or choose another folder (--out)",
    errno.EROFS: "the file system is read-only: choose another folder (--out)",
    errno.ENOSPC: "the disk is full: free some space and run the same command again "
    "(finished trials are kept)",
    errno.EDQUOT: "the disk quota is used up: free some space and run the same command again",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "it is a folder: give a file",
    errno.EEXIST: "a file of that name is in the way: choose another path",
    errno.ENOENT: "it does not exist: check the path",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer --workers",
}


def os_error_line(err: OSError) -> str:
    """One line for an operating-system error: the path, the cause and the fix."""
    what = err.strerror or type(err).__name__
    path = f"{err.filename}: " if err.filename else ""
    if err.filename2:
        path = f"{err.filename} -> {err.filename2}: "
    fix = _OS_FIXES.get(err.errno or -1, "check the path and try again")
    return f"{path}{what.lower()}; {fix}"


# Errors in the user's input besides SpecError: the data loaders' DataError. Looked up, not
# imported: importing them would load the environments and scikit-learn (about 1.5 CPU-s) in
# commands that never touch data, and an error whose module is not loaded was never raised.
_DATA_ERROR_MODULES = ("qmml.envs.market.data", "qmml.supervised.dataset")


def _user_errors() -> tuple[type[Exception], ...]:
    loaded = (sys.modules.get(m) for m in _DATA_ERROR_MODULES)
    return (SpecError, *(m.DataError for m in loaded if m is not None))


def _sigterm(signum: int, frame: Any) -> None:
    # what `timeout`, systemd and Slurm send: stop like Ctrl-C (finished trials are stored,
    # the run is marked interrupted, workers stop)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qmml`` console script."""
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm)
    # the command writes figures to files: never open a window (library code leaves the
    # backend to its caller, e.g. a notebook)
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        return int(args.func(args))
    except _user_errors() as err:  # evaluated when an error arrives: after the imports
        # user input: one line, no traceback
        print(f"qmml: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path of the user's: unwritable, full, missing, not a folder
        print(f"qmml: error: {os_error_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qmml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
