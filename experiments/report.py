"""Reports built from stored results only: ``report.html`` (self-contained, opens offline),
``summary.md``, ``summary.csv`` and ``figures/*.png``. Nothing here re-runs a trial.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from qmml.experiments.figures import PLOTS
from qmml.experiments.report_page import Page, render_html, render_markdown
from qmml.experiments.spec import ExperimentSpec, PlotSpec, SpecError
from qmml.experiments.stats import bootstrap_diff, bootstrap_mean, iqm, probability_of_improvement
from qmml.experiments.store import DamagedRunError, RunDir, atomic_write_bytes, atomic_write_text
from qmml.experiments.workload import PlotContext, expand_agents, get_workload

__all__ = ["build_report", "compare_runs", "pairwise_table", "summary_table"]

_MAX_MATRIX = 12  # beyond this many agents, compare each with the best instead of all pairs


def per_seed(scalars: pd.DataFrame, metric: str) -> dict[str, np.ndarray]:
    """Per agent, one value per seed of ``metric`` (a repeated metric is averaged first)."""
    sub = scalars[scalars["metric"] == metric]
    out: dict[str, np.ndarray] = {}
    for agent, g in sub.groupby("agent", sort=False):
        out[str(agent)] = g.groupby("seed")["value"].mean().to_numpy()
    return out


def summary_table(scalars: pd.DataFrame, agents: list[str]) -> pd.DataFrame:
    """Mean with 95% bootstrap CI and interquartile mean, per agent and scalar metric."""
    rows = []
    for metric in dict.fromkeys(scalars["metric"]):
        vals = per_seed(scalars, metric)
        for a in agents:
            if a not in vals:
                continue
            ci = bootstrap_mean(vals[a])
            rows.append(
                {
                    "agent": a,
                    "metric": metric,
                    "n": ci.n,
                    "mean": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "iqm": iqm(vals[a]),
                }
            )
    return pd.DataFrame(rows, columns=["agent", "metric", "n", "mean", "ci_low", "ci_high", "iqm"])


def pairwise_table(
    scalars: pd.DataFrame, metric: str, agents: list[str], *, higher_is_better: bool = True
) -> pd.DataFrame:
    """Pairwise comparisons on ``metric``: P(A better than B) over seeds and a bootstrap CI of
    the difference of means. All pairs for up to 12 agents, else each agent against the best.

    Pairs of two agents whose results do not vary with the seed (one seed, or a deterministic
    strategy) are left out: seeds say nothing about their difference, and a P of 0 or 1 with
    a zero-width interval would read as certainty.
    """
    vals = per_seed(scalars, metric)
    names = [a for a in agents if a in vals]
    sign = 1.0 if higher_is_better else -1.0
    if len(names) <= _MAX_MATRIX:
        pairs = list(itertools.permutations(names, 2))
    else:
        best = max(names, key=lambda a: sign * float(np.mean(vals[a])))
        pairs = [(best, a) for a in names if a != best]
    varies = {a: bool(np.ptp(vals[a]) > 0) if len(vals[a]) > 1 else False for a in names}
    pairs = [(a, b) for a, b in pairs if varies[a] or varies[b]]
    rows = []
    for a, b in pairs:
        d = bootstrap_diff(vals[a], vals[b])
        rows.append(
            {
                "a": a,
                "b": b,
                "p_a_better": probability_of_improvement(sign * vals[a], sign * vals[b]),
                "diff_mean": d.estimate,
                "diff_ci_low": d.low,
                "diff_ci_high": d.high,
            }
        )
    return pd.DataFrame(
        rows, columns=["a", "b", "p_a_better", "diff_mean", "diff_ci_low", "diff_ci_high"]
    )


def _fig_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _pairwise_figure(pw: pd.DataFrame, names: list[str], metric: str) -> Any:
    if pw.empty or len(names) > _MAX_MATRIX:
        return None
    m = np.full((len(names), len(names)), np.nan)
    pos = {n: i for i, n in enumerate(names)}
    for r in pw.itertuples():
        m[pos[r.a], pos[r.b]] = r.p_a_better
    fig, ax = plt.subplots(figsize=(1.6 + 0.55 * len(names), 1.2 + 0.5 * len(names)))
    im = ax.imshow(m, cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for i, j in itertools.product(range(len(names)), repeat=2):
        if i != j:
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"P(row better than column) on {metric}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def _setting_label(setting: str) -> str:
    env = json.loads(setting)
    return ", ".join(f"{k}={v}" for k, v in env.items()) or "default settings"


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return "-".join(p for p in keep.split("-") if p)[:60] or "figure"


def _render(
    ctx: PlotContext,
    plots: list[PlotSpec],
    extra: dict[str, Any],
    primary: str | None,
    higher: bool,
    out: Path,
    title: str,
    meta_rows: list[tuple[str, str]],
    notes: list[str],
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
) -> Path:
    names = list(ctx.agents)
    figs: list[tuple[str, str, bytes]] = []
    kinds = {**PLOTS, **extra}
    for i, p in enumerate(plots):
        if p.plot not in kinds:
            raise SpecError(
                f"report.plots[{i}]: unknown plot kind {p.plot!r}; choose from "
                f"{', '.join(sorted(kinds))}"
            )
        fig = kinds[p.plot](ctx, p)
        figs.append(
            (f"{i + 1:02d}-{_slug(p.title or p.plot)}.png", p.title or p.plot, _fig_png(fig))
        )
    summary = summary_table(ctx.scalars, names)
    pw = pd.DataFrame()
    if primary and (ctx.scalars["metric"] == primary).any():
        # Only agents that faced the same environment settings are comparable (e.g. not a
        # model on digits against one on spiral data).
        setting_of = {
            n: json.dumps(a.env, sort_keys=True, default=str) for n, a in ctx.agents.items()
        }
        parts = []
        for setting in dict.fromkeys(setting_of.values()):
            members = [n for n in names if setting_of.get(n) == setting]
            part = pairwise_table(ctx.scalars, primary, members, higher_is_better=higher)
            if part.empty:
                continue
            parts.append(part)
            involved = set(part["a"]) | set(part["b"])
            fig = _pairwise_figure(part, [n for n in members if n in involved], primary)
            if fig is not None:
                label = f"pairwise on {primary}" + (
                    f" ({_setting_label(setting)})" if len(set(setting_of.values())) > 1 else ""
                )
                figs.append((f"{len(figs) + 1:02d}-{_slug(label)}.png", label, _fig_png(fig)))
        if parts:
            pw = pd.concat(parts, ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    fdir = out / "figures"
    fdir.mkdir(exist_ok=True)
    for old in fdir.glob("*.png"):
        if old.name not in {f for f, _, _ in figs}:
            old.unlink()
    for fname, _, png in figs:
        atomic_write_bytes(fdir / fname, png)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    page = Page(title, meta_rows, notes, summary, pw, primary, figs, list(tables))
    atomic_write_text(out / "summary.md", render_markdown(page))
    html_text = render_html(page)
    atomic_write_text(out / "report.html", html_text)
    return out / "report.html"


def _context(run: RunDir, spec: ExperimentSpec) -> PlotContext:
    try:
        curves, scalars = run.load_tables()
    except DamagedRunError:
        # the consolidated tables are derived: gather them again from the trials (a damaged
        # trial file then names itself, with the fix)
        from qmml.experiments.runner import plan_trials

        run.consolidate([(t.key, t.agent.name, t.seed_index) for t in plan_trials(spec)])
        curves, scalars = run.load_tables()
    agents = {a.name: a for a in expand_agents(spec)}
    return PlotContext(spec, curves, scalars, agents)


def build_report(run_dir: str | Path) -> Path:
    """(Re)build a run's report from its stored results.

    Returns:
        The path of ``report.html``.

    Raises:
        SpecError: not a run folder, or no results in it yet.
    """
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise SpecError(
            f"run folder {str(run.path)!r} not found; 'qmml run' prints the folder "
            "of each run (under runs/<experiment>/)"
        )
    spec = run.load_spec()
    ctx = _context(run, spec)
    meta = run.load_meta()
    workload = get_workload(spec.kind)
    notes = []
    if meta.get("failed"):
        notes.append(
            f"{len(meta['failed'])} trial(s) failed and are missing from this report: "
            f"{', '.join(meta['failed'])} (tracebacks in run.log)."
        )
    if meta.get("status") == "interrupted":
        notes.append("This run was interrupted: re-run the same command to finish it.")
    notes += workload.notes(ctx)
    rows = [
        ("experiment", f"{spec.name} ({spec.kind})"),
        ("description", spec.description),
        ("run", str(run.path)),
        ("seeds", f"{spec.seeds} (base seed {spec.seed})"),
        ("started", str(meta.get("started"))),
        ("git commit", str(meta.get("git_commit"))),
        ("status", str(meta.get("status"))),
    ]
    return _render(
        ctx,
        list(spec.report.plots),
        workload.plots,
        spec.report.primary,
        spec.report.higher_is_better,
        run.path,
        f"qmml-lab report: {spec.name}",
        rows,
        notes,
        workload.tables(ctx),
    )


def compare_runs(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """One report over several runs; agents are labelled ``<run-id>:<agent>``.

    Returns:
        The path of the comparison's ``report.html``.

    Raises:
        SpecError: fewer than two runs, a missing run, or runs of different kinds.
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
    labels = [
        r.path.name if len({s.name for s in specs}) == 1 else f"{s.name}@{r.path.name}"
        for r, s in zip(runs, specs, strict=True)
    ]
    if len(set(labels)) < len(labels):  # the same spec run twice (two machines, two versions)
        labels = [f"run{i + 1}-{lab}" for i, lab in enumerate(labels)]
    curves: list[pd.DataFrame] = []
    scalars: list[pd.DataFrame] = []
    agents: dict[str, Any] = {}
    for run, spec, label in zip(runs, specs, labels, strict=True):
        ctx = _context(run, spec)
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
    return _render(
        ctx,
        plots,
        get_workload(specs[0].kind).plots,
        specs[0].report.primary,
        specs[0].report.higher_is_better,
        out_dir,
        f"qmml-lab comparison: {', '.join(labels)}",
        rows,
        [],
    )
