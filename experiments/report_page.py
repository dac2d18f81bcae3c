"""One report page as self-contained HTML (a Jinja2 template; figures embedded as base64 PNG,
no external resources) and as Markdown. The page answers its question first: the finding,
then a table of contents, one section per figure, the metrics, and the full tables folded."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import jinja2
import pandas as pd

__all__ = ["Figure", "Page", "Table", "render_html", "render_markdown", "slug"]


def slug(text: str, used: set[str] | None = None) -> str:
    """An HTML id / file stem from ``text``, unique within ``used`` (which it extends)."""
    keep = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    base = "-".join(p for p in keep.split("-") if p)[:60] or "section"
    if used is None:
        return base
    out, i = base, 2
    while out in used:
        out, i = f"{base}-{i}", i + 1
    used.add(out)
    return out


@dataclass
class Figure:
    """One drawn figure: its file, its title, the one-line caption, the PNG."""

    fname: str
    title: str
    caption: str
    png: bytes
    id: str = ""

    @property
    def b64(self) -> str:
        return base64.b64encode(self.png).decode()


@dataclass
class Table:
    """A titled table (already formatted for reading)."""

    title: str
    frame: pd.DataFrame
    id: str = ""

    @property
    def html(self) -> str:
        return _table_html(self.frame)


@dataclass
class Page:
    """Everything one report page shows."""

    title: str
    question: str
    findings: list[str]
    banners: list[str]
    notes: list[str]
    figures: list[Figure]
    empty_figures: list[tuple[str, str]]
    metrics: pd.DataFrame
    metrics_caption: str
    comparisons: pd.DataFrame
    comparison_caption: str
    comparison_png: bytes | None
    tables: list[Table]
    details: list[Table]
    meta_rows: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_baselines(self) -> int:
        if "baseline" not in self.comparisons:
            return 0
        return int(self.comparisons["baseline"].nunique())

    @property
    def toc(self) -> list[dict[str, str]]:
        out = [{"id": "finding", "title": "Finding"}]
        if len(self.comparisons) or self.comparison_png:
            out.append({"id": "comparison", "title": "Against the baseline"})
        out += [{"id": f.id, "title": f.title} for f in self.figures]
        if self.empty_figures:
            out.append({"id": "not-drawn", "title": "Figures not drawn"})
        out.append({"id": "metrics", "title": "Final metrics"})
        out += [{"id": t.id, "title": t.title} for t in self.tables]
        out.append({"id": "details", "title": "Details (full tables, run information)"})
        return out


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "—" if v != v else f"{v:.4g}"  # NaN: nothing to show
    return str(v)


def _table_html(t: pd.DataFrame) -> str:
    return t.to_html(index=False, escape=True, border=0, na_rep="—", float_format=_cell)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}h1{margin-bottom:.2em}h2{margin-top:1.6em}
.finding{background:#eef6ee;border-left:5px solid #2e7d32;padding:.4em 1em;margin:1em 0}
.finding h2{margin:.3em 0}.finding-sentence{font-size:1.05em}
.banner{background:#fdecea;border-left:5px solid #c62828;padding:.5em 1em}
.note{background:#fff6d6;padding:.5em 1em;border-left:4px solid #e0b000}
.question{font-size:1.05em}.caption,figcaption{color:#555;font-size:.9em}
nav.toc{background:#f6f6f6;padding:.3em 1em;margin:1em 0}nav.toc h2{margin:.3em 0;font-size:1em}
nav.toc ol{margin:.2em 0;columns:2;font-size:.92em}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;font-size:13px;
margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}"""

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("qmml.experiments", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(page: Page) -> str:
    """The page as one self-contained HTML document."""
    view = {
        "title": page.title,
        "question": page.question,
        "findings": page.findings,
        "banners": page.banners,
        "notes": page.notes,
        "toc": page.toc,
        "comparisons_html": _table_html(page.comparisons) if len(page.comparisons) else "",
        "comparison_caption": page.comparison_caption,
        "comparison_png": base64.b64encode(page.comparison_png).decode()
        if page.comparison_png
        else "",
        "n_baselines": page.n_baselines,
        "figures": page.figures,
        "empty_figures": page.empty_figures,
        "metrics_html": _table_html(page.metrics) if len(page.metrics) else "<p>no metrics</p>",
        "metrics_caption": page.metrics_caption,
        "tables": page.tables,
        "details": page.details,
    }
    return _ENV.get_template("report.html.j2").render(page=view, css=_CSS)


def render_markdown(page: Page) -> str:
    """The same answers as Markdown (``summary.md``): finding first, then the tables."""
    lines = [f"# {page.title}", ""]
    if page.question:
        lines += [f"**Question.** {page.question}", ""]
    lines += ["## Finding", "", *page.findings, ""]
    lines += [f"> {b}" for b in page.banners + page.notes] + [""]
    if len(page.comparisons):
        lines += ["## Against the baseline", "", *_md_table(page.comparisons), ""]
    lines += ["## Final metrics", "", page.metrics_caption, ""]
    if len(page.metrics):
        lines += _md_table(page.metrics)
    for t in page.tables:
        lines += ["", f"## {t.title}", "", *_md_table(t.frame)]
    lines += ["", "## Figures", ""] + [f"![{f.title}](figures/{f.fname})" for f in page.figures]
    lines += [f"- not drawn: {title} ({why})" for title, why in page.empty_figures]
    lines += ["", "## Run", ""] + [f"- **{k}**: {v}" for k, v in page.meta_rows]
    return "\n".join(lines) + "\n"


def _md_table(t: pd.DataFrame) -> list[str]:
    rows = ["| " + " | ".join(map(str, t.columns)) + " |", "|---" * len(t.columns) + "|"]
    return rows + ["| " + " | ".join(_cell(v) for v in r) + " |" for r in t.itertuples(index=False)]
