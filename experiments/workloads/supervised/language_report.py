"""What the ``char-lm`` report shows beyond the generic tables: the margin of the best network
over the best n-gram (with a CI over seeds, or a plain "none"), the samples, the n-gram's
order selection, and the ``gradient_flow`` plot kind. All read stored results only.

Curves read: ``gradflow_init``, ``gradflow_trained``, ``gradflow_trained_clip`` (‖∂L/∂h_t‖
against the distance ``T - 1 - t`` on the probe task of :mod:`qmml.supervised.deep.gradflow`),
``sample_T<t>`` (code points of a sample at temperature t), ``val_nats_by_order``.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, band_curve, curve_matrix, select_agents
from qmml.experiments.spec import PlotSpec
from qmml.experiments.stats import bootstrap_mean
from qmml.experiments.workload import PlotContext

__all__ = ["PLOTS", "gradflow_curves", "notes", "plot_gradient_flow", "tables"]

NEURAL = ("rnn", "gru", "lstm", "gpt")
NGRAM = ("unigram", "ngram")
_STAGES = {
    "gradflow_init": "at initialisation",
    "gradflow_trained": "after training (no clipping)",
    "gradflow_trained_clip": "after training (clipped)",
}


def gradflow_curves(cell: str, budget: Any, seed: int) -> dict[str, np.ndarray]:
    """The probe's ‖∂L/∂h_t‖ profiles for one cell, as curves indexed by distance."""
    from qmml.supervised.deep.gradflow import GradFlowConfig, gradient_flow

    config = GradFlowConfig(
        seq_len=budget.gradflow_seq_len,
        train_steps=budget.gradflow_steps,
        cells=(cell,),
        seed=seed,
    )
    out = gradient_flow(config)
    curves = {}
    for key, stage, clipped in (
        ("gradflow_init", "init", False),
        ("gradflow_trained", "trained", False),
        ("gradflow_trained_clip", "trained", True),
    ):
        mask = (out["stage"] == stage) & (np.isnan(out["clip"].astype(float)) != clipped)
        curves[key] = out["grad_norm"][mask].astype(np.float64)
    return curves


def plot_gradient_flow(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """‖∂L/∂h_t‖ against distance, one panel per stage, mean over seeds with 95% bands."""
    names = [n for n in select_agents(ctx, plot) if n in set(ctx.curve("gradflow_init")["agent"])]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    for ax, (metric, title) in zip(axes, _STAGES.items(), strict=True):
        for name in names:
            steps, y = curve_matrix(ctx.curves, name, metric)
            if y.size:
                band_curve(ax, steps, y, color=colors[name], label=f"{name} (n={y.shape[0]})")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("distance T-1-t (steps back)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂h_t‖")
    if names:
        axes[0].legend(fontsize=7)
    else:
        axes[1].text(0.5, 0.5, "no gradient-flow curves", ha="center", transform=axes[1].transAxes)
    fig.suptitle(plot.title or "Gradient flow: RNN vs LSTM (probe task)")
    fig.tight_layout()
    return fig


def plot_compute(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Validation nats/char against training CPU-seconds, one panel per group (the corpus in
    the built-in spec): each
    network's mean over seeds (x: mean CPU-seconds at each evaluation) with a 95% band,
    beside each n-gram's validation score as a horizontal line. Where a curve crosses the
    best n-gram's line is the CPU budget a network needs to beat it (on this machine)."""
    names = select_agents(ctx, plot)
    corpus = {n: str(ctx.agents[n].group) for n in names}
    groups = list(dict.fromkeys(corpus.values()))
    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(6.2 * max(len(groups), 1), 4.2))
    axes = np.atleast_1d(axes)
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    for ax, group in zip(axes, groups, strict=False):
        for name in [n for n in names if corpus[n] == group]:
            kind = ctx.agents[name].type
            if kind in NGRAM:
                val = ctx.scalar_values("val_nats_per_char", name)
                if val.size:
                    ax.axhline(
                        val.mean(),
                        color=colors[name],
                        ls="--",
                        lw=1.2,
                        label=f"{name} {val.mean():.3f}",
                    )
                continue
            _, y = curve_matrix(ctx.curves, name, "val_nats")
            _, cpu = curve_matrix(ctx.curves, name, "val_cpu_s")
            if y.size and cpu.shape == y.shape:
                band_curve(
                    ax, cpu.mean(axis=0), y, color=colors[name], label=f"{name} (n={y.shape[0]})"
                )
        ax.set_title(group, fontsize=10)
        ax.set_xlabel("training CPU-seconds (one thread, mean over seeds)")
        ax.set_ylabel("validation nats/char")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(plot.title or "Validation loss against compute")
    fig.tight_layout()
    return fig


PLOTS = {"gradient_flow": plot_gradient_flow, "compute": plot_compute}


def _values(ctx: PlotContext, agent: str) -> pd.Series:
    s = ctx.scalar("test_nats_per_char", agent)
    return s.set_index("seed")["value"]


def notes(ctx: PlotContext, corpus: dict[str, str], budget: Any) -> list[str]:
    """Plain sentences: the setup, the determinism of the n-grams, the margins."""
    tokens = budget.steps * budget.batch_size * budget.seq_len
    out = [
        f"Every network trains {budget.steps} steps of {budget.batch_size} windows x "
        f"{budget.seq_len} characters ({tokens:,} characters seen), parameter budget "
        f"{budget.param_budget:,} (hidden size solved per cell; n_params in the table). "
        "Checkpoints and the n-gram order are chosen on the validation block; "
        "test_nats_per_char is on the test block, scored once; perplexity = exp(nats).",
        "The unigram and n-gram baselines are deterministic: they do not depend on the seed, "
        "so their intervals have zero width because nothing random enters them, not because "
        "they were measured precisely. Intervals of the networks are over seeds (weights and "
        "batch order).",
        "Times (*_cpu_s: process CPU-seconds) depend on the machine and its load; they are "
        "not reproducible; the compute plot puts validation loss against them, so it shows "
        "the budget at which a network overtakes the n-gram on this machine.",
    ]
    for c in dict.fromkeys(corpus.values()):
        agents = [n for n in ctx.agents if corpus[n] == c]
        nets = [n for n in agents if ctx.agents[n].type in NEURAL and not _values(ctx, n).empty]
        grams = [n for n in agents if ctx.agents[n].type in NGRAM and not _values(ctx, n).empty]
        if not nets or not grams:
            continue
        best_net = min(nets, key=lambda n: _values(ctx, n).mean())
        best_gram = min(grams, key=lambda n: _values(ctx, n).mean())
        net, gram = _values(ctx, best_net), _values(ctx, best_gram)
        paired = (gram.reindex(net.index) - net).dropna().to_numpy()
        ci = bootstrap_mean(paired)
        order = ctx.scalar_values("order", best_gram)
        order_txt = f", n={int(order[0])}" if order.size else ""
        head = (
            f"{c}: best network {best_net} {net.mean():.4f} nats/char (perplexity "
            f"{math.exp(net.mean()):.3f}); best n-gram {best_gram}{order_txt} "
            f"{gram.mean():.4f} (deterministic). "
        )
        if ci.n < 2:
            out.append(head + f"Margin {ci.estimate:+.4f} nats/char from one seed: no CI.")
        elif ci.low > 0:
            out.append(
                head + f"The network is better by {ci.estimate:.4f} nats/char "
                f"[95% CI over {ci.n} seeds: {ci.low:.4f}, {ci.high:.4f}]."
            )
        elif ci.high < 0:
            out.append(
                head + f"The n-gram is better by {-ci.estimate:.4f} nats/char "
                f"[95% CI: {-ci.high:.4f}, {-ci.low:.4f}]: no network beats it."
            )
        else:
            out.append(
                head + f"No margin: the difference {ci.estimate:+.4f} nats/char has a 95% CI "
                f"[{ci.low:.4f}, {ci.high:.4f}] that includes zero."
            )
    return out


def _decode(codes: np.ndarray) -> str:
    text = "".join(chr(int(c)) for c in codes)
    return text.replace("\n", " ⏎ ")


def tables(ctx: PlotContext, corpus: dict[str, str]) -> list[tuple[str, pd.DataFrame]]:
    """Samples of the first seed at each temperature, and the n-gram order selection."""
    out = []
    sample_metrics = sorted(
        {m for m in ctx.curves["metric"].unique() if str(m).startswith("sample_T")},
        key=lambda m: float(m[len("sample_T") :]),
    )
    rows = []
    for name in ctx.agents:
        for m in sample_metrics:
            sub = ctx.curve(m, name)
            if sub.empty:
                continue
            first = sub[sub["seed"] == sub["seed"].min()].sort_values("step")
            rows.append(
                {
                    "agent": name,
                    "temperature": m[len("sample_T") :],
                    "sample (first seed)": _decode(first["value"].to_numpy()),
                }
            )
    if rows:
        out.append(("Samples at three temperatures (first seed; ⏎ = newline)", pd.DataFrame(rows)))
    rows = []
    for name in ctx.agents:
        sub = ctx.curve("val_nats_by_order", name)
        if sub.empty:
            continue
        first = sub[sub["seed"] == sub["seed"].min()].sort_values("step")
        rows.append(
            {"agent": name, "corpus": corpus[name]}
            | {
                f"n={int(s)}": f"{v:.4f}"
                for s, v in zip(first["step"], first["value"], strict=True)
            }
        )
    if rows:
        out.append(
            ("n-gram: validation nats/char by order (chosen: the lowest)", pd.DataFrame(rows))
        )
    return out
