"""Prompting (Lecture 8): zero-shot vs 1/3/5-shot, with and without a system prompt, through
the chat template, plus small bundled evaluations with honest baselines.

- ``few-shot``: exact match, contains-match and format compliance on held-out questions; the
  seed chooses which training questions are the shots and their order, so the intervals are
  over shot orders (zero-shot is deterministic: greedy decoding of fixed prompts).
- ``summarise`` vs ``lead``: ROUGE-1 / ROUGE-L F1 on bundled passages against the first
  sentence (the lead baseline, deterministic).
- ``code`` vs ``stub``: generated functions run against hidden unit tests in a sandboxed
  subprocess; the stub (``return None``) shows how many asserts pass by accident.
- ``consistency``: a fact given in turn 1 must come back in turn 3, after a change of topic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import llm_report as rep
from qmml.experiments.workloads.supervised.llm_models import TaskSection, load_base
from qmml.supervised.llm.tasks import get_task

__all__ = ["PromptAgent", "PromptingWorkload"]


@dataclass(frozen=True)
class PromptAgent:
    """What a trial evaluates: ``kind`` and, for ``few-shot``, shots and the system prompt."""

    kind: str
    shots: int = 0
    system: bool = True
    n_sentences: int = 1

    def __post_init__(self) -> None:
        if self.shots < 0 or self.n_sentences < 1:
            raise ValueError("need shots >= 0 and n_sentences >= 1")


def few_shot(shots: int = 0, system: bool = True) -> PromptAgent:
    """``shots`` worked examples as earlier chat turns; optional system prompt."""
    return PromptAgent("few-shot", shots, system)


def summarise() -> PromptAgent:
    """The model summarises each bundled passage in one sentence (ROUGE)."""
    return PromptAgent("summarise")


def lead(n_sentences: int = 1) -> PromptAgent:
    """Baseline summary: the passage's first ``n_sentences`` sentences."""
    return PromptAgent("lead", n_sentences=n_sentences)


def code() -> PromptAgent:
    """The model writes each bundled function; hidden tests run in the sandbox."""
    return PromptAgent("code")


def stub() -> PromptAgent:
    """Baseline code: every function returns None."""
    return PromptAgent("stub")


def consistency() -> PromptAgent:
    """Multi-turn check: recall a fact from two turns earlier."""
    return PromptAgent("consistency")


_NEEDS_MODEL = {"few-shot", "summarise", "code", "consistency"}


class PromptingWorkload(Workload):
    """One prompt setting or evaluation, one seed. Scalars: ``exact_match``,
    ``contains_match``, ``format_ok``, ``prompt_tokens`` (few-shot); ``rouge1``, ``rougeL``
    (summaries); ``pass_rate``, ``solved`` (code); ``consistency``; ``trial_cpu_s``."""

    name = "llm-prompting"
    description = "Zero- vs few-shot prompting, system prompt, and small bundled evaluations"
    question = "How much do shots and a system prompt help, and do the evals beat baselines?"
    agent_types = {
        "few-shot": few_shot,
        "summarise": summarise,
        "lead": lead,
        "code": code,
        "stub": stub,
        "consistency": consistency,
    }
    Env = TaskSection
    plots = rep.PLOTS

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        import torch

        from qmml.supervised.llm import evals

        t0 = time.process_time()
        torch.set_num_threads(ctx.threads)
        env: TaskSection = self.env_config(spec, agent)
        a: PromptAgent = self.agent_types[agent.type](**agent.params)
        test_seed, model_seed = ctx.int_seeds(2, 2**31)
        model, tok = load_base(env.model, model_seed) if a.kind in _NEEDS_MODEL else (None, None)

        def reply(messages: list[dict[str, str]], n: int = env.max_new_tokens) -> str:
            return evals.generate_text(model, tok, messages, max_new_tokens=n)

        scalars: dict[str, float] = {}
        if a.kind == "few-shot":
            scalars = self._few_shot(a, env, ctx, reply, tok)
        elif a.kind in ("summarise", "lead"):
            r1, rl = [], []
            for doc, ref in evals.SUMMARIES:
                if a.kind == "lead":
                    pred = evals.lead(doc, a.n_sentences)
                else:
                    ask = f"Summarise this text in one sentence.\n\n{doc}"
                    pred = reply([{"role": "user", "content": ask}], 48)
                r1.append(evals.rouge_n(pred, ref, 1))
                rl.append(evals.rouge_l(pred, ref))
            scalars = {"rouge1": float(np.mean(r1)), "rougeL": float(np.mean(rl))}
        elif a.kind in ("code", "stub"):
            rates = []
            for p in evals.CODE_PROBLEMS:
                if a.kind == "stub":
                    src = p.reference.split("\n", 1)[0] + "\n    return None\n"
                else:
                    ask = p.prompt + " Reply with the code only, in a ```python block."
                    src = evals.extract_code(reply([{"role": "user", "content": ask}], 96))
                rates.append(evals.score_code(p, src))
            scalars = {
                "pass_rate": float(np.mean(rates)),
                "solved": float(np.mean(np.equal(rates, 1.0))),
            }
        else:
            hits = []
            for fact, question, word in evals.DIALOGUES:
                first = reply([{"role": "user", "content": fact}], 24)
                second = reply(
                    [
                        {"role": "user", "content": fact},
                        {"role": "assistant", "content": first},
                        {"role": "user", "content": evals.FILLER},
                    ],
                    24,
                )
                answer = reply(evals.dialogue(fact, first, second, question), 24)
                hits.append(evals.contains_match(answer, word))
            scalars = {"consistency": float(np.mean(hits))}
        scalars["trial_cpu_s"] = time.process_time() - t0
        res = TrialResult.from_arrays(scalars=scalars)
        res.info = {"model": env.model, "task": env.task, "seed": test_seed}
        return res

    @staticmethod
    def _few_shot(a: PromptAgent, env: TaskSection, ctx: TrialContext, reply: Any, tok: Any):
        from qmml.supervised.llm import evals
        from qmml.supervised.llm.prompts import render_chat, task_messages

        task = get_task(env.task)
        test = task.items(env.n_test, 12345, "test")  # the same questions for every seed
        pool = task.items(max(env.n_train, a.shots), 678, "train")
        rng = ctx.rng()
        outputs, lengths = [], []
        for item in test:
            shots = [pool[int(i)] for i in rng.choice(len(pool), a.shots, replace=False)]
            msgs = task_messages(task, item, shots=shots, system=a.system)
            lengths.append(len(render_chat(tok, msgs)))
            outputs.append(reply(msgs))
        scores = evals.score_task(task, test, outputs)
        return {**scores, "prompt_tokens": float(np.mean(lengths))}

    def notes(self, ctx: PlotContext) -> list[str]:
        env: TaskSection = self.env_config(ctx.spec)
        return [
            f"Model {env.model}; task {env.task!r}: {env.n_test} held-out questions, the same "
            "for every seed; the seed draws which training questions are the shots and their "
            "order, so intervals are over shot choices and orders. Greedy decoding: zero-shot "
            "prompts and the bundled evaluations are deterministic (zero-width intervals mean "
            "nothing random entered, not precision).",
            "Without a system prompt, the SmolLM2 chat template inserts its own default one.",
            "Baselines: lead (first sentence) for summaries, a stub returning None for code "
            "(asserts it passes by accident are the floor). Generated code runs only in a "
            "sandboxed subprocess (isolated interpreter, temporary directory, timeout, limits).",
        ]

    def findings(self, ctx: PlotContext) -> list[str]:
        out = []
        zero = [
            n
            for n, a in ctx.agents.items()
            if a.type == "few-shot"
            and a.params.get("shots", 0) == 0
            and a.params.get("system", True)
        ]
        for name, a in ctx.agents.items():
            if a.type == "few-shot" and zero and name != zero[0]:
                out.append(rep.margin(ctx, "exact_match", name, zero[0], "exact match"))
        pairs = (("summarise", "lead", "rougeL"), ("code", "stub", "pass_rate"))
        for mine, base, metric in pairs:
            ms = [n for n, a in ctx.agents.items() if a.type == mine]
            bs = [n for n, a in ctx.agents.items() if a.type == base]
            if ms and bs:
                out.append(rep.margin(ctx, metric, ms[0], bs[0], metric))
        return out


register(PromptingWorkload())
