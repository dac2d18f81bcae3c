"""Pre-training a compact GPT from scratch (Lecture 8) on the bundled novels, with a character
tokeniser and a byte-level BPE, against deterministic n-gram baselines, plus a small scaling
study (model sizes at an equal budget in iterations).

The text is cut in order into train | validation | test blocks of characters (the same blocks
as ``char-lm``). The BPE learns its merges from the training block only. Every loss is
reported in nats per CHARACTER: a BPE model's nats per token times its tokens per character
on the evaluated block, so char and BPE models and the n-grams compare on one scale. The
test block is scored once, with sliding windows (context carried in from validation).
Checkpoints (``save_pretrained``: config.json + model.safetensors) and the tokeniser go to
the trial's artifacts folder. FLOPs ≈ 6·N·tokens (Kaplan et al. 2020).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import language_report as lrep
from qmml.experiments.workloads.supervised import llm_report as rep
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.experiments.workloads.supervised.language import (
    CorpusSection,
    LMBudgetSection,
    NGramAgent,
    ngram,
    ngram_trial,
    unigram,
)
from qmml.supervised.text import CharTokenizer, contiguous_split, load_corpus

__all__ = ["GPTAgent", "PretrainBudgetSection", "PretrainWorkload"]


class PretrainBudgetSection(LMBudgetSection):
    """``budget``: the same for every GPT (iterations, never wall time).

    Attributes:
        steps, eval_every, batch_size: optimiser steps, validation interval, windows per step.
        block_size: tokens per window (the context length).
        bpe_vocab: vocabulary size of the byte-level BPE.
        max_order: the n-gram tries orders 1..max_order on validation.
        temperatures: sampling temperatures; ``sample_chars``: about this many characters.
        val_windows: fixed validation windows evaluated during training.
    """

    steps: int = Field(default=1500, ge=1)
    block_size: int = Field(default=128, ge=2)
    bpe_vocab: int = Field(default=512, ge=257)
    val_windows: int = Field(default=32, ge=1)


@dataclass(frozen=True)
class GPTAgent:
    """A GPT's settings (validated without importing torch)."""

    tokenizer: Literal["char", "bpe"] = "char"
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50

    def __post_init__(self) -> None:
        if self.tokenizer not in ("char", "bpe"):
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}; choose char or bpe")
        if min(self.n_layer, self.n_head, self.n_embd) < 1 or self.n_embd % self.n_head:
            raise ValueError("need n_layer, n_head, n_embd >= 1 and n_embd divisible by n_head")
        if not 0 <= self.dropout < 1 or not self.lr > 0 or self.weight_decay < 0:
            raise ValueError("need 0 <= dropout < 1, lr > 0 and weight_decay >= 0")


def gpt(
    tokenizer: Literal["char", "bpe"] = "char",
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 128,
    dropout: float = 0.0,
    lr: float = 2e-3,
    weight_decay: float = 0.1,
    warmup_steps: int = 50,
) -> GPTAgent:
    """A GPT trained from scratch on the ``tokenizer``'s tokens."""
    return GPTAgent(tokenizer, n_layer, n_head, n_embd, dropout, lr, weight_decay, warmup_steps)


@dataclass(frozen=True)
class Blocks:
    """The corpus as text blocks and as character ids (for the n-grams)."""

    train: str
    val: str
    test: str
    chars: CharTokenizer
    ids: Any  # CorpusSplit of character ids


@functools.lru_cache(maxsize=4)
def _blocks(env: CorpusSection) -> Blocks:
    text = load_corpus(env.corpus, lowercase=env.lowercase)
    if env.max_chars is not None:
        text = text[: env.max_chars]
    chars = CharTokenizer()
    chars.fit(text)
    parts = contiguous_split(
        chars.encode(text),
        val_fraction=env.val_fraction,
        test_fraction=env.test_fraction,
        min_block=64,
    )
    (a, b), (c, d), (e, f) = parts.bounds
    return Blocks(text[a:b], text[c:d], text[e:f], chars, parts)


@functools.lru_cache(maxsize=4)
def _bpe(env: CorpusSection, vocab: int) -> Any:
    from qmml.supervised.llm.bpe import BPETokenizer

    return BPETokenizer(vocab).fit(_blocks(env).train)


class PretrainWorkload(Workload):
    """One model, one corpus, one seed. Scalars: ``test_nats_per_char``, ``val_nats_per_char``,
    ``test_perplexity`` (per char), ``n_params``, ``train_flops``, ``tokens_seen``,
    ``chars_per_token`` (test block), ``train_cpu_s``; n-grams: ``order``. Curves:
    ``train_nats``/``val_nats`` per token against the step, ``sample_T<t>`` (code points)."""

    name = "llm-pretrain"
    description = "A compact GPT pre-trained from scratch (char and BPE) vs n-grams, with scaling"
    question = "Does a small GPT trained from scratch beat the best n-gram in nats per character?"
    agent_types = {"gpt": gpt, "ngram": ngram, "unigram": unigram}
    Env, Budget = CorpusSection, PretrainBudgetSection
    plots = rep.PLOTS

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        budget: PretrainBudgetSection = self.budget_config(spec)
        for a in agents:
            try:
                blocks = _blocks(self.env_config(spec, a))
            except ValueError as err:
                raise SpecError(f"agents.{a.group}.env: {err}") from None
            if a.type == "gpt" and budget.block_size + 1 > len(blocks.val):
                raise SpecError(
                    f"budget.block_size={budget.block_size}: longer than the validation block "
                    f"({len(blocks.val)} characters); use a shorter block_size or more text"
                )

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        t0 = time.process_time()
        env: CorpusSection = self.env_config(spec, agent)
        budget: PretrainBudgetSection = self.budget_config(spec)
        model = self.agent_types[agent.type](**agent.params)
        blocks = _blocks(env)
        if isinstance(model, NGramAgent):
            scalars, curves, steps, samples = _ngram(model, blocks, budget, ctx)
        else:
            scalars, curves, steps, samples = _gpt(model, env, blocks, budget, ctx)
        scalars["test_perplexity"] = math.exp(scalars["test_nats_per_char"])
        for t, text in samples.items():
            curves[f"sample_T{t:g}"] = np.array([ord(c) for c in text], dtype=np.float64)
            steps[f"sample_T{t:g}"] = np.arange(1, len(text) + 1)
        scalars["trial_cpu_s"] = time.process_time() - t0
        res = trial_result(scalars, curves, steps)
        res.info = {"samples": {f"{t:g}": s for t, s in samples.items()}, "corpus": env.corpus}
        return res

    def corpus_of(self, ctx: PlotContext) -> dict[str, str]:
        """Agent name -> its corpus."""
        return {n: self.env_config(ctx.spec, a).corpus for n, a in ctx.agents.items()}

    def notes(self, ctx: PlotContext) -> list[str]:
        b: PretrainBudgetSection = self.budget_config(ctx.spec)
        return [
            f"Every GPT trains {b.steps} steps of {b.batch_size} windows x {b.block_size} tokens "
            "(AdamW, cosine schedule, checkpoint chosen on validation windows). Losses are in "
            "nats per character: BPE models' nats per token x tokens per character of the "
            "scored block. train_nats/val_nats curves are per TOKEN of each model's tokeniser.",
            "The unigram and n-gram baselines are deterministic: they do not depend on the "
            "seed, so their intervals have zero width because nothing random enters them. "
            "Intervals of the GPTs are over seeds (weights and batch order).",
            "train_flops = 6 x n_params x tokens seen (attention FLOPs ignored). Times "
            "(*_cpu_s) depend on the machine and its load; they are not reproducible.",
        ]

    def findings(self, ctx: PlotContext) -> list[str]:
        corpus = self.corpus_of(ctx)
        out = []
        for c in dict.fromkeys(corpus.values()):
            names = [n for n in ctx.agents if corpus[n] == c]
            nets = [n for n in names if ctx.agents[n].type == "gpt"]
            grams = [n for n in names if ctx.agents[n].type != "gpt"]
            have = [n for n in nets + grams if not ctx.scalar("test_nats_per_char", n).empty]
            nets, grams = [n for n in nets if n in have], [n for n in grams if n in have]
            if not nets or not grams:
                continue

            def mean(n: str) -> float:
                return float(ctx.scalar_values("test_nats_per_char", n).mean())

            best_net, best_gram = min(nets, key=mean), min(grams, key=mean)
            cpu = ctx.scalar_values("train_cpu_s", best_net).mean()
            out.append(
                f"{c}, held-out nats/char (best GPT, {cpu:.0f} CPU-s; best n-gram, "
                "deterministic): "
                + rep.margin(
                    ctx,
                    "test_nats_per_char",
                    best_net,
                    best_gram,
                    "nats/char",
                    lower_is_better=True,
                )
            )
        return out

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        return lrep.tables(ctx, self.corpus_of(ctx))


def _ngram(model: NGramAgent, blocks: Blocks, budget: PretrainBudgetSection, ctx: TrialContext):
    return ngram_trial(model, blocks.chars, blocks.ids, budget, ctx)


def _gpt(model: GPTAgent, env: CorpusSection, blocks: Blocks, budget: PretrainBudgetSection, ctx):
    import torch

    from qmml.experiments.workloads.supervised.language_train import gpt_train_config
    from qmml.supervised.llm.config import GPTConfig
    from qmml.supervised.llm.model import nats_per_token, train_gpt

    torch.set_num_threads(ctx.threads)
    model_seed, sample_seed = ctx.int_seeds(2, high=2**31)
    tok: Any = blocks.chars if model.tokenizer == "char" else _bpe(env, budget.bpe_vocab)
    train, val, test = (tok.encode(t) for t in (blocks.train, blocks.val, blocks.test))
    config = GPTConfig(
        tok.vocab_size,
        budget.block_size,
        model.n_layer,
        model.n_head,
        model.n_embd,
        model.dropout,
        seed=model_seed,
    )
    train_cfg = gpt_train_config(model, budget, model_seed, ctx.threads)
    run = train_gpt(config, train, val, train=train_cfg, val_windows=budget.val_windows)
    tpc_val, tpc_test = len(val) / len(blocks.val), len(test) / len(blocks.test)
    tokens_seen = run.result.steps * budget.batch_size * budget.block_size
    scalars = {
        "val_nats_per_char": nats_per_token(run.model, val, history=train) * tpc_val,
        "test_nats_per_char": nats_per_token(run.model, test, history=val) * tpc_test,
        "chars_per_token": 1.0 / tpc_test,
        "n_params": float(config.n_params),
        "tokens_seen": float(tokens_seen),
        "train_flops": float(config.flops_per_token * tokens_seen),
        "best_step": float(run.result.best_step),
        "train_cpu_s": run.result.cpu_s,
    }
    h = run.result.history
    curves = {"train_nats": h["train_loss"], "val_nats": h["val_loss"]}
    steps = {"train_nats": h["step"], "val_nats": h["step"]}
    samples = {}
    prompt = torch.from_numpy(test[:1])[None]  # (1, 1)
    n_new = max(1, round(budget.sample_chars * tpc_test))
    for i, t in enumerate(budget.temperatures):
        gen = torch.Generator().manual_seed(sample_seed + i)
        ids = run.model.generate(prompt, n_new, temperature=t, generator=gen)[0]
        samples[t] = tok.decode([int(test[0]), *ids.tolist()])
    if ctx.artifacts_dir is not None:
        folder = run.model.save_pretrained(ctx.artifacts_dir / "gpt")
        tok.save(folder / ("tokenizer.json" if model.tokenizer == "bpe" else "vocab.json"))
    return scalars, curves, steps, samples


register(PretrainWorkload())
