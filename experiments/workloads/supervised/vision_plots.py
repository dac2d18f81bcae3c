"""What the CNN reports draw from stored results: the confusion matrix, a grid of misclassified
test images, the first layer's filters and its feature maps of one image (plot kinds
``confusion``, ``misclassified``, ``filters``, ``feature_maps``), plus the report notes.

Images are stored as curves with step ``index * 10**6 + row * 1000 + column`` (seed index 0
only); :func:`images_of` turns them back into arrays. A plot draws the agent named first in
its ``agents`` (default: the agent with the best mean ``test_accuracy``).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from qmml.experiments.spec import PlotSpec
from qmml.experiments.workload import PlotContext

__all__ = ["PLOTS", "first_layer", "images_of", "notes", "plot_agent"]


def first_layer(model: Any, normalizer: Any, image: np.ndarray) -> dict[str, np.ndarray]:
    """The first convolution's filters (n_filters, k, k; input channel 0) and its output
    feature maps (n_filters, H', W') on one raw image (1, C, H, W)."""
    import torch
    from torch import nn

    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        return {}
    out: dict[str, torch.Tensor] = {}
    hook = conv.register_forward_hook(lambda _m, _i, o: out.setdefault("maps", o.detach()))
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(normalizer.transform(image)).to(conv.weight.device))
    hook.remove()
    return {
        "filters": conv.weight.detach()[:, 0].cpu().numpy(),  # (n_filters, k, k)
        "feature_maps": out["maps"][0].cpu().numpy(),  # (n_filters, H', W')
    }


def images_of(ctx: PlotContext, metric: str, agent: str) -> np.ndarray:
    """Images (m, H, W) stored as curve ``metric`` of ``agent`` (its lowest seed)."""
    rows = ctx.curve(metric, agent)
    if rows.empty:
        return np.zeros((0, 0, 0))
    rows = rows[rows["seed"] == rows["seed"].min()]
    step = rows["step"].to_numpy(dtype=np.int64)
    i, r, c = step // 10**6, (step // 1000) % 1000, step % 1000
    out = np.zeros((i.max() + 1, r.max() + 1, c.max() + 1))
    out[i, r, c] = rows["value"].to_numpy()
    return out


def plot_agent(ctx: PlotContext, plot: PlotSpec, metric: str) -> str | None:
    """The agent a figure draws: the first of ``plot.agents`` having ``metric``, else the best
    by mean ``test_accuracy`` among those that have it."""
    have = ctx.agents_with(metric)
    for name in plot.agents or []:
        match = [a for a in have if a == name or ctx.agents[a].group == name]
        if match:
            return match[0]
    if not have:
        return None
    acc = {a: float(np.nanmean(ctx.scalar_values("test_accuracy", a)) or 0) for a in have}
    return max(have, key=lambda a: acc[a])


def _empty(text: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    return fig


def plot_confusion(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Confusion matrix of one agent summed over seeds; ``options.normalize`` (default true)
    divides each row by its true-class count."""
    agent = plot_agent(ctx, plot, "confusion")
    if agent is None:
        return _empty("no confusion counts stored")
    rows = ctx.curve("confusion", agent)
    counts = rows.groupby("step")["value"].sum()
    k = round(float(np.sqrt(counts.index.max() + 1)))
    flat = np.zeros(k * k)
    flat[counts.index.to_numpy()] = counts.to_numpy()
    m = flat.reshape(k, k)
    normalize = bool(plot.options.get("normalize", True))
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalize else m
    n_seeds = rows["seed"].nunique()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    im = ax.imshow(shown, cmap="Blues")
    for t in range(k):
        for p in range(k):
            if m[t, p]:
                label = f"{shown[t, p]:.2f}" if normalize else f"{int(m[t, p])}"
                color = "white" if shown[t, p] > shown.max() / 2 else "black"
                ax.text(p, t, label, ha="center", va="center", fontsize=6, color=color)
    ax.set_xticks(range(k), [str(c) for c in range(k)])
    ax.set_yticks(range(k), [str(c) for c in range(k)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    how = "normalised by true class (rows sum to 1)" if normalize else "counts (not normalised)"
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(plot.title or f"{agent}: confusion matrix, {how}, {n_seeds} seed(s) summed")
    fig.tight_layout()
    return fig


def _grid(images: np.ndarray, titles: list[str], suptitle: str, cmap: str = "gray") -> Figure:
    n = len(images)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles, strict=False):
        lim = np.abs(img).max() or 1.0
        kw = {"vmin": -lim, "vmax": lim} if cmap == "RdBu_r" else {}
        ax.imshow(img, cmap=cmap, **kw)
        ax.set_title(title, fontsize=7)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_misclassified(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A grid of misclassified test images (seed index 0) with predicted and true labels."""
    agent = plot_agent(ctx, plot, "misclassified")
    if agent is None:
        return _empty("no misclassified test images stored")
    images = images_of(ctx, "misclassified", agent)
    true = ctx.curve("misclassified_true", agent)
    pred = ctx.curve("misclassified_pred", agent)
    true = true[true["seed"] == true["seed"].min()]["value"].astype(int).tolist()
    pred = pred[pred["seed"] == pred["seed"].min()]["value"].astype(int).tolist()
    titles = [f"pred {p} / true {t}" for p, t in zip(pred, true, strict=True)]
    return _grid(images, titles, plot.title or f"{agent}: misclassified test images (seed 0)")


def plot_filters(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The learned first-layer filters (input channel 0) of one agent, seed index 0."""
    agent = plot_agent(ctx, plot, "filters")
    if agent is None:
        return _empty("no filters stored (no convolutional agent)")
    f = images_of(ctx, "filters", agent)
    titles = [f"filter {i}" for i in range(len(f))]
    k = f.shape[1]
    title = plot.title or f"{agent}: learned first-layer {k}x{k} filters (red +, blue -; seed 0)"
    return _grid(f, titles, title, cmap="RdBu_r")


def plot_feature_maps(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The first layer's output on the first test image (before the non-linearity)."""
    agent = plot_agent(ctx, plot, "feature_maps")
    if agent is None:
        return _empty("no feature maps stored (no convolutional agent)")
    maps = images_of(ctx, "feature_maps", agent)
    titles = [f"channel {i}" for i in range(len(maps))]
    title = plot.title or f"{agent}: first-layer feature maps of the first test image (seed 0)"
    return _grid(maps, titles, title, cmap="viridis")


PLOTS = {
    "confusion": plot_confusion,
    "misclassified": plot_misclassified,
    "filters": plot_filters,
    "feature_maps": plot_feature_maps,
}


def notes(ctx: PlotContext, env: Any, budget: Any) -> list[str]:
    """Settings and caveats for the top of a CNN report."""
    n_train = env.n_train if env.n_train is not None else "all remaining"
    out = [
        f"Data: {env.dataset}, {n_train} training images ({env.n_val} of them for validation: "
        f"CNN checkpoints and learning curves) and {env.n_test} held-out test images, a "
        "seeded stratified split shared by all models of a seed; the per-channel normaliser "
        "is fitted on the training images only.",
        f"Budget: {budget.epochs} epochs, batch {budget.batch_size}, AdamW lr {budget.lr:g} "
        "with cosine decay for the CNNs; the NumPy MLP runs the same epochs (Adam) and has a "
        "training-loss curve only; the logistic regression is fitted by L-BFGS.",
        "epoch_cpu_s is process CPU time on one thread: not reproducible across machines.",
    ]
    if budget.perturbed:
        out.append(
            "perturbed_accuracy: the same test images, each moved by one random affine map "
            "(shift 15%, rotation 20 deg, scale 15%, shear 10 deg; seeded, the same for all "
            "models of a seed)."
        )
    return out
