"""What the three LLM reports show beyond the generic tables: the margins (with CIs over
seeds, or a plain "none"), the ``scaling`` plot kind, and the setup sentences. All read
stored results only.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, select_agents
from qmml.experiments.spec import PlotSpec
from qmml.experiments.stats import bootstrap_mean
from qmml.experiments.workload import PlotContext

__all__ = ["PLOTS", "finetune_findings", "finetune_notes", "margin", "plot_scaling"]


def _per_seed(ctx: PlotContext, metric: str, agent: str) -> pd.Series:
    s = ctx.scalar(metric, agent)
    return s.groupby("seed")["value"].mean()


def margin(
    ctx: PlotContext, metric: str, a: str, b: str, unit: str, *, lower_is_better: bool = False
) -> str:
    """One sentence: is ``a`` better than ``b`` on ``metric``, with a paired bootstrap CI over
    seeds (seeds where both ran)."""
    x, y = _per_seed(ctx, metric, a), _per_seed(ctx, metric, b)
    diff = (x - y.reindex(x.index)).dropna().to_numpy()
    if lower_is_better:
        diff = -diff
    if diff.size == 0:
        return f"{a} vs {b}: no paired seeds."
    ci = bootstrap_mean(diff)
    head = f"{a} {x.mean():.4f} vs {b} {y.mean():.4f} {unit}: "
    if ci.n < 2:
        return head + f"margin {ci.estimate:+.4f} from one seed, no CI."
    span = f"[95% CI over {ci.n} seeds: {ci.low:+.4f}, {ci.high:+.4f}]"
    if ci.low > 0:
        return head + f"{a} is better by {ci.estimate:.4f} {span}."
    if ci.high < 0:
        flipped = f"[95% CI over {ci.n} seeds: {-ci.high:.4f}, {-ci.low:.4f}]"
        return head + f"{b} is better by {-ci.estimate:.4f} {flipped}."
    return head + f"no clear margin ({ci.estimate:+.4f}, {span} includes zero)."


def plot_scaling(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Held-out loss (``plot.metric``, default ``test_nats_per_char``) against parameters and
    against training compute (FLOPs ≈ 6·N·tokens), mean and 95% CI over seeds, log x."""
    metric = plot.metric or "test_nats_per_char"
    names = [n for n in select_agents(ctx, plot) if not ctx.scalar("n_params", n).empty]
    colors = agent_colors(list(ctx.agents))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(ctx.agents[n].group, []).append(n)
    for ax, xkey, xlabel in (
        (axes[0], "n_params", "parameters N"),
        (axes[1], "train_flops", "training FLOPs ≈ 6·N·tokens"),
    ):
        for group, members in groups.items():
            pts = []
            for n in members:
                y = _per_seed(ctx, metric, n)
                x = _per_seed(ctx, xkey, n)
                if y.empty or x.empty:
                    continue
                ci = bootstrap_mean(y.to_numpy())
                pts.append((float(x.mean()), ci.estimate, ci.low, ci.high))
            if not pts:
                continue
            pts.sort()
            xs, ms, lo, hi = (np.array(v) for v in zip(*pts, strict=True))
            ax.errorbar(
                xs,
                ms,
                yerr=[ms - lo, hi - ms],
                marker="o",
                capsize=3,
                color=colors[members[0]],
                label=group,
            )
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(plot.options.get("ylabel", metric))
    if groups:
        axes[0].legend(fontsize=8)
    fig.suptitle(plot.title or "Scaling: held-out loss against parameters and compute")
    fig.tight_layout()
    return fig


PLOTS = {"scaling": plot_scaling}


def finetune_notes(ctx: PlotContext, env: Any, budget: Any) -> list[str]:
    """Setup sentences of the fine-tuning report."""
    return [
        f"Model {env.model}; trained task {env.task!r}, control task {env.control_task!r} "
        f"(never trained on). Every method trains {budget.steps} steps of {budget.batch_size} "
        f"chat examples drawn from {env.n_train} training questions; exact match (EM) is on "
        f"{env.n_test} held-out questions per task, disjoint from training by construction, "
        "greedy decoding. Seeds change the questions, the batch order and (tiny models) the "
        "random initial weights.",
        "forgetting_pts = 100 x (control EM before - control EM after); where the control EM "
        "starts near 0 it cannot show forgetting (a floor), so forgetting_contains_pts does "
        "the same with contains-match (the answer anywhere in the reply), which the findings "
        "use when the control EM starts below 0.2. merge_max_dlogit: largest |logit "
        "difference| between the adapted model and its merged weights in float32; "
        "fp32_rounding_max_dlogit: the adapted model in float32 against float64, the "
        "rounding floor under any float32 comparison; merge_max_dlogit_f64: merge_and_unload "
        "in float64 (the merge itself; on Llama models it often reads exactly 0 because "
        "their RMSNorm computes in float32 even in a float64 model, rounding away the "
        "~1e-15 per-layer differences); "
        "reload_max_dlogit: the same for the adapter saved and reloaded on a fresh base.",
        "Times (*_cpu_s: process CPU-seconds) depend on the machine and its load; "
        "they are not reproducible. The zero-shot agent is deterministic given the questions.",
    ]


def finetune_findings(ctx: PlotContext) -> list[str]:
    """Per trained agent: EM before -> after with a CI over seeds, and the forgetting."""
    out = []
    for name, a in ctx.agents.items():
        if a.type == "zero-shot":
            continue
        gain = (_per_seed(ctx, "em_after", name) - _per_seed(ctx, "em_before", name)).dropna()
        if gain.empty:
            continue
        ci = bootstrap_mean(gain.to_numpy())
        floor = _per_seed(ctx, "control_em_before", name).mean() < 0.2
        metric = "forgetting_contains_pts" if floor else "forgetting_pts"
        forget = _per_seed(ctx, metric, name).dropna()
        fci = bootstrap_mean(forget.to_numpy()) if not forget.empty else None
        after = _per_seed(ctx, "em_after", name).mean()
        before = _per_seed(ctx, "em_before", name).mean()
        txt = f"{name}: exact match {before:.2f} -> {after:.2f}"
        txt += (
            f" (gain {ci.estimate:+.2f}, 95% CI over {ci.n} seeds [{ci.low:+.2f}, {ci.high:+.2f}])"
            if ci.n >= 2
            else " (one seed, no CI)"
        )
        if fci is not None:
            kind = "contains-match" if floor else "exact match"
            txt += f"; control task forgetting ({kind}) {fci.estimate:+.1f} points"
            txt += f" [{fci.low:+.1f}, {fci.high:+.1f}]." if fci.n >= 2 else "."
        else:
            txt += "."
        out.append(txt)
    return out
