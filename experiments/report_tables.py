"""The tables a report is made of, computed from stored results only: per-agent summaries
with bootstrap intervals, every pair of agents, each agent against the named baselines (the
numbers behind the finding, stored as ``comparisons.csv``), and the metrics table whose cells
say what their seeds support."""

from __future__ import annotations

import itertools
import json
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from qmml.experiments.catalogue import metric_label
from qmml.experiments.results import PlotContext
from qmml.experiments.stats import bootstrap_diff, bootstrap_mean, iqm, probability_of_improvement
from qmml.experiments.verdicts import compare, format_estimate

__all__ = [
    "COMPARISON_COLUMNS",
    "MAX_MATRIX",
    "baselines_of",
    "comparison_figure",
    "comparison_view",
    "comparisons_table",
    "metrics_view",
    "pairwise_table",
    "per_seed",
    "summary_table",
]

MAX_MATRIX = 12  # beyond this many agents, compare each with the best instead of all pairs


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
    if len(names) <= MAX_MATRIX:
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


COMPARISON_COLUMNS = ["agent", "baseline", "metric", "n", "diff", "low", "high", "p_better",
                       "verdict"]  # fmt: skip


def baselines_of(ctx: PlotContext, names: list[str], declared: list[str]) -> list[str]:
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
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def comparison_view(comp: pd.DataFrame, metric: str) -> pd.DataFrame:
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


def comparison_figure(ctx: PlotContext, comp: pd.DataFrame, metric: str, higher: bool) -> Any:
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


def metrics_view(ctx: PlotContext, names: list[str]) -> pd.DataFrame:
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
