"""Data augmentation for CNNs (Lecture 7): each model trained with and without random affine
jitter, and with each transform alone (shift, rotation, scale + shear = "affine"), scored on
the clean test images and on a perturbed copy of them (one seeded random affine map per image,
stronger than the training jitter; the same copy for every model of a seed).

Everything else is the ``cnn-mnist`` trial (:mod:`.vision`). The finding compares each
augmented agent with the unaugmented agent of the same model on ``perturbed_accuracy`` and
``test_accuracy``, and claims a gain only where the 95% bootstrap interval over seeds of the
difference excludes zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.verdicts import Comparison, compare
from qmml.experiments.workload import PlotContext, ResolvedAgent, register
from qmml.experiments.workloads.supervised.vision import (
    CNN_MODELS,
    VisionBudgetSection,
    VisionWorkload,
)

__all__ = ["AugmentationWorkload", "pairs"]

_METRICS = ("perturbed_accuracy", "test_accuracy")


def _augment(agent: ResolvedAgent) -> str:
    return str(agent.params.get("augment", "none"))


def pairs(ctx: PlotContext) -> list[tuple[str, str]]:
    """(augmented agent, its unaugmented baseline): the first unaugmented agent of the same
    model type and the same ``env``."""
    base: dict[tuple[str, str], str] = {}
    for name, a in ctx.agents.items():
        if _augment(a) == "none":
            base.setdefault((a.type, repr(sorted(a.env.items()))), name)
    out = []
    for name, a in ctx.agents.items():
        key = (a.type, repr(sorted(a.env.items())))
        if _augment(a) != "none" and key in base:
            out.append((name, base[key]))
    return out


def _comparisons(ctx: PlotContext) -> list[Comparison]:
    out = []
    for agent, baseline in pairs(ctx):
        for metric in _METRICS:
            a, b = ctx.scalar_values(metric, agent), ctx.scalar_values(metric, baseline)
            if a.size and b.size:
                out.append(compare(agent, a, baseline, b, metric))
    return out


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}"


class AugmentationWorkload(VisionWorkload):
    """``cnn-mnist`` trials with ``budget.perturbed`` on; adds the augmentation finding."""

    name = "cnn-augmentation"
    description = (
        "CNNs with and without augmentation (and each transform alone): clean vs perturbed"
    )
    agent_types = {k: v for k, v in VisionWorkload.agent_types.items() if k in CNN_MODELS}
    question = (
        "What does augmentation (shift, rotation, scale and shear) buy a CNN on clean and on "
        "perturbed MNIST test digits?"
    )

    def budget_config(self, spec: ExperimentSpec) -> VisionBudgetSection:
        budget: VisionBudgetSection = super().budget_config(spec)
        return budget.model_copy(update={"perturbed": True})

    def baselines(self, ctx: PlotContext) -> list[str]:
        return sorted({b for _, b in pairs(ctx)})

    def findings(self, ctx: PlotContext) -> list[str]:
        comps = _comparisons(ctx)
        if not comps:
            return ["No augmented agent has an unaugmented agent of the same model to compare."]
        out = []
        for metric, label in zip(_METRICS, ("perturbed", "clean"), strict=True):
            gains = [c for c in comps if c.metric == metric and c.verdict == "better"]
            losses = [c for c in comps if c.metric == metric and c.verdict == "worse"]
            rest = [c for c in comps if c.metric == metric and c.verdict not in ("better", "worse")]
            parts = []
            if gains:
                best = max(gains, key=lambda c: c.diff)
                parts.append(
                    f"augmentation raised {label} test accuracy for {len(gains)} of "
                    f"{len(gains) + len(losses) + len(rest)} augmented agents (largest: "
                    f"{best.agent} over {best.baseline}, {_pct(best.diff)} points, 95% CI "
                    f"[{_pct(best.low)}, {_pct(best.high)}])"
                )
            if losses:
                parts.append(
                    f"lowered it for {', '.join(c.agent for c in losses)} (interval below zero)"
                )
            if rest:
                why = sorted({c.verdict for c in rest})
                parts.append(
                    f"showed no claimable difference for {', '.join(c.agent for c in rest)} "
                    f"({', '.join(why)})"
                )
            out.append(f"On {label} images: " + "; ".join(parts) + ".")
        return out

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        rows = [
            {
                "agent": c.agent,
                "baseline": c.baseline,
                "metric": c.metric,
                "seeds": c.n,
                "diff (points)": round(100 * c.diff, 2),
                "95% CI low": round(100 * c.low, 2) if np.isfinite(c.low) else np.nan,
                "95% CI high": round(100 * c.high, 2) if np.isfinite(c.high) else np.nan,
                "verdict": c.verdict,
            }
            for c in _comparisons(ctx)
        ]
        if not rows:
            return []
        return [("Augmented minus unaugmented (same model), over seeds", pd.DataFrame(rows))]


register(AugmentationWorkload())
