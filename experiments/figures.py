"""Plot kinds for reports. Each takes a :class:`PlotContext` (stored results only) and a
:class:`PlotSpec` and returns a matplotlib Figure; statistics come from ``qmml.experiments.stats``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from qmml.experiments.results import PlotContext, dates_of, rows_of
from qmml.experiments.spec import ExperimentSpec, PlotSpec, SpecError, unknown_choice
from qmml.experiments.stats import bootstrap_curve, bootstrap_mean

__all__ = [
    "PLOTS",
    "agent_colors",
    "agent_styles",
    "band_curve",
    "check_options",
    "check_plots",
    "curve_matrix",
    "date_axis",
    "finish_figure",
    "plot_bar",
    "plot_curve",
    "plot_param_study",
    "select_agents",
]


def agent_colors(names: list[str], groups: dict[str, str] | None = None) -> dict[str, Any]:
    """A stable colour per agent (by position in the spec). With more than 10 agents and
    their ``groups`` given, each family gets one hue and its members shades of it, so a
    legend of 30 reads as a few families (see :func:`agent_styles` for line styles)."""
    if groups is None or len(names) <= 10:
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        return {n: cmap(i % cmap.N) for i, n in enumerate(names)}
    return {n: style["color"] for n, style in _family_styles(names, groups).items()}


_LINESTYLES = ("-", "--", ":", "-.")


def _family_styles(names: list[str], groups: dict[str, str]) -> dict[str, dict[str, Any]]:
    import matplotlib.colors as mcolors

    fams = list(dict.fromkeys(groups.get(n, n) for n in names))
    base = plt.get_cmap("tab10")
    out: dict[str, dict[str, Any]] = {}
    for f_i, fam in enumerate(fams):
        members = [n for n in names if groups.get(n, n) == fam]
        rgb = np.asarray(mcolors.to_rgb(base(f_i % 10)))
        for m_i, n in enumerate(members):
            shade = 0.55 * m_i / max(len(members) - 1, 1)  # darker to lighter within a family
            color = tuple(rgb + (1 - rgb) * shade)
            out[n] = {"color": color, "ls": _LINESTYLES[m_i % len(_LINESTYLES)]}
    return out


def agent_styles(ctx: PlotContext) -> dict[str, dict[str, Any]]:
    """Colour and line style per agent: by position for up to 10 agents; beyond that one hue
    per family (the spec's group, e.g. a sweep) with shades and line styles within it."""
    names = list(ctx.agents)
    if len(names) <= 10:
        colors = agent_colors(names)
        return {n: {"color": colors[n], "ls": "-"} for n in names}
    return _family_styles(names, {n: a.group for n, a in ctx.agents.items()})


def band_curve(
    ax: Any,
    x: Any,
    y: np.ndarray,
    *,
    color: Any,
    label: str | None = None,
    ls: str = "-",
    lw: float = 1.4,
    alpha: float = 0.2,
    **line: Any,
) -> None:
    """Draw the mean over seeds of ``y`` (n_seeds, n_steps) with its 95% bootstrap band.

    One seed, or a band of zero width (a quantity the seed cannot change), draws the line
    alone: a band there would claim an uncertainty that was never measured.
    """
    mean, lo, hi = bootstrap_curve(y)
    ax.plot(x, mean, ls, color=color, lw=lw, label=label, **line)
    if y.shape[0] > 1 and not np.allclose(lo, hi):
        ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0)


def date_axis(ax: Any, steps: np.ndarray | None = None) -> Any:
    """Format the x axis as calendar dates (concise labels); returns the dates of ``steps``
    (YYYYMMDD integers, as curves store them) when given."""
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return None if steps is None else dates_of(steps)


def select_agents(ctx: PlotContext, plot: PlotSpec) -> list[str]:
    """The agent names a plot draws: the spec's list (names or groups), else all."""
    if not plot.agents:
        return list(ctx.agents)
    wanted = set(plot.agents)
    return [n for n, a in ctx.agents.items() if n in wanted or a.group in wanted]


def curve_matrix(curves: pd.DataFrame, agent: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values of shape (n_seeds, n_steps)) of one agent's metric curve."""
    sub = rows_of(curves, metric, agent)
    if sub.empty:
        return np.array([]), np.empty((0, 0))
    wide = sub.pivot_table(index="seed", columns="step", values="value", aggfunc="mean")
    return wide.columns.to_numpy(), wide.to_numpy()


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or y.shape[-1] < window:
        return y
    kernel = np.ones(window) / window
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, y)


def plot_curve(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A metric against step: mean over seeds with a 95% bootstrap band.

    Options: ``smooth`` (moving-average window), ``xlabel``, ``ylabel``, ``logy``,
    ``hline`` (a reference value drawn dashed, e.g. an optimum), ``hline_label``.
    """
    if not plot.metric:
        raise SpecError("report.plots: a 'curve' plot needs a 'metric'")
    opts = plot.options
    fig, ax = plt.subplots(figsize=(7, 4.2))
    names = select_agents(ctx, plot)
    styles = agent_styles(ctx)
    drawn = 0
    for name in names:
        steps, y = curve_matrix(ctx.curves, name, plot.metric)
        if y.size == 0:
            continue
        window = int(opts.get("smooth", 1))
        y = _smooth(y, window)
        steps = steps[window - 1 :] if window > 1 else steps
        st = styles[name]
        band_curve(ax, steps, y, color=st["color"], ls=st["ls"], label=f"{name} (n={y.shape[0]})")
        drawn += 1
    if "hline" in opts:
        ax.axhline(
            float(opts["hline"]),
            color="k",
            ls="--",
            lw=1,
            label=opts.get("hline_label", "reference"),
        )
    if drawn == 0:
        ax.text(
            0.5, 0.5, f"no data for metric {plot.metric!r}", ha="center", transform=ax.transAxes
        )
    ax.set_xlabel(opts.get("xlabel", "step"))
    ax.set_ylabel(opts.get("ylabel", plot.metric))
    if opts.get("logy"):
        ax.set_yscale("log")
    ax.set_title(plot.title or plot.metric)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=8, loc=opts.get("legend", "best"))
    fig.tight_layout()
    return fig


def plot_param_study(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A scalar metric against each group's swept parameter (Sutton & Barto Figure 2.6 style).

    Options: ``logx`` (default 2: log base 2 axis; 0 for linear), ``xlabel``, ``ylabel``.
    """
    if not plot.metric:
        raise SpecError("report.plots: a 'param_study' plot needs a 'metric'")
    opts = plot.options
    fig, ax = plt.subplots(figsize=(7, 4.2))
    names = select_agents(ctx, plot)
    groups: dict[str, list[str]] = {}
    for n in names:
        a = ctx.agents[n]
        if a.swept is not None:
            groups.setdefault(a.group, []).append(n)
    gcolors = agent_colors(list(groups))
    for group, members in groups.items():
        xs, ms, los, his = [], [], [], []
        for n in members:
            vals = ctx.scalars[
                (ctx.scalars["agent"] == n) & (ctx.scalars["metric"] == plot.metric)
            ]["value"]
            if vals.empty:
                continue
            ci = bootstrap_mean(vals.to_numpy())
            x = ctx.agents[n].swept[1]  # type: ignore[index]
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise SpecError(
                    f"report.plots: a 'param_study' needs a numeric swept parameter; "
                    f"{group} sweeps {x!r} (use a 'bar' plot for named settings)"
                )
            xs.append(float(x))
            ms.append(ci.estimate)
            los.append(ci.estimate - ci.low)
            his.append(ci.high - ci.estimate)
        if xs:
            param = ctx.agents[members[0]].swept[0]  # type: ignore[index]
            ax.errorbar(
                xs,
                ms,
                yerr=[los, his],
                marker="o",
                ms=4,
                capsize=2,
                color=gcolors[group],
                label=f"{group} ({param})",
            )
    base = opts.get("logx", 2)
    if base:
        ax.set_xscale("log", base=base)
    ax.set_xlabel(opts.get("xlabel", "parameter value"))
    ax.set_ylabel(opts.get("ylabel", plot.metric))
    ax.set_title(plot.title or f"parameter study: {plot.metric}")
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_bar(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A scalar metric per agent: mean with 95% bootstrap CI, one dot per seed."""
    if not plot.metric:
        raise SpecError("report.plots: a 'bar' plot needs a 'metric'")
    names = select_agents(ctx, plot)
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.35 * max(len(names), 3)))
    for i, n in enumerate(names):
        sub = ctx.scalars[(ctx.scalars["agent"] == n) & (ctx.scalars["metric"] == plot.metric)]
        per_seed = sub.groupby("seed")["value"].mean().to_numpy()
        if per_seed.size == 0:
            continue
        ci = bootstrap_mean(per_seed)
        ax.barh(i, ci.estimate, color=colors[n], alpha=0.6)
        ax.errorbar(
            ci.estimate,
            i,
            xerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]],
            color="k",
            capsize=3,
        )
        ax.scatter(per_seed, np.full(per_seed.size, i), s=8, color="k", zorder=3)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(plot.options.get("xlabel", plot.metric))
    ax.set_title(plot.title or plot.metric)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


# options that must be numbers, and the type they are read as
NUMERIC_OPTIONS: dict[str, type] = {"smooth": int, "window": int, "hline": float}


def check_options(plot: PlotSpec, where: str) -> None:
    """Raise a one-line SpecError for a numeric plot option that is not a number."""
    for key, kind in NUMERIC_OPTIONS.items():
        if key not in plot.options:
            continue
        value = plot.options[key]
        try:
            ok = not isinstance(value, bool) and kind(value) == float(value)
        except (TypeError, ValueError):
            ok = False
        if not ok or (kind is int and int(value) < 1):
            what = "a whole number >= 1" if kind is int else "a number"
            raise SpecError(f"{where}.{key}={value!r}: must be {what}")


_DATA_ARTISTS = ("lines", "collections", "images", "patches")


def _has_data(ax: Any) -> bool:
    for line in ax.lines:
        if np.size(line.get_xdata()) and not str(line.get_label()).startswith("_"):
            return True
        if np.size(line.get_xdata()) > 2:
            return True
    return bool(ax.collections or ax.images or [p for p in ax.patches if p.get_height()])


def _positive_span(ax: Any) -> float:
    """max/min of the positive data drawn on ``ax`` (lines and bars); 0 when any value is <= 0."""
    vals = [np.asarray(line.get_ydata(), dtype=np.float64).ravel() for line in ax.lines]
    vals += [
        np.array([p.get_height() for p in c]) for c in ax.containers if isinstance(c, BarContainer)
    ]
    v = np.concatenate(vals) if vals else np.array([])
    v = v[np.isfinite(v)]
    if v.size < 2 or (v <= 0).any():
        return 0.0
    return float(v.max() / v.min())


def finish_figure(fig: Figure) -> str | None:
    """Make a report figure readable, or say why it is empty.

    Titles wrap to their axes' width; a y axis whose positive data spans more than two orders
    of magnitude becomes logarithmic; a legend of many entries moves outside the data area.
    (The PNG is saved with a tight bounding box, so nothing is cut off.)

    Returns:
        None for a figure with data; else a sentence saying why it is not drawn.
    """
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    if axes and not any(_has_data(ax) for ax in axes):
        said = [t.get_text() for ax in axes for t in ax.texts if t.get_text().strip()]
        return said[0] if said else "no data to draw"
    for ax in axes:
        width_in = ax.get_position().width * fig.get_figwidth()
        _wrap(ax.title, width_in, 20)
        if ax.get_yscale() == "linear" and not ax.images and _positive_span(ax) > 100:
            ax.set_yscale("log")
        legend = ax.get_legend()
        if legend is not None and len(legend.get_texts()) > 5:
            handles, labels = ax.get_legend_handles_labels()
            legend.remove()
            ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    suptitle = getattr(fig, "_suptitle", None)  # matplotlib keeps it only there
    if suptitle is not None:
        _wrap(suptitle, fig.get_figwidth(), 30)
    return None


def _wrap(text: Any, width_in: float, least: int) -> None:
    """Wrap a title to about the characters that fit ``width_in`` inches."""
    if text.get_text():
        chars = max(least, int(width_in * 72 / (0.6 * float(text.get_fontsize()))))
        text.set_text(textwrap.fill(" ".join(text.get_text().split()), chars))


def check_plots(spec: ExperimentSpec, extra: dict[str, Any]) -> None:
    """Plot kinds (the generic ones and a workload's ``extra``) and typed options, checked
    before any trial runs (not after hours of work)."""
    kinds = {**PLOTS, **extra}
    for i, p in enumerate(spec.report.plots):
        if p.plot not in kinds:
            raise SpecError(unknown_choice("plot kind", p.plot, kinds, f"report.plots[{i}].plot"))
        check_options(p, f"report.plots[{i}].options")


PLOTS: dict[str, Callable[[PlotContext, PlotSpec], Figure]] = {
    "curve": plot_curve,
    "param_study": plot_param_study,
    "bar": plot_bar,
}
