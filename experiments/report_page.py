"""One report page — metrics, pairwise comparisons, tables, figures — as self-contained HTML
(figures embedded as base64 PNG, no external resources) and as Markdown."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["Page", "render_html", "render_markdown"]


@dataclass
class Page:
    """Everything one report page shows (rendered as HTML and as Markdown)."""

    title: str
    meta_rows: list[tuple[str, str]]
    notes: list[str]
    summary: pd.DataFrame
    pairwise: pd.DataFrame
    primary: str | None
    figs: list[tuple[str, str, bytes]]  # (file name, caption, PNG bytes)
    tables: list[tuple[str, pd.DataFrame]]


def _fmt_table(summary: pd.DataFrame) -> pd.DataFrame:
    t = summary.copy()
    t["mean ± 95% CI"] = [
        f"{m:.4g} [{lo:.4g}, {hi:.4g}]"
        for m, lo, hi in zip(t["mean"], t["ci_low"], t["ci_high"], strict=True)
    ]
    t["IQM"] = [f"{v:.4g}" for v in t["iqm"]]
    return t.pivot(index="agent", columns="metric", values="mean ± 95% CI").reindex(
        list(dict.fromkeys(summary["agent"]))
    )


def render_markdown(page: Page) -> str:
    title, meta_rows, notes, summary = page.title, page.meta_rows, page.notes, page.summary
    pw, primary, figs, tables = page.pairwise, page.primary, page.figs, page.tables
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta_rows] + [""]
    lines += [f"> {n}" for n in notes] + ([""] if notes else [])
    lines += ["## Final metrics (mean [95% bootstrap CI] over seeds)", ""]
    if not summary.empty:
        lines += _md_table(_fmt_table(summary).reset_index())
        lines.append("")
    for caption, table in tables:
        lines += [f"## {caption}", "", *_md_table(table), ""]
    if not pw.empty:
        lines += [
            f"## Pairwise on {primary}",
            "",
            "(Pairs of agents whose results do not change with the seed are left out.)",
            "",
            "| A | B | P(A better) | mean(A) − mean(B) [95% CI] |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r.a} | {r.b} | {r.p_a_better:.2f} | {r.diff_mean:.4g} "
            f"[{r.diff_ci_low:.4g}, {r.diff_ci_high:.4g}] |"
            for r in pw.itertuples()
        ]
        lines.append("")
    lines += ["## Figures", ""] + [f"![{t}](figures/{f})" for f, t, _ in figs]
    return "\n".join(lines) + "\n"


def _md_table(t: pd.DataFrame) -> list[str]:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "—" if v != v else f"{v:.4g}"  # NaN: nothing to show
        return str(v)

    rows = ["| " + " | ".join(map(str, t.columns)) + " |", "|---" * len(t.columns) + "|"]
    return rows + ["| " + " | ".join(cell(v) for v in r) + " |" for r in t.itertuples(index=False)]


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}.note{background:#fff6d6;
padding:.6em 1em;border-left:4px solid #e0b000}.meta td{text-align:left}"""


def render_html(page: Page) -> str:
    title, meta_rows, notes, summary = page.title, page.meta_rows, page.notes, page.summary
    pw, primary, figs, tables = page.pairwise, page.primary, page.figs, page.tables
    esc = html.escape
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{esc(title)}</h1>",
        "<table class='meta'>"
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in meta_rows)
        + "</table>",
    ]
    parts += [f"<p class='note'>{esc(n)}</p>" for n in notes]
    parts.append(
        "<h2>Final metrics</h2><p>Mean over seeds with a 95% percentile-bootstrap "
        "confidence interval.</p>"
    )
    if not summary.empty:
        parts.append(_fmt_table(summary).to_html(escape=True, border=0))
        iq = summary.pivot(index="agent", columns="metric", values="iqm").reindex(
            list(dict.fromkeys(summary["agent"]))
        )
        parts.append(
            "<details><summary>Interquartile mean (robust to outlier seeds)</summary>"
            + iq.to_html(float_format=lambda v: f"{v:.4g}", border=0)
            + "</details>"
        )
    for caption, table in tables:
        parts.append(
            f"<h2>{esc(caption)}</h2>"
            + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—", border=0)
        )
    if not pw.empty:
        parts.append(
            f"<h2>Pairwise comparison on {esc(primary or '')}</h2><p>P(A better) is "
            "the probability that a random seed of A beats a random seed of B "
            "(0.5: no difference). Pairs of agents whose results do not change with the "
            "seed are left out: seeds say nothing about their difference.</p>"
        )
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
        parts.append(t.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
    parts.append("<h2>Figures</h2>")
    for fname, caption, png in figs:
        b64 = base64.b64encode(png).decode()
        parts.append(
            f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{b64}'>"
            f"<figcaption>{esc(caption)} — <code>figures/{esc(fname)}</code>"
            "</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
