"""Reports built from stored results only: ``report.html`` (self-contained, opens offline),
``summary.md``, ``summary.csv`` and ``figures/*.png``. Nothing here re-runs a trial.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm import tqdm

from qmml.experiments.catalogue import metric_label
from qmml.experiments.figures import PLOTS, finish_figure
from qmml.experiments.report_page import Figure, Page, Table, render_html, render_markdown, slug
from qmml.experiments.spec import ExperimentSpec, PlotSpec, SpecError, unknown_choice
from qmml.experiments.stats import bootstrap_diff, bootstrap_mean, iqm, probability_of_improvement
from qmml.experiments.store import DamagedRunError, RunDir, atomic_write_bytes, atomic_write_text
from qmml.experiments.verdicts import (
    MIN_SEEDS,
    Comparison,
    compare,
    finding_sentences,
    format_estimate,
)
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
    # tight: a wrapped title or an outside legend is never cut off
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


_CAPTIONS = {
    "curve": "Mean over seeds; the shaded band is a 95% bootstrap interval (none for one seed "
    "or a quantity the seed cannot change).",
    "param_study": "A scalar metric against the swept parameter: mean over seeds with 95% "
    "bootstrap intervals, one line per agent family.",
    "bar": "Mean over seeds with 95% bootstrap intervals.",
}


def _caption(plot: PlotSpec) -> str:
    given = plot.options.get("caption")
    if isinstance(given, str) and given:
        return given
    return _CAPTIONS.get(plot.plot, "Drawn from the stored results of every trial.")


def _draw(
    ctx: PlotContext, plots: list[PlotSpec], kinds: dict[str, Any]
) -> tuple[list[Figure], list[tuple[str, str]]]:
    figs: list[Figure] = []
    empty: list[tuple[str, str]] = []
    used: set[str] = {"finding", "comparison", "metrics", "details", "not-drawn"}
    bar = tqdm(plots, desc="report", unit="figure", leave=False, file=sys.stderr,
               disable=len(plots) < 4 or not sys.stderr.isatty())  # fmt: skip
    for i, p in enumerate(bar):
        if p.plot not in kinds:
            raise SpecError(unknown_choice("plot kind", p.plot, kinds, f"report.plots[{i}].plot"))
        fig = kinds[p.plot](ctx, p)
        title = p.title or (metric_label(p.metric) if p.metric else p.plot)
        why = finish_figure(fig)
        if why is not None:
            plt.close(fig)
            empty.append((title, why))
            continue
        sid = slug(title, used)
        figs.append(Figure(f"{i + 1:02d}-{sid[:50]}.png", title, _caption(p), _fig_png(fig), sid))
    return figs, empty


_COMPARISON_COLUMNS = ["agent", "baseline", "metric", "n", "diff", "low", "high", "p_better",
                       "verdict"]  # fmt: skip


def _baselines(ctx: PlotContext, names: list[str], declared: list[str]) -> list[str]:
    wanted = set(declared)
    return [n for n in names if n in wanted or ctx.agents[n].group in wanted]


def comparisons_table(
    ctx: PlotContext, metric: str, baselines: list[str], *, higher_is_better: bool = True
) -> pd.DataFrame:
    """Each agent against the baseline(s) of its environment settings on ``metric``; with no
    baseline, each against the best agent of its settings. One row per pair: the numbers the
    finding sentences are made from (stored as ``comparisons.csv``)."""
    vals = per_seed(ctx.scalars, metric)
    names = [n for n in ctx.agents if n in vals]
    setting_of = {n: json.dumps(ctx.agents[n].env, sort_keys=True, default=str) for n in names}
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for setting in dict.fromkeys(setting_of.values()):
        members = [n for n in names if setting_of[n] == setting]
        refs = [b for b in baselines if b in members]
        finite = [n for n in members if np.isfinite(vals[n]).any()]
        if not refs and len(finite) > 1:
            refs = [max(finite, key=lambda a: sign * float(np.nanmean(vals[a])))]
        for ref in refs:
            for n in members:
                if n == ref or n in baselines:
                    continue
                c = compare(n, vals[n], ref, vals[ref], metric, higher_is_better=higher_is_better)
                rows.append(c.__dict__)
    return pd.DataFrame(rows, columns=_COMPARISON_COLUMNS)


def _comparison_view(comp: pd.DataFrame, metric: str) -> pd.DataFrame:
    def diff(r: Any) -> str:
        if r.low != r.low:  # NaN: no interval can be given
            return f"{r.diff:+.4g}"
        return f"{r.diff:+.4g} [{r.low:+.4g}, {r.high:+.4g}]"

    return pd.DataFrame(
        {
            "agent": comp["agent"],
            "baseline": comp["baseline"],
            "seeds": comp["n"],
            f"difference in {metric_label(metric)} [95% CI]": [diff(r) for r in comp.itertuples()],
            "P(a seed of agent beats a seed of baseline)": comp["p_better"].round(2),
            "verdict": comp["verdict"],
        }
    )


def _comparison_figure(ctx: PlotContext, comp: pd.DataFrame, metric: str, higher: bool) -> Any:
    """Probability of improvement over the baseline with a 95% bootstrap interval over seeds
    (rliable-style): 0.5 is no difference."""
    vals = per_seed(ctx.scalars, metric)
    comp = comp[comp["verdict"].isin(["better", "worse", "no detectable difference"])]
    if comp.empty:
        return None
    rng = np.random.default_rng(0)
    sign = 1.0 if higher else -1.0
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.32 * len(comp)))
    colors = {"better": "tab:green", "worse": "tab:red", "no detectable difference": "0.45"}
    for i, r in enumerate(comp.itertuples()):
        a, b = sign * vals[r.agent], sign * vals[r.baseline]
        boots = [
            probability_of_improvement(rng.choice(a, len(a)), rng.choice(b, len(b)))
            for _ in range(300)
        ]
        lo, hi = np.quantile(boots, [0.025, 0.975])
        ax.errorbar(r.p_better, i, xerr=[[r.p_better - lo], [hi - r.p_better]], fmt="o",
                    color=colors[r.verdict], capsize=3)  # fmt: skip
    ax.axvline(0.5, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(comp)), [f"{r.agent} vs {r.baseline}" for r in comp.itertuples()],
                  fontsize=8)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel(f"P(a seed of the agent beats a seed of the baseline) on {metric_label(metric)}")
    ax.set_title("Probability of improvement (95% bootstrap interval over seeds)", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return fig


def _metrics_view(ctx: PlotContext, names: list[str]) -> pd.DataFrame:
    """Agents × metrics, each cell the estimate its seeds support (see ``format_estimate``)."""
    metrics = list(dict.fromkeys(ctx.scalars["metric"]))
    # a metric repeated within a trial (a sample) counts as its mean per seed
    per = ctx.scalars.groupby(["agent", "metric", "seed"], sort=False)["value"].mean()
    cells: dict[tuple[str, str], np.ndarray] = {}
    for (agent, metric), g in per.groupby(level=[0, 1], sort=False):
        cells[(str(agent), str(metric))] = g.to_numpy()
    rows = []
    for n in names:
        row: dict[str, str] = {"agent": n}
        for m in metrics:
            if (n, m) in cells:
                row[metric_label(m)] = format_estimate(cells[(n, m)])
        rows.append(row)
    return pd.DataFrame(rows).fillna("—")


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
    *,
    question: str = "",
    baselines: Sequence[str] = (),
    findings: Sequence[str] = (),
) -> Path:
    names = list(ctx.agents)
    figs, empty = _draw(ctx, plots, {**PLOTS, **extra})
    summary = summary_table(ctx.scalars, names)
    comp = pd.DataFrame(columns=_COMPARISON_COLUMNS)
    pw = pd.DataFrame()
    comparison_png = None
    if primary and (ctx.scalars["metric"] == primary).any():
        base = _baselines(ctx, names, list(baselines))
        missing = [b for b in dict.fromkeys(baselines) if b not in base and not any(
            ctx.agents[n].group == b for n in base)]  # fmt: skip
        if missing:  # e.g. --set agents=... replaced them: say so, compare with the best
            notes = [
                *notes,
                f"Baseline(s) {', '.join(missing)} named by report.baselines are "
                "not agents of this run"
                + ("" if base else "; each agent is compared with the best of its settings instead")
                + ".",
            ]
        comp = comparisons_table(ctx, primary, base, higher_is_better=higher)
        fig = _comparison_figure(ctx, comp, primary, higher)
        comparison_png = _fig_png(fig) if fig is not None else None
        pw = pairwise_table(ctx.scalars, primary, names, higher_is_better=higher)
    said = list(findings) or (
        finding_sentences([Comparison(**r) for r in comp.to_dict("records")], metric_label(primary))
        if primary and len(comp)
        else []
    )
    seeds = int(ctx.scalars.groupby("agent")["seed"].nunique().max()) if len(ctx.scalars) else 0
    banners = []
    if 0 < seeds < MIN_SEEDS:
        banners.append(
            f"Smoke run: {seeds} seed(s). An interval over seeds needs at least {MIN_SEEDS}; "
            "the numbers here show that the experiment runs, not what it finds."
        )
    used: set[str] = {f.id for f in figs} | {"finding", "comparison", "metrics", "details"}
    view = _comparison_view(comp, primary) if primary and len(comp) else comp
    details = _details(summary, pw, meta_rows)
    if len(view) > _MAX_MATRIX:  # too long for the top of the page: folded, in full
        details.insert(0, Table("Every agent against the baseline", view))
    page = Page(
        title=title,
        question=question,
        findings=said,
        banners=banners,
        notes=notes,
        figures=figs,
        empty_figures=empty,
        metrics=_metrics_view(ctx, names),
        metrics_caption=(
            f"Mean over seeds with a 95% bootstrap interval; '(deterministic)' where every "
            f"seed gave the same value, 'too few' below {MIN_SEEDS} seeds."
        ),
        comparisons=view if len(view) <= _MAX_MATRIX else view.iloc[0:0],
        comparison_caption=(
            "Each agent against the baseline of its settings on the primary metric: the "
            "difference of means with a 95% bootstrap interval over seeds; 'better' or 'worse' "
            "only where that interval excludes zero."
        ),
        comparison_png=comparison_png,
        tables=[Table(t, df, slug(t, used)) for t, df in tables],
        details=details,
        meta_rows=meta_rows,
    )
    _write(out, figs, summary, comp, page)
    return out / "report.html"


def _details(
    summary: pd.DataFrame, pw: pd.DataFrame, meta_rows: list[tuple[str, str]]
) -> list[Table]:
    out = [Table("Run information", pd.DataFrame(meta_rows, columns=["", "value"]))]
    if len(summary):
        iq = summary.pivot(index="agent", columns="metric", values="iqm")
        iq = iq.reindex(list(dict.fromkeys(summary["agent"]))).reset_index()
        out.append(Table("Interquartile mean per metric (robust to outlier seeds)", iq))
    if len(pw):
        t = pw.rename(
            columns={
                "a": "A",
                "b": "B",
                "p_a_better": "P(A better)",
                "diff_mean": "mean(A)−mean(B)",
                "diff_ci_low": "CI low",
                "diff_ci_high": "CI high",
            }
        )
        out.append(Table("Every pair of agents (pairs the seed cannot separate left out)", t))
    return out


def _write(
    out: Path, figs: list[Figure], summary: pd.DataFrame, comp: pd.DataFrame, page: Page
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fdir = out / "figures"
    fdir.mkdir(exist_ok=True)
    keep = {f.fname for f in figs}
    for old in fdir.glob("*.png"):
        if old.name not in keep:
            old.unlink()
    for f in figs:
        atomic_write_bytes(fdir / f.fname, f.png)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(out / "comparisons.csv", comp.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(out / "summary.md", render_markdown(page))
    atomic_write_text(out / "report.html", render_html(page))


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
        question=spec.report.question or workload.question or spec.description,
        baselines=[*spec.report.baselines, *workload.baselines(ctx)],
        findings=workload.findings(ctx),
    )


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
        diff_notes,
        question=f"How do the runs {', '.join(labels)} of {specs[0].name} differ?",
        baselines=[
            f"{labels[0]}:{b}" for b in specs[0].report.baselines if f"{labels[0]}:{b}" in agents
        ],
    )
