"""Fine-tuning causal LMs on chat-format tasks: LoRA through ``peft``, or every weight.

    peft_model = add_lora(model, LoraSettings(rank=8, targets=("q_proj", "v_proj")))
    trainable_share(peft_model)                     # ~0.0034 on SmolLM2-135M
    run = finetune(peft_model, tokenizer, examples, FinetuneConfig(steps=100, batch_size=2))
    peft_model.save_pretrained(dir); adapter_bytes(dir)
    merged, max_dlogit = merge_check(peft_model, probe_ids)   # merge_and_unload equivalence

``examples`` are ``(ids, n_prompt)`` pairs from :func:`qmml.supervised.llm.prompts.render_answer`:
the loss is the mean cross-entropy of the answer tokens only (prompt tokens are masked with
-100). Training runs through the shared trainer (:func:`qmml.supervised.deep.trainer.fit`):
seeded batch order, AdamW, pinned threads. Works with Hugging Face models (called as
``model(input_ids=..., attention_mask=...).logits``) and with the compact GPT.
LoRA: Hu et al. 2021, W' = W + (alpha / r) B A with B initialised to zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.deep.trainer import TrainConfig, TrainResult, fit

__all__ = [
    "FinetuneConfig",
    "FinetuneRun",
    "LoraSettings",
    "adapter_bytes",
    "add_lora",
    "collate",
    "finetune",
    "logits_of",
    "merge_check",
    "merge_dlogit_fp32",
    "rounding_dlogit_fp32",
    "trainable_share",
]

Example = tuple[list[int], int]  # (token ids, number of prompt tokens)


@dataclass(frozen=True)
class LoraSettings:
    """A LoRA adapter.

    Attributes:
        rank: r, the inner dimension of B A.
        alpha: scale numerator (the update is scaled by alpha / r).
        targets: names of the linear modules to adapt (e.g. ``q_proj``, ``v_proj``).
        dropout: dropout on the adapter's input.
    """

    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.rank < 1 or not self.alpha > 0 or not self.targets:
            raise ValueError("LoRA needs rank >= 1, alpha > 0 and at least one target module")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class FinetuneConfig:
    """Optimisation settings: ``steps`` of ``batch_size`` examples at learning rate ``lr``."""

    steps: int = 100
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_grad_norm: float | None = 1.0
    warmup_steps: int = 0
    seed: int = 0
    threads: int = 1


@dataclass
class FinetuneRun:
    """What :func:`finetune` measured: the trainer's result and CPU-seconds per step."""

    result: TrainResult = field(repr=False)
    step_loss: np.ndarray
    cpu_s_per_step: float


def _is_hf(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return hasattr(base, "generation_config")


def add_lora(model: nn.Module, settings: LoraSettings) -> Any:
    """Wrap ``model`` in a ``peft`` LoRA model (base weights frozen, adapters trainable).

    Raises:
        ValueError: a target module name the model does not have.
    """
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in settings.targets if t not in names]
    if missing:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        )
        raise ValueError(f"LoRA targets {missing} not in the model; choose from {linear}")
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,  # type: ignore[arg-type]  # a float works
        lora_dropout=settings.dropout,
        target_modules=list(settings.targets),
        bias="none",
        task_type="CAUSAL_LM" if _is_hf(model) else None,
    )
    return get_peft_model(model, config)


def trainable_share(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters), tied tensors counted once."""
    seen: dict[int, nn.Parameter] = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in seen.values())
    return sum(p.numel() for p in seen.values() if p.requires_grad), total


def adapter_bytes(directory: str | Path) -> int:
    """Bytes of the adapter weights ``save_pretrained`` wrote (``adapter_model.*``)."""
    files = list(Path(directory).glob("adapter_model.*"))
    if not files:
        raise FileNotFoundError(f"no adapter_model.* in {directory}; call save_pretrained first")
    return sum(f.stat().st_size for f in files)


def logits_of(
    model: nn.Module, ids: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Logits (B, T, V) of a Hugging Face model, a peft wrapper or a GPT."""
    out = model(input_ids=ids, attention_mask=mask)
    return out.logits if hasattr(out, "logits") else out


def collate(batch: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, ...]:
    """Right-padded (ids, mask, labels), each (B, T); labels -100 on prompt and padding."""
    T = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    labels = torch.full((len(batch), T), -100, dtype=torch.long)
    for i, (seq, n_prompt) in enumerate(batch):
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        labels[i, n_prompt : len(seq)] = torch.tensor(seq[n_prompt:])
    return ids, mask, labels


def answer_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over answer tokens, and their count."""
    ids, mask, labels = batch
    logits = logits_of(model, ids, mask)[:, :-1]  # (B, T-1, V): predicts positions 1..T-1
    target = labels[:, 1:]  # (B, T-1)
    loss = F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), ignore_index=-100)
    return loss, int((target != -100).sum())


def finetune(
    model: nn.Module, tokenizer: Any, examples: Sequence[Example], config: FinetuneConfig
) -> FinetuneRun:
    """Train the trainable parameters of ``model`` in place on ``examples``.

    Batches are drawn without replacement within each pass over ``examples`` (seeded).
    """
    if len(examples) < config.batch_size:
        raise ValueError(f"{len(examples)} examples < batch_size={config.batch_size}")
    pad = getattr(tokenizer, "pad_token_id", None)
    pad_id = int(pad if pad is not None else tokenizer.eos_token_id)
    data = list(examples)

    def batches(rng: np.random.Generator, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        order = rng.permutation(len(data))
        for i in range(0, len(order) - config.batch_size + 1, config.batch_size):
            yield collate([data[j] for j in order[i : i + config.batch_size]], pad_id)

    train = TrainConfig(
        max_steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        clip_grad_norm=config.clip_grad_norm,
        warmup_steps=config.warmup_steps,
        eval_every=max(config.steps // 10, 1),
        seed=config.seed,
        threads=config.threads,
    )
    result = fit(model, answer_loss, batches, config=train)
    model.eval()
    return FinetuneRun(result, result.step_loss, result.cpu_s / max(result.steps, 1))


@torch.no_grad()
def merge_check(
    peft_model: Any, ids: torch.Tensor, *, float64: bool = False
) -> tuple[nn.Module, float]:
    """Merge the adapters into the base weights (``merge_and_unload``) and return the merged
    model with the largest |Δlogit| on ``ids`` (1, T) between adapted and merged models.

    With ``float64`` the model is first cast to double precision (in place), so the check
    measures the merge itself rather than float32 rounding, which on a 30-layer model alone
    moves logits by ~1e-4. On Llama models it often reads exactly 0: their RMSNorm computes
    in float32 even inside a float64 model (transformers' ``LlamaRMSNorm``), which rounds
    away the ~1e-15 per-layer differences; our GPT is float64 throughout and reads ~1e-14.
    """
    peft_model.eval()
    if float64:
        peft_model.double()
    before = logits_of(peft_model, ids).double()
    merged = peft_model.merge_and_unload()
    after = logits_of(merged, ids).double()
    return merged, float((before - after).abs().max())


@torch.no_grad()
def merge_dlogit_fp32(peft_model: Any, ids: torch.Tensor) -> float:
    """Max |Δlogit| between the adapted model and its float32 merge (``merge_adapter``),
    then unmerged again: the size of float32 rounding, for comparison with the exact check."""
    peft_model.eval()
    before = logits_of(peft_model, ids)
    peft_model.merge_adapter()
    after = logits_of(peft_model, ids)
    peft_model.unmerge_adapter()
    return float((before - after).abs().max())


@torch.no_grad()
def rounding_dlogit_fp32(model: Any, ids: torch.Tensor) -> float:
    """Max |Δlogit| between the model in float32 and the same weights in float64: the
    rounding floor any float32 comparison (such as :func:`merge_dlogit_fp32`) sits on.
    Leaves the model in float64 (cast in place), ready for ``merge_check(float64=True)``."""
    model.eval()
    single = logits_of(model, ids).double()
    model.double()
    return float((single - logits_of(model, ids)).abs().max())
