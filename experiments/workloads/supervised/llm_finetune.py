"""Fine-tuning (Lecture 8): LoRA through ``peft`` against full fine-tuning and the zero-shot
model, on a generated task with exact answers in chat format.

Each trial draws its training and test questions from the seed (test questions are disjoint
from training ones by construction, see :mod:`qmml.supervised.llm.tasks`), scores greedy
answers before and after training on the trained task AND on a control task it never sees
(forgetting), and records the trainable share, the adapter's size on disk, CPU-seconds per
step, and that ``merge_and_unload`` gives the same logits (max |Δlogit|). Adapters are saved
in the trial's artifacts folder and reloaded to check they give the same logits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import llm_report as rep
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.experiments.workloads.supervised.llm_models import TaskSection, load_base
from qmml.supervised.llm.tasks import get_task

__all__ = ["FinetuneBudgetSection", "FinetuneWorkload", "Method"]


class FinetuneBudgetSection(StrictModel):
    """``budget``: ``steps`` optimiser steps of ``batch_size`` examples (every method)."""

    steps: int = Field(default=100, ge=1)
    batch_size: int = Field(default=2, ge=1)


@dataclass(frozen=True)
class Method:
    """How a trial adapts the model: ``none`` (zero-shot), ``lora`` or ``full``."""

    kind: str
    rank: int = 8
    alpha: float = 16.0
    targets: str = "q_proj,v_proj"
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.rank < 1 or not self.lr > 0 or not self.alpha > 0:
            raise ValueError("need rank >= 1, alpha > 0 and lr > 0")
        if not self.target_list:
            raise ValueError("targets: name at least one module, e.g. 'q_proj,v_proj'")

    @property
    def target_list(self) -> tuple[str, ...]:
        """The LoRA target module names."""
        return tuple(t.strip() for t in self.targets.split(",") if t.strip())


def zero_shot() -> Method:
    """No training: the model as loaded (the baseline)."""
    return Method("none")


def lora(rank: int = 8, alpha: float = 16.0, targets: str = "q_proj,v_proj", lr: float = 1e-3):
    """A LoRA adapter of rank ``rank`` on the comma-separated ``targets`` modules."""
    return Method("lora", rank, alpha, targets, lr)


def full(lr: float = 1e-4) -> Method:
    """Every weight trained (full fine-tuning)."""
    return Method("full", lr=lr)


def _answers(model: Any, tok: Any, task: Any, items: list, env: TaskSection) -> list[str]:
    from qmml.supervised.llm.evals import generate_text
    from qmml.supervised.llm.prompts import task_messages

    return [
        generate_text(
            model, tok, task_messages(task, i, system=env.system), max_new_tokens=env.max_new_tokens
        )
        for i in items
    ]


class FinetuneWorkload(Workload):
    """One method, one model, one seed. Scalars: ``em_before``/``em_after`` (trained task),
    ``control_em_before``/``control_em_after`` and ``forgetting_pts`` (control task),
    ``contains_after``, ``format_after``, ``trainable_params``, ``trainable_pct``,
    ``adapter_bytes``, ``step_cpu_s``, ``merge_max_dlogit`` (float32; ``_f64``: float64),
    ``reload_max_dlogit``, ``train_cpu_s``. Curve: ``train_loss`` per step."""

    name = "llm-finetune"
    description = "LoRA (peft) vs full fine-tuning vs zero-shot on generated chat tasks"
    question = "Does a small LoRA adapter teach the task without forgetting the control task?"
    agent_types = {"zero-shot": zero_shot, "lora": lora, "full": full}
    Env, Budget = TaskSection, FinetuneBudgetSection
    plots = rep.PLOTS

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        import torch

        from qmml.supervised.llm.evals import score_task
        from qmml.supervised.llm.finetune import (
            FinetuneConfig,
            LoraSettings,
            add_lora,
            finetune,
            merge_check,
            merge_dlogit_fp32,
            rounding_dlogit_fp32,
            trainable_share,
        )
        from qmml.supervised.llm.prompts import render_answer, task_messages

        t0 = time.process_time()
        torch.set_num_threads(ctx.threads)
        env: TaskSection = self.env_config(spec, agent)
        budget: FinetuneBudgetSection = self.budget_config(spec)
        method: Method = self.agent_types[agent.type](**agent.params)
        data_seed, test_seed, control_seed, model_seed, train_seed = ctx.int_seeds(5, 2**31)
        task, control = get_task(env.task), get_task(env.control_task)
        train_items = task.items(env.n_train, data_seed, "train")
        test_items = task.items(env.n_test, test_seed, "test")
        control_items = control.items(env.n_test, control_seed, "test")
        model, tok = load_base(env.model, model_seed)

        def evaluate(m: Any) -> tuple[dict[str, float], dict[str, float]]:
            return (
                score_task(task, test_items, _answers(m, tok, task, test_items, env)),
                score_task(control, control_items, _answers(m, tok, control, control_items, env)),
            )

        before, control_before = evaluate(model)
        scalars: dict[str, float] = {
            "em_before": before["exact_match"],
            "control_em_before": control_before["exact_match"],
            "control_contains_before": control_before["contains_match"],
        }
        curves: dict[str, np.ndarray] = {}
        after, control_after = before, control_before
        if method.kind != "none":
            if method.kind == "lora":
                model = add_lora(model, LoraSettings(method.rank, method.alpha, method.target_list))
            n_train, n_all = trainable_share(model)
            examples = [
                render_answer(tok, task_messages(task, i, system=env.system), i.answer)
                for i in train_items
            ]
            config = FinetuneConfig(
                budget.steps, budget.batch_size, method.lr, seed=train_seed, threads=ctx.threads
            )
            run = finetune(model, tok, examples, config)
            curves["train_loss"] = run.step_loss
            scalars |= {
                "trainable_params": float(n_train),
                "trainable_pct": 100.0 * n_train / n_all,
                "step_cpu_s": run.cpu_s_per_step,
                "train_cpu_s": run.result.cpu_s,
            }
            after, control_after = evaluate(model)
            probe = torch.tensor([examples[0][0]])
            if method.kind == "lora":
                scalars |= self._adapter(model, probe, ctx, env, model_seed)
                scalars["merge_max_dlogit"] = merge_dlogit_fp32(model, probe)
                scalars["fp32_rounding_max_dlogit"] = rounding_dlogit_fp32(model, probe)
                _, scalars["merge_max_dlogit_f64"] = merge_check(model, probe, float64=True)
            elif ctx.artifacts_dir is not None and n_all < 5_000_000:
                model.save_pretrained(ctx.artifacts_dir / "full_finetune")
        scalars |= {
            "em_after": after["exact_match"],
            "contains_after": after["contains_match"],
            "format_after": after["format_ok"],
            "control_em_after": control_after["exact_match"],
            "control_contains_after": control_after["contains_match"],
            "forgetting_pts": 100.0
            * (control_before["exact_match"] - control_after["exact_match"]),
            "forgetting_contains_pts": 100.0
            * (control_before["contains_match"] - control_after["contains_match"]),
        }
        scalars["trial_cpu_s"] = time.process_time() - t0
        steps = {"train_loss": np.arange(1, len(curves.get("train_loss", [])) + 1)}
        res = trial_result(scalars, curves, {k: v for k, v in steps.items() if k in curves})
        res.info = {"model": env.model, "task": env.task, "control": env.control_task}
        return res

    @staticmethod
    def _adapter(model: Any, probe: Any, ctx: TrialContext, env: TaskSection, seed: int):
        """Save the adapter, measure it, reload it on a fresh base and compare logits."""
        import tempfile
        from pathlib import Path

        from peft import PeftModel

        from qmml.supervised.llm.finetune import adapter_bytes, logits_of

        with tempfile.TemporaryDirectory() as tmp:
            folder = (ctx.artifacts_dir or Path(tmp)) / "adapter"
            model.save_pretrained(str(folder), save_embedding_layers=False)
            size = adapter_bytes(folder)
            fresh, _ = load_base(env.model, seed)
            reloaded = PeftModel.from_pretrained(fresh, str(folder)).eval()
            a = logits_of(model.eval(), probe).float()
            b = logits_of(reloaded, probe).float()
        return {"adapter_bytes": float(size), "reload_max_dlogit": float((a - b).abs().max())}

    def notes(self, ctx: PlotContext) -> list[str]:
        return rep.finetune_notes(ctx, self.env_config(ctx.spec), self.budget_config(ctx.spec))

    def findings(self, ctx: PlotContext) -> list[str]:
        return rep.finetune_findings(ctx)

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        return []


register(FinetuneWorkload())
