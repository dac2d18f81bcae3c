"""Plot kinds of the gridworld workloads, drawn from stored results only.

``value_heatmap`` (values with greedy-policy arrows, Figures 3.2/3.5/4.1), ``gambler`` (value
estimates by sweep and the final policy, Figure 4.3), ``paths`` (the path each agent's greedy
policy takes, Figure 6.4's inset) and ``learning_curve`` (the generic ``curve`` with the DP
optimum from the stored scalars as its reference line, and optional y limits).
"""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, plot_curve, select_agents
from qmml.experiments.spec import PlotSpec, SpecError
from qmml.experiments.workload import PlotContext

__all__ = ["PLOTS", "plot_gambler", "plot_learning_curve", "plot_paths", "plot_value_heatmap"]

_DXY = {0: (-1.0, 0.0), 1: (0.0, 1.0), 2: (1.0, 0.0), 3: (0.0, -1.0)}  # (dx, drow) per dir
_MARK = {
    "S": "S",
    "G": "G",
    "T": "",
    "H": "H",
    **{c: c for c in "ABCDEF"},
    **{c: c.upper() + "′" for c in "abcdef"},
}
_SOLID = {
    ord("#"): (0.25, 0.25, 0.25, 1.0),
    ord("X"): (0.7, 0.15, 0.15, 1.0),
    ord("H"): (0.1, 0.1, 0.3, 1.0),
}  # cells drawn as solid colours (RGBA)


def _per_state(ctx: PlotContext, agent: str, metric: str, seed: int | None) -> pd.Series:
    c = ctx.curves
    sub = c[(c["agent"] == agent) & (c["metric"] == metric)]
    if seed is not None:
        sub = sub[sub["seed"] == seed]
    return sub.groupby("step")["value"].mean()


def _first_seed(ctx: PlotContext, agent: str) -> int | None:
    seeds = ctx.curves.loc[ctx.curves["agent"] == agent, "seed"]
    return int(seeds.min()) if len(seeds) else None


def _grid(ctx: PlotContext, agent: str, seed: int | None) -> dict[str, Any] | None:
    rows = _per_state(ctx, agent, "layout_row", seed)
    if rows.empty:
        return None
    r = rows.to_numpy().astype(int)
    c = _per_state(ctx, agent, "layout_col", seed).to_numpy().astype(int)
    shape = _per_state(ctx, agent, "layout_shape", seed).to_numpy().astype(int)
    cells = _per_state(ctx, agent, "layout_map", seed).to_numpy().astype(int)
    if shape.size != 2 or cells.size != shape.prod():
        return None  # results without a stored map
    h, w = shape
    cells = cells.reshape(h, w)
    return {
        "states": rows.index.to_numpy().astype(int),
        "r": r,
        "c": c,
        "map": cells,
        "kind": cells[r, c],
        "shape": (int(h), int(w)),
    }


def _base_image(g: dict[str, Any], values: np.ndarray | None) -> np.ndarray:
    img = np.full(g["shape"], np.nan)
    if values is not None:
        img[g["r"], g["c"]] = values
    return img


def _draw_cells(ax: Any, g: dict[str, Any]) -> None:
    """Walls, cliffs and holes as solid colours over the value image; letters on special
    cells of small grids."""
    cells = g["map"]
    overlay = np.zeros((*cells.shape, 4))
    for code, rgba in _SOLID.items():
        overlay[cells == code] = rgba
    ax.imshow(overlay, interpolation="nearest")
    h, w = cells.shape
    if max(h, w) <= 30:
        for (r, c), k in np.ndenumerate(cells):
            mark = _MARK.get(chr(k), "")
            if mark:
                ax.text(c - 0.42, r - 0.22, mark, fontsize=7, color="k", fontweight="bold")


def plot_value_heatmap(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """State values as a heatmap with the greedy actions as arrows, one panel per agent.

    The plot's ``metric`` picks the values (default ``value``; e.g. ``value@sweep3``). Options:
    ``annotate`` (print the values; default for grids up to 12×12), ``arrows`` (default for
    grids up to 30×30), ``seed`` (default the first), ``cmap``.
    """
    names = select_agents(ctx, plot)
    opts = plot.options
    metric = plot.metric or "value"
    fig, axes = plt.subplots(
        1, max(1, len(names)), figsize=(max(5.5, 4.2 * len(names)), 4.4), squeeze=False
    )
    slots: list[str | None] = [*names] if names else [None]
    for ax, name in zip(axes[0], slots, strict=True):
        seed = opts.get("seed", _first_seed(ctx, name)) if name else None
        g = _grid(ctx, name, seed) if name else None
        if name is None or g is None:
            ax.text(
                0.5, 0.5, f"no grid layout stored for {name!r}", ha="center", transform=ax.transAxes
            )
            ax.set_axis_off()
            continue
        vals = _per_state(ctx, name, metric, seed).reindex(g["states"]).to_numpy()
        img = _base_image(g, vals)
        im = ax.imshow(img, cmap=opts.get("cmap", "viridis"), interpolation="nearest")
        _draw_cells(ax, g)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        h, w = g["shape"]
        if opts.get("annotate", max(h, w) <= 12):
            for r, c, v in zip(g["r"], g["c"], vals, strict=True):
                if np.isfinite(v):
                    ax.text(
                        c,
                        r + 0.28,
                        f"{v:.1f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="w" if v < np.nanmean(vals) else "k",
                    )
        dirs = _per_state(ctx, name, "greedy_dirs", seed).reindex(g["states"]).to_numpy()
        if opts.get("arrows", max(h, w) <= 30) and np.isfinite(dirs).any():
            length = 0.3 if opts.get("annotate", max(h, w) <= 12) else 0.42
            for d, (dx, dy) in _DXY.items():
                on = (dirs.astype(int) >> d) & 1 == 1
                on &= ~np.isin(g["kind"], [ord("G"), ord("T"), ord("H")])
                ax.quiver(
                    g["c"][on],
                    g["r"][on] - 0.08,
                    np.full(on.sum(), dx),
                    np.full(on.sum(), dy),
                    angles="xy",
                    scale_units="xy",
                    scale=1 / length,
                    width=0.006,
                    color="w",
                    pivot="tail",
                    alpha=0.9,
                )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
    width = fig.get_size_inches()[0]
    fig.suptitle(textwrap.fill(plot.title or f"{metric} and greedy policy", int(11 * width)))
    fig.tight_layout()
    return fig


def plot_gambler(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Figure 4.3: value estimates after some sweeps and at convergence, and the policy
    (stake per capital). Draws the first selected agent that has a ``policy`` curve."""
    names = [n for n in select_agents(ctx, plot) if not _per_state(ctx, n, "policy", None).empty]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    if not names:
        top.text(0.5, 0.5, "no Gambler's-problem results", ha="center", transform=top.transAxes)
        return fig
    name = names[0]
    seed = _first_seed(ctx, name)
    snaps = sorted(
        {
            m
            for m in ctx.curves.loc[ctx.curves["agent"] == name, "metric"].unique()
            if m.startswith("value@sweep")
        },
        key=lambda m: int(m.split("sweep")[1]),
    )
    cmap = plt.get_cmap("Blues")
    for i, m in enumerate(snaps):
        v = _per_state(ctx, name, m, seed)
        top.plot(
            v.index[1:-1],
            v.to_numpy()[1:-1],
            color=cmap(0.35 + 0.5 * i / max(1, len(snaps))),
            lw=1,
            label=f"sweep {m.split('sweep')[1]}",
        )
    v = _per_state(ctx, name, "value", seed)
    top.plot(v.index[1:-1], v.to_numpy()[1:-1], color="k", lw=1.5, label="final value")
    top.set_ylabel("value estimates")
    top.legend(fontsize=7)
    top.grid(alpha=0.3)
    p = _per_state(ctx, name, "policy", seed)
    bottom.step(p.index[1:-1], p.to_numpy()[1:-1], where="mid", color="C3")
    bottom.set_xlabel("capital")
    bottom.set_ylabel("final policy (stake)")
    bottom.grid(alpha=0.3)
    fig.suptitle(plot.title or f"Gambler's problem: {name}")
    fig.tight_layout()
    return fig


def plot_paths(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The path each agent's final greedy policy takes from the start (most likely outcomes),
    one line per seed, drawn on the grid. Option ``seed``: draw only that seed."""
    names = select_agents(ctx, plot)
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    fig, ax = plt.subplots(figsize=(8, 3.6))
    drawn = False
    for i, name in enumerate(names):
        seed0 = _first_seed(ctx, name)
        g = _grid(ctx, name, seed0)
        if g is None:
            continue
        if not drawn:
            ax.imshow(_base_image(g, np.zeros(g["r"].size)), cmap="Greys", vmin=0, vmax=4)
            _draw_cells(ax, g)
            drawn = True
        pos = {s: (r, c) for s, r, c in zip(g["states"], g["r"], g["c"], strict=True)}
        sub = ctx.curves[(ctx.curves["agent"] == name) & (ctx.curves["metric"] == "path")]
        if "seed" in plot.options:
            sub = sub[sub["seed"] == int(plot.options["seed"])]
        offset = (i - (len(names) - 1) / 2) * 0.12
        for j, (_, one) in enumerate(sub.groupby("seed")):
            rc = np.array([pos[int(s)] for s in one.sort_values("step")["value"]])
            ax.plot(
                rc[:, 1] + offset,
                rc[:, 0] + offset,
                color=colors[name],
                lw=2,
                alpha=0.5,
                label=name if j == 0 else None,
            )
    if not drawn:
        raise SpecError("report.plots: a 'paths' plot needs agents with a grid layout")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3)
    ax.set_title(plot.title or "greedy paths after learning")
    fig.tight_layout()
    return fig


def plot_learning_curve(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The generic ``curve`` plus: ``reference`` (a scalar metric, e.g. ``optimal_value``,
    whose mean over the selected agents is the dashed reference line) and ``ylim``
    ([low, high])."""
    opts = dict(plot.options)
    ref = opts.pop("reference", None)
    ylim = opts.pop("ylim", None)
    if ref is not None:
        names = select_agents(ctx, plot)
        s = ctx.scalars
        vals = s[(s["metric"] == ref) & s["agent"].isin(names)]["value"]
        if not vals.empty:
            opts.setdefault("hline", float(vals.mean()))
            opts.setdefault("hline_label", f"DP optimum ({ref})")
    fig = plot_curve(ctx, plot.model_copy(update={"options": opts}))
    if ylim is not None:
        fig.axes[0].set_ylim(*ylim)
    return fig


PLOTS = {
    "value_heatmap": plot_value_heatmap,
    "gambler": plot_gambler,
    "paths": plot_paths,
    "learning_curve": plot_learning_curve,
}
