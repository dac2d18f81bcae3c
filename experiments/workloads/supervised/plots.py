"""Plot kinds of the supervised workloads, drawn from stored results only.

Each takes a :class:`PlotContext` and a :class:`PlotSpec` and returns a Figure; one panel per
selected agent where a plot is per model. Curves they read (written by the workloads):

- ``loss_surface``: ``surface_w``, ``surface_b`` (grid axes), ``surface_mse`` (grid, row-major
  over b then w), ``path_w``, ``path_b`` (the descent path), of the first seed.
- ``learning_curve``: ``lc_train_<m>``, ``lc_val_<m>`` against training-set size.
- ``validation_curve``: scalars ``train_<m>``, ``test_<m>`` against a swept parameter.
- ``confusion``: ``confusion`` (k*k counts, row = true class), summed over seeds.
- ``roc``: ``roc_tpr`` on the false-positive grid 0, 0.01, ..., 1 (step = 100 * fpr).
- ``decision_boundary``: ``grid_x1``, ``grid_x2``, ``grid_class`` and ``test_x1``,
  ``test_x2``, ``test_label`` of the first seed.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, band_curve, curve_matrix, select_agents
from qmml.experiments.spec import PlotSpec
from qmml.experiments.stats import bootstrap_mean
from qmml.experiments.workload import PlotContext

__all__ = ["SUPERVISED_PLOTS"]


def _first_seed(curves: pd.DataFrame, agent: str, metric: str) -> np.ndarray:
    sub = curves[(curves["agent"] == agent) & (curves["metric"] == metric)]
    if sub.empty:
        return np.array([])
    sub = sub[sub["seed"] == sub["seed"].min()].sort_values("step")
    return sub["value"].to_numpy()


def _panels(n: int, size: tuple[float, float] = (4.0, 3.6)) -> tuple[Figure, list[Any]]:
    cols = min(max(n, 1), 3)
    rows = math.ceil(max(n, 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[: max(n, 1)]


def _with(ctx: PlotContext, plot: PlotSpec, metric: str) -> list[str]:
    """Selected agents that stored ``metric`` as a curve."""
    have = set(ctx.curves.loc[ctx.curves["metric"] == metric, "agent"])
    return [n for n in select_agents(ctx, plot) if n in have]


def _empty(fig: Figure, ax: Any, what: str) -> Figure:
    ax.text(
        0.5,
        0.5,
        f"no stored {what} for these agents",
        ha="center",
        va="center",
        transform=ax.transAxes,
    )
    ax.set_axis_off()
    return fig


def plot_loss_surface(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Contours of the training MSE over (w, b) with the descent path (first seed)."""
    names = _with(ctx, plot, "surface_mse")
    fig, axes = _panels(len(names), (4.6, 4.0))
    if not names:
        return _empty(fig, axes[0], "loss surface")
    for ax, name in zip(axes, names, strict=False):
        w, b = (
            _first_seed(ctx.curves, name, "surface_w"),
            _first_seed(ctx.curves, name, "surface_b"),
        )
        mse = _first_seed(ctx.curves, name, "surface_mse").reshape(len(b), len(w))
        levels = np.geomspace(mse.min(), mse.max(), 25)
        cs = ax.contourf(w, b, mse, levels=levels, cmap="viridis", norm=LogNorm())
        pw, pb = _first_seed(ctx.curves, name, "path_w"), _first_seed(ctx.curves, name, "path_b")
        ax.plot(pw, pb, "-", color="w", lw=1.2, label="descent path")
        ax.plot(pw[:1], pb[:1], "o", color="w", ms=4)
        ax.plot(pw[-1:], pb[-1:], "*", color="r", ms=10, label="end")
        ax.set_xlabel(plot.options.get("xlabel", "weight w"))
        ax.set_ylabel(plot.options.get("ylabel", "intercept b"))
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        fig.colorbar(cs, ax=ax, label="training MSE (log scale)", format="%.2g")
    fig.suptitle(plot.title or "loss surface and gradient-descent path (first seed)")
    fig.tight_layout()
    return fig


def plot_learning_curve(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Training and validation error against training-set size, mean and 95% CI over seeds.

    Options: ``metric`` suffix via the plot's ``metric`` (default ``rmse``), ``logy``.
    """
    m = plot.metric or "rmse"
    names = _with(ctx, plot, f"lc_val_{m}")
    fig, axes = _panels(len(names))
    if not names:
        return _empty(fig, axes[0], "learning curve")
    for ax, name in zip(axes, names, strict=False):
        for kind, color, ls in (("train", "tab:blue", "--"), ("val", "tab:orange", "-")):
            x, y = curve_matrix(ctx.curves, name, f"lc_{kind}_{m}")
            label = f"{'training' if kind == 'train' else 'validation'} (n={y.shape[0]})"
            band_curve(ax, x, y, color=color, label=label, ls=ls)
        if plot.options.get("logy"):
            ax.set_yscale("log")
        ax.set_xlabel("training-set size")
        ax.set_ylabel(m)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(plot.title or f"learning curves ({m}, k-fold on the training split)")
    fig.tight_layout()
    return fig


def plot_validation_curve(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Training and test error against a swept parameter, one panel per swept group.

    Options: ``logx`` (log10 axis), ``logy``. The plot's ``metric`` names the error
    (default ``rmse``: scalars ``train_rmse`` and ``test_rmse``).
    """
    m = plot.metric or "rmse"
    groups: dict[str, list[str]] = {}
    for n in select_agents(ctx, plot):
        if ctx.agents[n].swept is not None:
            groups.setdefault(ctx.agents[n].group, []).append(n)
    fig, axes = _panels(len(groups))
    if not groups:
        return _empty(fig, axes[0], "parameter sweep")
    for ax, (group, members) in zip(axes, groups.items(), strict=False):
        param = ctx.agents[members[0]].swept[0]  # type: ignore[index]
        for kind, color, ls in (("train", "tab:blue", "--"), ("test", "tab:orange", "-")):
            xs, ms, lo, hi = [], [], [], []
            for n in members:
                v = ctx.scalars[
                    (ctx.scalars["agent"] == n) & (ctx.scalars["metric"] == f"{kind}_{m}")
                ]["value"]
                if v.empty:
                    continue
                ci = bootstrap_mean(v.to_numpy())
                xs.append(float(ctx.agents[n].swept[1]))  # type: ignore[index]
                ms.append(ci.estimate)
                lo.append(ci.low)
                hi.append(ci.high)
            ax.plot(
                xs,
                ms,
                ls,
                marker="o",
                ms=3,
                color=color,
                label="training" if kind == "train" else "held-out test",
            )
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, lw=0)
        if plot.options.get("logx"):
            ax.set_xscale("log")
        if plot.options.get("logy"):
            ax.set_yscale("log")
        ax.set_xlabel(param)
        ax.set_ylabel(m)
        ax.set_title(group, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(plot.title or f"validation curves ({m}; mean and 95% CI over seeds)")
    fig.tight_layout()
    return fig


def plot_confusion(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Confusion matrices summed over seeds, each row normalised to the true class's share."""
    names = _with(ctx, plot, "confusion")
    fig, axes = _panels(len(names), (3.6, 3.4))
    if not names:
        return _empty(fig, axes[0], "confusion matrix")
    for ax, name in zip(axes, names, strict=False):
        sub = ctx.curves[(ctx.curves["agent"] == name) & (ctx.curves["metric"] == "confusion")]
        counts = sub.groupby("step")["value"].sum().sort_index().to_numpy()
        k = math.isqrt(len(counts))
        cm = counts.reshape(k, k)
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        if k <= 10:
            for i in range(k):
                for j in range(k):
                    ax.text(
                        j,
                        i,
                        f"{share[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="w" if share[i, j] > 0.5 else "k",
                    )
        labels = [str(c) for c in range(k)]  # classes are stored as 0..k-1
        ax.set_xticks(range(k), labels, fontsize=7)
        ax.set_yticks(range(k), labels, fontsize=7)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{name} (n={sub['seed'].nunique()} seeds)", fontsize=8)
    fig.suptitle(
        plot.title
        or "confusion matrices, each row normalised to 1 (share of the true class; held-out "
        "test rows, all seeds)"
    )
    fig.tight_layout()
    return fig


def plot_roc(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """ROC curves (macro one-vs-rest for >2 classes): mean TPR with 95% CI over seeds."""
    names = _with(ctx, plot, "roc_tpr")
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    fig, ax = plt.subplots(figsize=(6, 5))
    for name in names:
        steps, y = curve_matrix(ctx.curves, name, "roc_tpr")
        auc = ctx.scalars[
            (ctx.scalars["agent"] == name) & (ctx.scalars["metric"] == "test_roc_auc")
        ]["value"]
        label = f"{name} (AUC {auc.mean():.3f})" if len(auc) else name
        band_curve(ax, steps / 100.0, y, color=colors[name], label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1, label="chance")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(plot.title or "ROC curves (held-out test rows)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_decision_boundary(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Predicted class over the plane with the held-out points on top (2-D data, first seed)."""
    names = _with(ctx, plot, "grid_class")
    fig, axes = _panels(len(names), (3.8, 3.6))
    if not names:
        return _empty(fig, axes[0], "decision boundary (2-D data only)")
    for ax, name in zip(axes, names, strict=False):
        g1, g2 = _first_seed(ctx.curves, name, "grid_x1"), _first_seed(ctx.curves, name, "grid_x2")
        cls = _first_seed(ctx.curves, name, "grid_class").reshape(len(g2), len(g1))
        k = int(max(cls.max(), _first_seed(ctx.curves, name, "test_label").max())) + 1
        cmap = plt.get_cmap("tab10", max(k, 2))
        ax.contourf(g1, g2, cls, levels=np.arange(-0.5, k), cmap=cmap, alpha=0.35)
        ax.scatter(
            _first_seed(ctx.curves, name, "test_x1"),
            _first_seed(ctx.curves, name, "test_x2"),
            c=_first_seed(ctx.curves, name, "test_label"),
            cmap=cmap,
            vmin=-0.5,
            vmax=k - 0.5,
            s=10,
            edgecolors="k",
            linewidths=0.3,
        )
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(plot.title or "decision boundaries (held-out points; first seed)")
    fig.tight_layout()
    return fig


SUPERVISED_PLOTS = {
    "loss_surface": plot_loss_surface,
    "learning_curve": plot_learning_curve,
    "validation_curve": plot_validation_curve,
    "confusion": plot_confusion,
    "roc": plot_roc,
    "decision_boundary": plot_decision_boundary,
}
