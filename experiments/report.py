"""Reports built from stored results only: ``report.html`` (self-contained, opens offline),
``summary.md``, ``summary.csv`` and ``figures/*.png``. Nothing here re-runs a trial.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from tqdm import tqdm

from qmml.experiments.catalogue import metric_label
from qmml.experiments.figures import PLOTS, finish_figure
from qmml.experiments.report_page import Figure, Page, Table, render_html, render_markdown, slug
from qmml.experiments.report_tables import (
    COMPARISON_COLUMNS,
    MAX_MATRIX,
    baselines_of,
    comparison_figure,
    comparison_view,
    comparisons_table,
    metrics_view,
    pairwise_table,
    summary_table,
)
from qmml.experiments.spec import ExperimentSpec, PlotSpec, SpecError, unknown_choice
from qmml.experiments.store import DamagedRunError, RunDir, atomic_write_bytes, atomic_write_text
from qmml.experiments.verdicts import MIN_SEEDS, Comparison, finding_sentences
from qmml.experiments.workload import PlotContext, expand_agents, get_workload

__all__ = [
    "build_report",
    "comparisons_table",
    "context_of",
    "pairwise_table",
    "render",
    "summary_table",
]


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


def render(
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
    comp = pd.DataFrame(columns=COMPARISON_COLUMNS)
    pw = pd.DataFrame()
    comparison_png = None
    if primary and (ctx.scalars["metric"] == primary).any():
        base = baselines_of(ctx, names, list(baselines))
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
        fig = comparison_figure(ctx, comp, primary, higher)
        comparison_png = _fig_png(fig) if fig is not None else None
        pw = pairwise_table(ctx.scalars, primary, names, higher_is_better=higher)
    said = list(findings) or (
        finding_sentences([Comparison(**r) for r in comp.to_dict("records")], metric_label(primary))
        if primary and len(comp)
        else []
    )
    seeds = int(ctx.scalars.groupby("agent")["seed"].nunique().max()) if len(ctx.scalars) else 0
    banners = []
    # a workload that states its finding from another interval (days, folds) is not a smoke
    # run for having few seeds; a comparison over seeds is
    if 0 < seeds < MIN_SEEDS and not findings:
        banners.append(
            f"Smoke run: {seeds} seed(s). An interval over seeds needs at least {MIN_SEEDS}; "
            "the numbers here show that the experiment runs, not what it finds."
        )
    used: set[str] = {f.id for f in figs} | {"finding", "comparison", "metrics", "details"}
    view = comparison_view(comp, primary) if primary and len(comp) else comp
    details = _details(summary, pw, meta_rows)
    if len(view) > MAX_MATRIX:  # too long for the top of the page: folded, in full
        details.insert(0, Table("Every agent against the baseline", view))
    page = Page(
        title=title,
        question=question,
        findings=said,
        banners=banners,
        notes=notes,
        figures=figs,
        empty_figures=empty,
        metrics=metrics_view(ctx, names),
        metrics_caption=(
            f"Mean over seeds with a 95% bootstrap interval; '(deterministic)' where every "
            f"seed gave the same value, 'too few' below {MIN_SEEDS} seeds."
        ),
        comparisons=view if len(view) <= MAX_MATRIX else view.iloc[0:0],
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


def context_of(run: RunDir, spec: ExperimentSpec) -> PlotContext:
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
    ctx = context_of(run, spec)
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
    prov = [(str(k), str(v)) for k, v in meta.get("provenance") or []]
    if prov:
        notes.insert(0, "Data: " + "; ".join(v for _, v in prov) + ".")
    notes += workload.notes(ctx)
    rows = [
        ("experiment", f"{spec.name} ({spec.kind})"),
        ("description", spec.description),
        ("run", str(run.path)),
        ("seeds", f"{spec.seeds} (base seed {spec.seed})"),
        ("started", str(meta.get("started"))),
        ("git commit", str(meta.get("git_commit"))),
        ("status", str(meta.get("status"))),
        *prov,
    ]
    return render(
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
