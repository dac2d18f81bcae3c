"""Character-level language models (Lecture 12): RNN vs GRU vs LSTM at equal parameter counts
and equal iteration budgets, against unigram and smoothed n-gram baselines, on The Time
Machine and Frankenstein.

Each corpus is cut in order into train | validation | test blocks (no shuffling across the
borders). Networks choose their checkpoint on validation; the n-gram chooses its order n on
validation; everything is scored once on the test block (nats per character, state or
context carried in from the validation block). The vocabulary is the corpus's character set
(no counts leak). Hidden sizes are solved from ``budget.param_budget`` per cell, so the three
cells have about the same number of parameters (``n_params`` is recorded); the tiny
transformer (``gpt``, the compact GPT of :mod:`qmml.supervised.llm`) solves its width the same
way. ``val_cpu_s`` curves let the report draw validation loss against training CPU-seconds.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from qmml.experiments.spec import ExperimentSpec, SpecError, did_you_mean
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import language_report as rep
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.experiments.workloads.supervised.language_train import (
    GPTLM,
    gpt,
    gpt_trial,
    recurrent_trial,
)
from qmml.supervised.text import (
    CORPORA,
    CharTokenizer,
    CorpusSplit,
    NGramLM,
    contiguous_split,
    load_corpus,
    select_order,
)

__all__ = [
    "CharLMBudgetSection",
    "CharLMWorkload",
    "CorpusSection",
    "hidden_for_budget",
    "n_params",
]

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class CorpusSection(StrictModel):
    """``env``: which text and how it is cut.

    Attributes:
        corpus: ``timemachine`` or ``frankenstein`` (bundled, Project Gutenberg).
        lowercase: lower-case the text first.
        max_chars: keep only the first this many characters (a slice, for quick runs).
        val_fraction: share of the text in the validation block (after training).
        test_fraction: share in the test block (the end of the text).
    """

    corpus: str = "timemachine"
    lowercase: bool = False
    max_chars: int | None = Field(default=None, ge=1)
    val_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.1, gt=0, lt=0.5)

    @field_validator("corpus")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in CORPORA:
            raise ValueError(
                f"unknown corpus {v!r}; choose from {sorted(CORPORA)}" + did_you_mean(v, CORPORA)
            )
        return v


class LMBudgetSection(StrictModel):
    """What every language-model budget has: iterations, evaluation, the n-gram orders tried,
    and samples at a few temperatures (char-lm and llm-pretrain extend it)."""

    steps: int = Field(default=3000, ge=1)
    eval_every: int = Field(default=250, ge=1)
    batch_size: int = Field(default=32, ge=1)
    max_order: int = Field(default=8, ge=1, le=8)
    temperatures: list[float] = Field(default_factory=lambda: [0.5, 1.0, 1.5], min_length=1)
    sample_chars: int = Field(default=300, ge=1)

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(not t > 0 for t in v):
            raise ValueError(f"temperatures must be > 0, got {v}")
        return v


class CharLMBudgetSection(LMBudgetSection):
    """``budget``: the same for every network, so the comparison is fair.

    Attributes:
        steps: optimiser steps (iterations) per network; ``eval_every``: validation interval.
        batch_size, seq_len: windows per step and characters per window (BPTT length).
        param_budget: total parameters each network aims at (hidden size solved per cell).
        embed_dim: character embedding size.
        max_order: the n-gram tries orders 1..max_order on validation.
        temperatures: sampling temperatures; ``sample_chars``: characters per sample.
        gradflow_steps: training steps of the gradient-flow probe (rnn and lstm agents;
            0 = no probe); ``gradflow_seq_len``: its sequence length.
    """

    seq_len: int = Field(default=64, ge=1)
    param_budget: int = Field(default=350_000, ge=100)
    embed_dim: int = Field(default=64, ge=1)
    gradflow_steps: int = Field(default=100, ge=0)
    gradflow_seq_len: int = Field(default=50, ge=2)


@dataclass(frozen=True)
class NeuralLM:
    """A recurrent LM agent's settings (validated without importing torch)."""

    cell: str
    hidden_size: int | None = None
    num_layers: int = 1
    dropout: float = 0.0
    lr: float = 2e-3
    schedule: Literal["constant", "cosine"] = "cosine"
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0
    backend: str = "torch"

    def __post_init__(self) -> None:
        if self.backend not in ("torch", "scratch"):
            raise ValueError(f"unknown backend {self.backend!r}; choose torch or scratch")
        if self.backend == "scratch" and self.cell == "gru":
            raise ValueError("the scratch backend has rnn and lstm cells; use backend torch")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown schedule {self.schedule!r}; choose constant or cosine")
        if (self.hidden_size is not None and self.hidden_size < 1) or self.num_layers < 1:
            raise ValueError("hidden_size and num_layers must be >= 1")
        if not 0 <= self.dropout < 1 or not self.lr > 0 or not self.clip_grad_norm > 0:
            raise ValueError("need 0 <= dropout < 1, lr > 0 and clip_grad_norm > 0")


@dataclass(frozen=True)
class NGramAgent:
    """An n-gram baseline: ``order`` fixed (unigram) or None (chosen on validation)."""

    order: int | None
    method: str = "kneser-ney"

    def __post_init__(self) -> None:
        if self.method not in ("kneser-ney", "witten-bell"):
            raise ValueError(f"unknown method {self.method!r}; choose kneser-ney or witten-bell")


def _neural(cell: str):
    def factory(
        hidden_size: int | None = None,
        num_layers: int = 1,
        dropout: float = 0.0,
        lr: float = 2e-3,
        schedule: Literal["constant", "cosine"] = "cosine",
        weight_decay: float = 0.0,
        clip_grad_norm: float = 1.0,
        backend: str = "torch",
    ) -> NeuralLM:
        return NeuralLM(
            cell,
            hidden_size,
            num_layers,
            dropout,
            lr,
            schedule,
            weight_decay,
            clip_grad_norm,
            backend,
        )

    factory.__doc__ = f"A character-level {cell.upper()} LM (hidden size from the budget)."
    return factory


def unigram() -> NGramAgent:
    """Character frequencies of the training block (context-free)."""
    return NGramAgent(1)


def ngram(method: str = "kneser-ney") -> NGramAgent:
    """Smoothed n-gram, n chosen on the validation block among 1..budget.max_order."""
    return NGramAgent(None, method)


def n_params(cell: str, hidden: int, vocab: int, embed: int, layers: int = 1) -> int:
    """Parameters of :class:`qmml.supervised.deep.rnn.CharLM` (embedding, stack, head)."""
    g = _GATES[cell]
    rec = g * (embed * hidden + hidden * hidden + 2 * hidden)
    rec += (layers - 1) * g * (2 * hidden * hidden + 2 * hidden)
    return vocab * embed + rec + hidden * vocab + vocab


def hidden_for_budget(cell: str, budget: int, vocab: int, embed: int, layers: int = 1) -> int:
    """The hidden size whose :func:`n_params` is closest to ``budget``."""
    sizes = np.arange(1, 4097)
    counts = np.array([n_params(cell, int(h), vocab, embed, layers) for h in sizes])
    return int(sizes[np.argmin(np.abs(counts - budget))])


@functools.lru_cache(maxsize=4)
def _corpus(env: CorpusSection) -> tuple[Any, CorpusSplit]:
    text = load_corpus(env.corpus, lowercase=env.lowercase)
    if env.max_chars is not None:
        text = text[: env.max_chars]
    tok = CharTokenizer().fit(text)
    parts = contiguous_split(
        tok.encode(text),
        val_fraction=env.val_fraction,
        test_fraction=env.test_fraction,
        min_block=64,
    )
    return tok, parts


def _codes(text: str) -> np.ndarray:
    return np.array([ord(c) for c in text], dtype=np.float64)


def ngram_trial(model: NGramAgent, tok: Any, parts: CorpusSplit, budget: Any, ctx: Any) -> Any:
    """Fit an n-gram agent on the training block (order chosen on validation unless fixed),
    score validation and test in nats per token, and sample at the budget's temperatures.
    Shared by char-lm and llm-pretrain (their budgets carry ``max_order``, ``temperatures``
    and ``sample_chars``)."""
    t0 = time.process_time()
    V = tok.vocab_size
    curves: dict[str, np.ndarray] = {}
    steps: dict[str, np.ndarray] = {}
    if model.order is None:
        sel = select_order(
            parts.train,
            parts.val,
            V,
            orders=range(1, budget.max_order + 1),
            method=model.method,
        )
        lm, order = sel.model, sel.best_order
        curves["val_nats_by_order"] = np.array(list(sel.nats_per_token.values()))
        steps["val_nats_by_order"] = np.array(list(sel.nats_per_token))
    else:
        lm, order = NGramLM(model.order, model.method).fit(parts.train, V), model.order
    scalars = {
        "val_nats_per_char": lm.nats_per_token(parts.val, history=parts.train),
        "test_nats_per_char": lm.nats_per_token(parts.test, history=parts.val),
        "order": float(order),
        "train_cpu_s": time.process_time() - t0,
    }
    rng = ctx.rng()
    samples = {}
    for t in budget.temperatures:
        out = list(parts.test[:1])
        for _ in range(budget.sample_chars):
            p = lm.next_token_probs(out) ** (1.0 / t)
            out.append(int(rng.choice(p.size, p=p / p.sum())))
        samples[t] = tok.decode(out)
    return scalars, curves, steps, samples


class CharLMWorkload(Workload):
    """One model, one corpus, one seed. Scalars: ``test_nats_per_char``, ``test_perplexity``,
    ``val_nats_per_char``, ``n_params``/``hidden_size`` (networks), ``order`` (n-grams),
    ``train_cpu_s``. Curves: ``train_nats``/``val_nats`` against the step, ``gradflow_*``
    against the distance (rnn/lstm), ``val_nats_by_order`` (n-gram), ``sample_T<t>`` (the
    samples' code points, so the report can show them; also in ``info``)."""

    name = "char-lm"
    description = "Char-level RNN, GRU, LSTM and tiny GPT (equal params, steps) vs n-grams"
    agent_types = {
        "rnn": _neural("rnn"),
        "gru": _neural("gru"),
        "lstm": _neural("lstm"),
        "gpt": gpt,
        "unigram": unigram,
        "ngram": ngram,
    }
    Env, Budget = CorpusSection, CharLMBudgetSection
    plots = rep.PLOTS

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        budget: CharLMBudgetSection = self.budget_config(spec)
        for a in agents:
            env = self.env_config(spec, a)
            try:
                _, parts = _corpus(env)
            except ValueError as err:
                raise SpecError(f"agents.{a.group}.env: {err}") from None
            if budget.seq_len + 1 > parts.train.size:
                raise SpecError(
                    f"budget.seq_len={budget.seq_len}: window longer than the training block "
                    f"of {parts.train.size} characters; use a shorter seq_len or more text"
                )
            if parts.val.size < 16:
                raise SpecError(f"agents.{a.group}.env: validation block too short; use more text")

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        t0 = time.process_time()
        env: CorpusSection = self.env_config(spec, agent)
        budget: CharLMBudgetSection = self.budget_config(spec)
        model = self.agent_types[agent.type](**agent.params)
        tok, parts = _corpus(env)
        if isinstance(model, NGramAgent):
            scalars, curves, steps, samples = ngram_trial(model, tok, parts, budget, ctx)
        else:
            trial = gpt_trial if isinstance(model, GPTLM) else recurrent_trial
            scalars, curves, steps, samples = trial(model, tok, parts, budget, ctx)
        scalars["test_perplexity"] = math.exp(scalars["test_nats_per_char"])
        for t, text in samples.items():
            curves[f"sample_T{t:g}"] = _codes(text)
        scalars["trial_cpu_s"] = time.process_time() - t0
        res = trial_result(scalars, curves, steps)
        res.info = {"samples": {f"{t:g}": s for t, s in samples.items()}, "corpus": env.corpus}
        return res

    def corpus_of(self, ctx: PlotContext) -> dict[str, str]:
        """Agent name -> its corpus (for grouping in notes and tables)."""
        return {n: self.env_config(ctx.spec, a).corpus for n, a in ctx.agents.items()}

    def notes(self, ctx: PlotContext) -> list[str]:
        return rep.notes(ctx, self.corpus_of(ctx), self.budget_config(ctx.spec))

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        return rep.tables(ctx, self.corpus_of(ctx))


register(CharLMWorkload())
