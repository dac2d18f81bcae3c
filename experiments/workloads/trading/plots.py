"""Report figures of the trading workloads: equity and drawdown curves over seeds on a date
axis, one strategy's trades on the price chart, monthly returns, and a metric over a
parameter grid (:func:`grid_heatmap`, also drawn by ``qmml backtest --grid``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmml.experiments.figures import (
    agent_colors,
    band_curve,
    curve_matrix,
    date_axis,
    select_agents,
)
from qmml.experiments.results import dates_of
from qmml.experiments.spec import PlotSpec, SpecError
from qmml.experiments.workload import PlotContext

__all__ = ["BASELINE_PLOTS", "grid_heatmap", "monthly_returns"]


def _curve_plot(
    ctx: PlotContext, plot: PlotSpec, metric: str, ylabel: str, logy: bool = False
) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    for name in select_agents(ctx, plot):
        steps, y = curve_matrix(ctx.curves, name, metric)
        if y.size == 0:
            continue
        band_curve(ax, dates_of(steps), y, color=colors[name], label=name, lw=1.2)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(plot.title or ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    date_axis(ax)
    fig.tight_layout()
    return fig


def plot_equity(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Equity after costs per strategy (mean and 95% CI over seeds), on a log axis unless
    ``logy: false``: equal vertical distances are equal returns, whatever the period."""
    return _curve_plot(
        ctx, plot, "equity", "equity after costs (log scale)", bool(plot.options.get("logy", True))
    )


def plot_drawdown(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Drawdown from the running peak, in percent."""
    return _curve_plot(ctx, plot, "drawdown_pct", "drawdown (%)")


def _one_agent(ctx: PlotContext, plot: PlotSpec) -> str | None:
    names = select_agents(ctx, plot)
    return plot.options.get("agent") or (names[0] if names else None)


def plot_trades(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The report ticker's price with one strategy's buys and sells (first seed)."""
    name = _one_agent(ctx, plot)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    price = ctx.curve("price", name)
    seed = price["seed"].min() if len(price) else None
    price = price[price["seed"] == seed]
    ax.plot(dates_of(price["step"]), price["value"], color="0.35", lw=1, label="price")
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        f = ctx.curve(side, name)
        f = f[f["seed"] == seed]
        ax.scatter(
            dates_of(f["step"]),
            f["value"],
            marker=marker,
            color=color,
            s=28,
            label=f"{side} ({len(f)})",
            zorder=3,
        )
    ax.set_title(plot.title or f"trades of {name}")
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    date_axis(ax)
    fig.tight_layout()
    return fig


def monthly_returns(steps: np.ndarray, equity: np.ndarray) -> pd.DataFrame:
    """Percent return of each calendar month (years x months) from an equity curve."""
    s = pd.Series(equity, index=dates_of(steps))
    month_end = s.groupby([s.index.year, s.index.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = s.iloc[0]
    r = 100 * (month_end / prev - 1)
    r.index.names = ["year", "month"]
    return r.unstack("month").reindex(columns=range(1, 13))


def plot_monthly_returns(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Heatmap of one strategy's monthly returns in percent (mean equity over seeds)."""
    name = _one_agent(ctx, plot)
    if name is None:  # no agent: the same empty heatmap as an agent without an equity curve
        steps, y = np.array([]), np.empty((0, 0))
    else:
        steps, y = curve_matrix(ctx.curves, name, "equity")
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.4 * max(1, len(set(np.asarray(steps) // 10000)))))
    if y.size == 0:
        ax.text(0.5, 0.5, "no equity curve", ha="center", transform=ax.transAxes)
        return fig
    table = monthly_returns(steps, y.mean(axis=0))
    lim = max(1.0, float(np.nanmax(np.abs(table.to_numpy()))))
    im = ax.imshow(table.to_numpy(), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(12), ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
    ax.set_yticks(range(len(table)), table.index)
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="monthly return (%)")
    ax.set_title(plot.title or f"monthly returns of {name} (%)")
    fig.tight_layout()
    return fig


def plot_param_heatmap(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A scalar metric over a two-parameter grid (options ``x`` and ``y``: parameter names)."""
    x, y = plot.options.get("x"), plot.options.get("y")
    if not (x and y and plot.metric):
        raise SpecError("report.plots: a 'param_heatmap' needs a metric and options x, y")
    rows = []
    for name in select_agents(ctx, plot):
        p = ctx.agents[name].params
        vals = ctx.scalar_values(plot.metric, name)
        if x in p and y in p and len(vals):
            rows.append((p[x], p[y], float(vals.mean())))
    if not rows:
        fig, ax = plt.subplots(figsize=(6.5, 5))
        ax.text(0.5, 0.5, "no grid results", ha="center", transform=ax.transAxes)
        return fig
    table = pd.DataFrame(rows, columns=[x, y, plot.metric])
    return grid_heatmap(table, x, y, plot.metric, plot.title or f"{plot.metric} over the grid")


def grid_heatmap(
    table: pd.DataFrame, x: str, y: str, metric: str = "sharpe_ratio", title: str = ""
) -> Figure:
    """A heatmap of ``metric`` over a two-parameter grid (the table of
    :func:`envs.market.backtest.backtest_grid`); returns the matplotlib Figure.

    Raises:
        ValueError: ``x``, ``y`` or ``metric`` is not a column of the table.
    """
    for col in (x, y, metric):
        if col not in table.columns:
            raise ValueError(
                f"{col!r} is not a column of the grid table; columns: "
                f"{', '.join(map(str, table.columns))}"
            )
    grid = table.pivot_table(index=y, columns=x, values=metric, dropna=False)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    if not np.isfinite(grid.to_numpy()).any():  # e.g. no trades in a short period: no Sharpe
        ax.text(0.5, 0.5, f"no finite {metric} on this grid", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    im = ax.imshow(grid.to_numpy(), cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (i, j), v in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(v):  # dark text on the bright end of the colour map, white elsewhere
            r, g, b, _ = im.cmap(im.norm(v))
            ink = "k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w"
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=ink)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_title(title or f"{metric} over {x} x {y}")
    fig.tight_layout()
    return fig


BASELINE_PLOTS = {
    "equity": plot_equity,
    "drawdown": plot_drawdown,
    "trades": plot_trades,
    "monthly_returns": plot_monthly_returns,
    "param_heatmap": plot_param_heatmap,
}
