"""``qmml compare``: one report over several runs of an experiment, saying first what differs
between their specs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from qmml.experiments.report import context_of, render
from qmml.experiments.results import PlotContext
from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.store import RunDir
from qmml.experiments.workload import get_workload

__all__ = ["compare_runs", "spec_differences"]


def spec_differences(specs: list[ExperimentSpec], labels: list[str]) -> list[str]:
    """What differs between runs' specs (period, seeds, parameters), one line per key."""
    flat = [_flatten(s.model_dump(mode="json", exclude={"quick", "report", "description"}))
            for s in specs]  # fmt: skip
    keys = sorted(set().union(*flat))
    out = []
    for k in keys:
        values = [f.get(k, "—") for f in flat]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            shown = "; ".join(f"{lab}: {v}" for lab, v in zip(labels, values, strict=True))
            out.append(f"{k} differs — {shown}")
    return out


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(d, list) and d and all(isinstance(x, dict) and "name" in x for x in d):
        out = {}
        for x in d:
            out.update(_flatten({k: v for k, v in x.items() if k != "name"},
                                f"{prefix}{x['name']}."))  # fmt: skip
        return out
    return {prefix.rstrip("."): d}


def compare_runs(
    run_dirs: list[str | Path], out: str | Path | None = None, *, mixed: bool = False
) -> Path:
    """One report over several runs; agents are labelled ``<run label>:<agent>``, the label
    being the run's ``--name`` where it has one. The report (and the caller) lists what differs
    between the runs' specs.

    Args:
        run_dirs: two or more run folders.
        out: the comparison's folder (default ``runs/compare/<hash>``).
        mixed: allow runs of different experiments (same kind) to be pooled.

    Returns:
        The path of the comparison's ``report.html``.

    Raises:
        SpecError: fewer than two runs, a missing run, runs of different kinds, or of
            different experiments without ``mixed``.
    """
    if len(run_dirs) < 2:
        raise SpecError("compare needs at least two run folders")
    runs = [RunDir(p) for p in run_dirs]
    resolved = [r.path.resolve() for r in runs]
    if len(set(resolved)) < len(resolved):
        raise SpecError("compare got the same run folder twice; give different runs")
    specs = [r.load_spec() for r in runs]
    kinds = {s.kind for s in specs}
    if len(kinds) > 1:
        raise SpecError(f"runs of different kinds cannot be compared: {', '.join(sorted(kinds))}")
    names = {s.name for s in specs}
    if len(names) > 1 and not mixed:
        raise SpecError(
            f"these runs are of different experiments ({', '.join(sorted(names))}); add "
            "--mixed to pool them in one report anyway"
        )
    given = [str(r.load_meta().get("name") or "") for r in runs]
    labels = [
        g or (r.path.name if len(names) == 1 else f"{s.name}@{r.path.name}")
        for g, r, s in zip(given, runs, specs, strict=True)
    ]
    if len(set(labels)) < len(labels):  # the same spec run twice (two machines, two versions)
        labels = [f"run{i + 1}-{lab}" for i, lab in enumerate(labels)]
    diff_notes = spec_differences(specs, labels) or ["The runs' specs are identical."]
    curves: list[pd.DataFrame] = []
    scalars: list[pd.DataFrame] = []
    agents: dict[str, Any] = {}
    for run, spec, label in zip(runs, specs, labels, strict=True):
        ctx = context_of(run, spec)
        for df, acc in ((ctx.curves, curves), (ctx.scalars, scalars)):
            df = df.copy()
            df["agent"] = label + ":" + df["agent"].astype(str)
            acc.append(df)
        for n, a in ctx.agents.items():
            agents[f"{label}:{n}"] = replace(a, name=f"{label}:{n}", group=f"{label}:{a.group}")
    ctx = PlotContext(
        specs[0],
        pd.concat(curves, ignore_index=True),
        pd.concat(scalars, ignore_index=True),
        agents,
    )
    plots = []
    for p in specs[0].report.plots:
        wanted = None
        if p.agents:
            wanted = [
                n
                for n, a in agents.items()
                if n.split(":", 1)[1] in p.agents or a.group.split(":", 1)[1] in p.agents
            ]
        plots.append(p.model_copy(update={"agents": wanted}))
    digest = hashlib.sha256("|".join(str(r.path.resolve()) for r in runs).encode()).hexdigest()
    out_dir = Path(out) if out else Path("runs") / "compare" / digest[:10]
    rows = [(f"run {lab}", str(r.path)) for lab, r in zip(labels, runs, strict=True)]
    return render(
        ctx,
        plots,
        get_workload(specs[0].kind).plots,
        specs[0].report.primary,
        specs[0].report.higher_is_better,
        out_dir,
        f"qmml-lab comparison: {', '.join(labels)}",
        rows,
        diff_notes,
        question=f"How do the runs {', '.join(labels)} of {specs[0].name} differ?",
        baselines=[
            f"{labels[0]}:{b}" for b in specs[0].report.baselines if f"{labels[0]}:{b}" in agents
        ],
    )
