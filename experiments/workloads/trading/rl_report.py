"""Report pieces of ``trading-rl``: out-of-sample curves on a date axis, positions on the
price chart, the comparison with buy-and-hold and the best rule-based strategy, and the plain
verdict. Everything here reads stored results only (``ctx.curves``, ``ctx.scalars``)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmml.agents.strategies import STRATEGIES
from qmml.experiments.figures import agent_colors, curve_matrix, select_agents
from qmml.experiments.spec import PlotSpec, SpecError
from qmml.experiments.stats import (
    bootstrap_curve,
    bootstrap_diff,
    bootstrap_mean,
    probability_of_improvement,
)
from qmml.experiments.workload import PlotContext
from qmml.experiments.workloads.trading.uncertainty import sharpe_over_time_table

__all__ = ["PLOTS", "comparison", "notes", "plot_oos", "plot_p_beat", "plot_positions", "tables"]

BASELINE = "buy-and-hold"


def _dates(steps: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(pd.Series(steps).astype(str), format="%Y%m%d")


def _sharpe(ctx: PlotContext, metric: str = "sharpe_ratio") -> dict[str, np.ndarray]:
    sub = ctx.scalars[ctx.scalars["metric"] == metric]
    return {
        str(a): g.groupby("seed")["value"].mean().to_numpy()
        for a, g in sub.groupby("agent", sort=False)
    }


def _is_rule(ctx: PlotContext, name: str) -> bool:
    return ctx.agents[name].type in STRATEGIES


def _best_rule(ctx: PlotContext, rules: list[str], s: dict[str, np.ndarray]) -> str | None:
    """The rule-based strategy with the best mean Sharpe; the random strategy is the luck
    baseline, not a strategy one would pick, so it is left out."""
    picks = [n for n in rules if ctx.agents[n].type != "random"] or rules
    return max(picks, key=lambda n: float(np.nanmean(s[n]))) if picks else None


def plot_oos(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A dated out-of-sample curve (``equity``, ``drawdown_pct``...) per agent: mean over
    seeds with a 95% bootstrap band; rule-based strategies dashed, buy-and-hold in black.

    Options: ``logy``, ``ylabel``.
    """
    metric = plot.metric or "equity"
    fig, ax = plt.subplots(figsize=(8, 4.4))
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    drawn = 0
    for name in select_agents(ctx, plot):
        steps, y = curve_matrix(ctx.curves, name, metric)
        if y.size == 0:
            continue
        mean, lo, hi = bootstrap_curve(y)
        x = _dates(steps)
        bh = ctx.agents[name].type == BASELINE
        color = "k" if bh else colors[name]
        ax.plot(
            x,
            mean,
            color=color,
            lw=1.8 if bh else 1.2,
            ls="--" if _is_rule(ctx, name) and not bh else "-",
            label=f"{name} (n={y.shape[0]})",
        )
        if y.shape[0] > 1:
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
        drawn += 1
    if drawn == 0:
        ax.text(0.5, 0.5, f"no data for {metric!r}", ha="center", transform=ax.transAxes)
    if plot.options.get("logy"):
        ax.set_yscale("log")
    ax.set_ylabel(plot.options.get("ylabel", metric))
    ax.set_title(plot.title or f"out-of-sample {metric}")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=7, ncol=2, loc=plot.options.get("legend", "best"))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_positions(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The price (relative to its first out-of-sample close) with each agent's net position
    over time, for one seed (option ``seed``, default 0): one panel per agent."""
    seed = int(plot.options.get("seed", 0))
    names = select_agents(ctx, plot)[: int(plot.options.get("max_agents", 6))]
    fig, axes = plt.subplots(
        max(len(names), 1), 1, figsize=(8, 1.2 + 1.6 * len(names)), sharex=True, squeeze=False
    )
    c = ctx.curves
    for ax, name in zip(axes[:, 0], names, strict=False):
        mine = c[(c["agent"] == name) & (c["seed"] == seed)]
        price = mine[mine["metric"] == "price"].sort_values("step")
        pos = mine[mine["metric"] == "exposure"].sort_values("step")
        if price.empty or pos.empty:
            ax.text(0.5, 0.5, f"{name}: no seed {seed}", ha="center", transform=ax.transAxes)
            continue
        x = _dates(price["step"].to_numpy())
        ax.plot(x, price["value"].to_numpy(), color="0.25", lw=1)
        ax.set_ylabel("price", fontsize=8)
        ax.set_title(f"{name} (seed {seed})", fontsize=9, loc="left")
        tw = ax.twinx()
        w = pos["value"].to_numpy()
        xp = _dates(pos["step"].to_numpy())
        tw.fill_between(xp, 0, w, where=w > 0, step="post", color="tab:green", alpha=0.3, lw=0)
        tw.fill_between(xp, 0, w, where=w < 0, step="post", color="tab:red", alpha=0.3, lw=0)
        tw.set_ylim(-1.1, 1.1)
        tw.set_ylabel("net position", fontsize=8)
        ax.set_zorder(tw.get_zorder() + 1)  # the price line over the position shading
        ax.patch.set_visible(False)
    fig.suptitle(plot.title or "positions on the price chart (green long, red short)", fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def comparison(ctx: PlotContext) -> pd.DataFrame:
    """Per agent: out-of-sample Sharpe (mean [95% CI] over seeds), the probability that a seed
    of it beats a seed of buy-and-hold, the difference of means with its CI, and the
    probability of beating the best rule-based strategy (best on the same test periods; the
    random strategy is not a candidate)."""
    s = _sharpe(ctx)
    names = [n for n in ctx.agents if n in s]
    bh = next((n for n in names if ctx.agents[n].type == BASELINE), None)
    rules = [n for n in names if _is_rule(ctx, n)]
    best = _best_rule(ctx, rules, s)

    def seeds_matter(*agents: str) -> bool:  # else a P over seeds is 0 or 1 by construction
        return any(len(s[a]) > 1 and np.ptp(s[a]) > 0 for a in agents)

    rows = []
    for n in names:
        ci = bootstrap_mean(s[n])
        row: dict[str, Any] = {
            "agent": n,
            "kind": "rule-based" if _is_rule(ctx, n) else "RL",
            "Sharpe mean [95% CI]": f"{ci}",
        }
        if bh is not None:
            varies = seeds_matter(n, bh)
            d = bootstrap_diff(s[n], s[bh])
            row["P(beats buy-and-hold)"] = (
                probability_of_improvement(s[n], s[bh]) if varies else np.nan
            )
            row["Sharpe − buy-and-hold [95% CI]"] = f"{d}" if varies else f"{d.estimate:.4g}"
        if best is not None:
            row[f"P(beats best rule: {best})"] = (
                probability_of_improvement(s[n], s[best]) if seeds_matter(n, best) else np.nan
            )
        rows.append(row)
    return pd.DataFrame(rows)


def plot_p_beat(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Bar chart: probability that each agent beats buy-and-hold on out-of-sample Sharpe."""
    s = _sharpe(ctx, plot.metric or "sharpe_ratio")
    bh = next((n for n in s if ctx.agents[n].type == BASELINE), None)
    if bh is None:
        raise SpecError("report.plots: 'p_beat' needs a buy-and-hold agent in the spec")
    names = [n for n in select_agents(ctx, plot) if n in s and n != bh]
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.35 * max(len(names), 3)))
    for i, n in enumerate(names):
        p = probability_of_improvement(s[n], s[bh])
        ax.barh(i, p, color=colors[n], alpha=0.7)
        ax.text(min(p, 0.9) + 0.01, i, f"{p:.2f}", va="center", fontsize=8)
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("P(a seed of the agent beats buy-and-hold on Sharpe); 0.5 = no difference")
    ax.set_title(plot.title or "probability of beating buy-and-hold")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def notes(ctx: PlotContext) -> list[str]:
    """The honest verdict, the costs and how the curve was put together."""
    env = ctx.spec.env
    slip = env.get("slippage_bps")
    out = [
        f"Costs on: {env.get('cost_bps', 5.0):g} bps commission per side"
        f"{f', {slip:g} bps slippage' if slip else ''}; orders fill at the next bar. "
        "Every curve is out of sample: each walk-forward fold trains on its training "
        "period, picks the checkpoint on its validation period and trades its test period "
        "once; the test periods are stitched (each starts from cash)."
    ]
    s = _sharpe(ctx)
    names = [n for n in ctx.agents if n in s]
    rl = [n for n in names if not _is_rule(ctx, n)]
    rules = [n for n in names if _is_rule(ctx, n)]
    if not rl or not rules:
        return out
    bh = next((n for n in rules if ctx.agents[n].type == BASELINE), None)
    best = _best_rule(ctx, rules, s) or rules[0]
    bars = [b for b in dict.fromkeys([bh, best]) if b is not None]
    winners, closer = [], []
    for n in rl:
        diffs = [bootstrap_diff(s[n], s[b]) for b in bars]
        if all(d.low > 0 for d in diffs):
            winners.append(n)
        elif all(d.estimate > 0 for d in diffs):
            closer.append(n)
    ref = " and ".join(f"{b} ({np.nanmean(s[b]):.2f})" for b in bars)
    if winners:
        out.append(
            f"{', '.join(winners)} beat{'s' if len(winners) == 1 else ''} {ref} on "
            "out-of-sample Sharpe ratio, with a 95% bootstrap interval of the difference "
            f"above zero over {min(len(s[n]) for n in winners)} seed(s)."
        )
    else:
        out.append(
            f"No RL agent beats the baselines: none has an out-of-sample Sharpe ratio above "
            f"{ref} with a 95% bootstrap interval of the difference above zero."
        )
    if closer:
        out.append(
            f"{', '.join(closer)} ha{'s' if len(closer) == 1 else 've'} a higher mean Sharpe "
            "ratio, but the interval includes zero: not distinguishable from the baselines "
            "with these seeds."
        )
    if best != bh:
        out.append(
            f"The best rule-based strategy ({best}) is chosen on the test periods "
            "themselves, which flatters it; buy-and-hold is the fair baseline."
        )
    return out


def tables(ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
    """The comparison table (see :func:`comparison`)."""
    if ctx.scalars.empty or not (ctx.scalars["metric"] == "sharpe_ratio").any():
        return []
    out = [
        (
            "Out-of-sample Sharpe against buy-and-hold and the best rule-based strategy (over "
            "seeds; — where neither side changes with the seed)",
            comparison(ctx),
        )
    ]
    over_time = sharpe_over_time_table(ctx, BASELINE)
    return out + ([over_time] if over_time else [])


PLOTS = {"oos_curve": plot_oos, "positions": plot_positions, "p_beat": plot_p_beat}
