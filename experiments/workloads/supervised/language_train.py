"""The two kinds of trained char-lm agent: a recurrent LM (RNN, GRU, LSTM; torch or the
written-out cells) and a tiny transformer (the compact GPT of :mod:`qmml.supervised.llm`),
both at the budget's parameter count and number of iterations.

Each returns ``(scalars, curves, steps, samples)`` for :class:`CharLMWorkload`. Besides the
training and validation curves, ``val_cpu_s`` records the process CPU-seconds spent when each
validation point was taken, so the report can draw loss against compute (the crossover with
the n-gram baseline) from stored results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qmml.experiments.workloads.supervised import language_report as rep
from qmml.supervised.text import CorpusSplit

__all__ = ["GPTLM", "gpt_train_config", "gpt_trial", "n_embd_for_budget", "recurrent_trial"]


@dataclass(frozen=True)
class GPTLM:
    """A tiny transformer agent's settings (validated without importing torch).

    Attributes:
        n_layer, n_head: blocks and attention heads.
        n_embd: residual width; ``None`` = solved from ``budget.param_budget``.
        block_size: context length; ``None`` = ``budget.seq_len``.
        dropout, lr, weight_decay, warmup_steps: optimisation (cosine schedule, AdamW).
    """

    n_layer: int = 4
    n_head: int = 4
    n_embd: int | None = None
    block_size: int | None = None
    dropout: float = 0.0
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100

    def __post_init__(self) -> None:
        if min(self.n_layer, self.n_head) < 1:
            raise ValueError("gpt needs n_layer >= 1 and n_head >= 1")
        if self.n_embd is not None and (self.n_embd < 1 or self.n_embd % self.n_head):
            raise ValueError(f"gpt n_embd={self.n_embd} must be >= 1 and divide by n_head")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError("gpt block_size must be >= 1")
        if not 0 <= self.dropout < 1 or not self.lr > 0 or self.weight_decay < 0:
            raise ValueError("gpt needs 0 <= dropout < 1, lr > 0 and weight_decay >= 0")
        if self.warmup_steps < 0:
            raise ValueError("gpt warmup_steps must be >= 0")


def gpt(
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int | None = None,
    block_size: int | None = None,
    dropout: float = 0.0,
    lr: float = 2e-3,
    weight_decay: float = 0.1,
    warmup_steps: int = 100,
) -> GPTLM:
    """A tiny character-level transformer (width from the parameter budget)."""
    return GPTLM(n_layer, n_head, n_embd, block_size, dropout, lr, weight_decay, warmup_steps)


def n_embd_for_budget(budget: int, vocab: int, block: int, n_layer: int, n_head: int) -> int:
    """The multiple of ``n_head`` whose GPT parameter count is closest to ``budget``."""
    from qmml.supervised.llm.config import GPTConfig

    widths = np.arange(n_head, 2049, n_head)
    counts = np.array([GPTConfig(vocab, block, n_layer, n_head, int(d)).n_params for d in widths])
    return int(widths[np.argmin(np.abs(counts - budget))])


def _samples(generate, first: int, tok: Any, budget: Any, seed: int) -> dict[float, str]:
    import torch

    out = {}
    for i, t in enumerate(budget.temperatures):
        gen = torch.Generator().manual_seed(seed + i)
        out[t] = tok.decode([first, *generate(t, gen)])
    return out


def recurrent_trial(model: Any, tok: Any, parts: CorpusSplit, budget: Any, ctx: Any):
    """Train one recurrent LM (``model``: a ``NeuralLM``) and score it."""
    import torch

    from qmml.experiments.workloads.supervised.language import hidden_for_budget
    from qmml.supervised.deep.char_lm import LMDataConfig, nats_per_token, train_char_lm
    from qmml.supervised.deep.rnn import CharLMConfig, sample
    from qmml.supervised.deep.trainer import TrainConfig

    torch.set_num_threads(ctx.threads)
    model_seed, sample_seed, probe_seed = ctx.int_seeds(3, high=2**31)
    V = tok.vocab_size
    hidden = model.hidden_size or hidden_for_budget(
        model.cell, budget.param_budget, V, budget.embed_dim, model.num_layers
    )
    config = CharLMConfig(
        V,
        model.cell,
        model.backend,
        budget.embed_dim,
        hidden,
        model.num_layers,
        model.dropout,
        seed=model_seed,
    )
    train = TrainConfig(
        max_steps=budget.steps,
        batch_size=budget.batch_size,
        lr=model.lr,
        schedule=model.schedule,
        weight_decay=model.weight_decay,
        clip_grad_norm=model.clip_grad_norm,
        eval_every=budget.eval_every,
        seed=model_seed,
        threads=ctx.threads,
    )
    data = LMDataConfig(seq_len=budget.seq_len, val_streams=min(8, parts.val.size // 8))
    run = train_char_lm(config, parts.train, parts.val, data=data, train=train)
    scalars = {
        "val_nats_per_char": run.val_nats_per_token,
        "test_nats_per_char": nats_per_token(run.model, parts.test, history=parts.val[-256:]),
        "n_params": float(sum(p.numel() for p in run.model.parameters())),
        "hidden_size": float(hidden),
        "best_step": float(run.result.best_step),
        "train_cpu_s": run.result.cpu_s,
    }
    curves, steps = _history_curves(run.result.history)
    first = int(parts.test[0])
    samples = _samples(
        lambda t, gen: sample(
            run.model, [first], budget.sample_chars, generator=gen, temperature=t
        ),
        first,
        tok,
        budget,
        sample_seed,
    )
    if model.cell in ("rnn", "lstm") and budget.gradflow_steps > 0:
        curves.update(rep.gradflow_curves(model.cell, budget, probe_seed))
        for k in [k for k in curves if k.startswith("gradflow_")]:
            steps[k] = np.arange(curves[k].size)
    return scalars, curves, steps, samples


def gpt_train_config(model: Any, budget: Any, seed: int, threads: int) -> Any:
    """The GPT's optimisation (AdamW, betas 0.9/0.95, cosine schedule with warm-up, norm
    clipped to 1) for a model with ``lr``, ``warmup_steps`` and ``weight_decay`` and a budget
    with ``steps``, ``batch_size`` and ``eval_every``; shared by char-lm and llm-pretrain."""
    from qmml.supervised.deep.trainer import TrainConfig

    return TrainConfig(
        max_steps=budget.steps,
        batch_size=budget.batch_size,
        lr=model.lr,
        schedule="cosine",
        warmup_steps=min(model.warmup_steps, budget.steps - 1),
        weight_decay=model.weight_decay,
        betas=(0.9, 0.95),
        clip_grad_norm=1.0,
        eval_every=budget.eval_every,
        seed=seed,
        threads=threads,
    )


def gpt_trial(model: GPTLM, tok: Any, parts: CorpusSplit, budget: Any, ctx: Any):
    """Train the tiny transformer on the char-lm blocks and score it the same way."""
    import torch

    from qmml.supervised.llm.config import GPTConfig
    from qmml.supervised.llm.model import nats_per_token, train_gpt

    torch.set_num_threads(ctx.threads)
    model_seed, sample_seed = ctx.int_seeds(2, high=2**31)
    V = tok.vocab_size
    block = model.block_size or budget.seq_len
    width = model.n_embd or n_embd_for_budget(
        budget.param_budget, V, block, model.n_layer, model.n_head
    )
    config = GPTConfig(V, block, model.n_layer, model.n_head, width, model.dropout, seed=model_seed)
    train = gpt_train_config(model, budget, model_seed, ctx.threads)
    run = train_gpt(config, parts.train, parts.val, train=train)
    scalars = {
        "val_nats_per_char": nats_per_token(run.model, parts.val, history=parts.train),
        "test_nats_per_char": nats_per_token(run.model, parts.test, history=parts.val),
        "n_params": float(config.n_params),
        "hidden_size": float(width),
        "best_step": float(run.result.best_step),
        "train_cpu_s": run.result.cpu_s,
    }
    curves, steps = _history_curves(run.result.history)
    first = int(parts.test[0])
    prompt = torch.tensor([[first]])  # (1, 1)
    samples = _samples(
        lambda t, gen: run.model.generate(
            prompt, budget.sample_chars, temperature=t, generator=gen
        )[0].tolist(),
        first,
        tok,
        budget,
        sample_seed,
    )
    return scalars, curves, steps, samples


def _history_curves(h: dict[str, np.ndarray]) -> tuple[dict, dict]:
    curves = {"train_nats": h["train_loss"], "val_nats": h["val_loss"], "val_cpu_s": h["cpu_s"]}
    return curves, {k: h["step"] for k in curves}
