"""A compact GPT (nanoGPT layout): token + position embeddings, pre-norm blocks of causal
self-attention and an MLP, a final layer norm and a head tied to the token embedding.

    model = GPT(GPTConfig(vocab_size=84, n_layer=4, n_head=4, n_embd=128, seed=0))
    logits = model(ids)                       # ids (B, T) int64 -> logits (B, T, V)
    loss = model.loss(ids, targets)           # mean next-token cross-entropy (nats)
    run = train_gpt(config, train_ids, val_ids, train=TrainConfig(max_steps=500))

Weights are initialised from a local ``torch.Generator`` seeded by ``config.seed`` (N(0, 0.02),
residual projections scaled by 1/sqrt(2 n_layer), GPT-2), so the same seed gives the same
weights without touching torch's global generator. Projections are named like Llama's
(``q_proj k_proj v_proj o_proj up_proj down_proj``) so LoRA target modules mean the same
thing on this model and on SmolLM2. References: Radford et al. 2019 (GPT-2); Karpathy, nanoGPT.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.deep.trainer import TrainConfig, TrainResult, fit
from qmml.supervised.llm.config import GPTConfig

__all__ = ["GPT", "GPTRun", "nats_per_token", "train_gpt"]


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t attends to positions <= t only."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        d, b = config.n_embd, config.bias
        self.q_proj = nn.Linear(d, d, bias=b)
        self.k_proj = nn.Linear(d, d, bias=b)
        self.v_proj = nn.Linear(d, d, bias=b)
        self.o_proj = nn.Linear(d, d, bias=b)
        self.n_head, self.dropout = config.n_head, config.dropout
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # (batch, time, n_embd)
        h = self.n_head

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, h, C // h).transpose(1, 2)  # (B, h, T, hd)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        y = F.scaled_dot_product_attention(  # softmax(q k^T / sqrt(hd) + causal mask) v
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )  # (B, h, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_drop(self.o_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: d -> 4d -> d with GELU."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        d, b = config.n_embd, config.bias
        self.up_proj = nn.Linear(d, 4 * d, bias=b)
        self.down_proj = nn.Linear(4 * d, d, bias=b)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down_proj(F.gelu(self.up_proj(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The decoder-only language model of :class:`GPTConfig`."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):  # default initialisers draw globally: undone
            self.wte = nn.Embedding(config.vocab_size, config.n_embd)
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
            self.drop = nn.Dropout(config.dropout)
            self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
            self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        self._init_weights(torch.Generator().manual_seed(config.seed))

    @torch.no_grad()
    def _init_weights(self, gen: torch.Generator) -> None:
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():  # tied head: visited once, as wte.weight
            if name.endswith("bias"):
                p.zero_()
            elif ".ln_" in name or name.startswith("ln_"):
                p.fill_(1.0)
            else:
                std = resid_std if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                p.normal_(0.0, std, generator=gen)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Next-token logits.

        Args:
            input_ids: int64 (B, T) with T <= block_size.
            attention_mask: ignored (accepted for a Hugging Face-like call); the mask is
                causal, so right padding never changes the logits of earlier positions.

        Returns:
            logits (B, T, vocab_size).
        """
        T = input_ids.shape[1]  # (B, T)
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens > block_size={self.config.block_size}")
        pos = torch.arange(T, device=input_ids.device)  # (T,)
        x = self.drop(self.wte(input_ids) + self.wpe(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    def loss(self, input_ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats per token) of ``targets`` (B, T); -100 is ignored."""
        logits = self(input_ids)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        stop_ids: tuple[int, ...] = (),
    ) -> torch.Tensor:
        """Continue ``input_ids`` (1, T): greedy at ``temperature`` 0, else sampled with the
        given generator. Returns the new tokens only, shape (1, n <= max_new_tokens)."""
        was_training = self.training
        self.eval()
        ids, out = input_ids, []
        for _ in range(max_new_tokens):
            logits = self(ids[:, -self.config.block_size :])[:, -1]  # (1, V)
            if temperature <= 0:
                nxt = logits.argmax(-1, keepdim=True)  # (1, 1)
            else:
                probs = F.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)  # (1, 1)
            out.append(nxt)
            ids = torch.cat([ids, nxt], dim=1)
            if int(nxt) in stop_ids:
                break
        self.train(was_training)
        return torch.cat(out, dim=1) if out else input_ids[:, :0]

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (the tied head stored once)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / "config.json")
        state = {k: v.contiguous() for k, v in self.state_dict().items() if k != "lm_head.weight"}
        save_file(state, str(directory / "model.safetensors"))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> GPT:
        """Rebuild a model written by :meth:`save_pretrained`."""
        from safetensors.torch import load_file

        directory = Path(directory)
        model = cls(GPTConfig.load(directory / "config.json"))
        state = load_file(str(directory / "model.safetensors"))
        state["lm_head.weight"] = state["wte.weight"]
        model.load_state_dict(state)
        return model.eval()


@torch.no_grad()
def nats_per_token(
    model: GPT, ids: np.ndarray, *, history: np.ndarray | None = None, stride: int | None = None
) -> float:
    """Held-out cross-entropy (nats per token) of a block, with sliding windows.

    Windows of ``block_size`` tokens advance by ``stride`` (default half a block); each token
    is scored once, with at least ``block_size - stride`` tokens of context (except near the
    start, where ``history`` — the tokens just before the block — supplies it).
    """
    was_training = model.training
    model.eval()
    B = model.config.block_size
    stride = stride or max(B // 2, 1)
    hist = np.asarray(history if history is not None else [], dtype=np.int64)[-B:]
    full = torch.from_numpy(np.concatenate([hist, np.asarray(ids, dtype=np.int64)]))
    first = max(hist.size, 1)  # index in `full` of the first scored target
    total, count = 0.0, 0
    for end in range(first, full.numel(), stride):
        stop = min(end + stride, full.numel())
        start = max(stop - 1 - B, 0)
        x = full[start : stop - 1][None]  # (1, <= B)
        y = full[start + 1 : stop]  # (<= B,)
        nll = F.cross_entropy(model(x)[0], y, reduction="none")  # (<= B,)
        total += float(nll[-(stop - end) :].sum())
        count += stop - end
    model.train(was_training)
    return total / count


@dataclass
class GPTRun:
    """A trained GPT: the model (best-validation weights) and the trainer's result."""

    model: GPT = field(repr=False)
    result: TrainResult


def _windows(ids: np.ndarray, seq_len: int, batch_size: int, batches: int):
    t_ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    offsets = torch.arange(seq_len + 1)

    def train_batches(rng: np.random.Generator, epoch: int) -> Iterator[tuple]:
        for _ in range(batches):
            starts = torch.from_numpy(rng.integers(0, t_ids.numel() - seq_len, size=batch_size))
            win = t_ids[starts[:, None] + offsets]  # (B, T + 1)
            yield win[:, :-1], win[:, 1:]

    return train_batches


def train_gpt(
    config: GPTConfig,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    *,
    train: TrainConfig,
    val_windows: int = 16,
) -> GPTRun:
    """Build a :class:`GPT` and train it with the shared trainer on random windows of
    ``block_size`` tokens; validation: ``val_windows`` fixed, evenly spaced windows."""
    T = config.block_size
    train_ids = np.asarray(train_ids, dtype=np.int64)
    val = np.asarray(val_ids, dtype=np.int64)
    if T + 1 > train_ids.size or T + 1 > val.size:
        raise ValueError(
            f"block_size={T} (+1 target) is longer than the training ({train_ids.size}) or "
            f"validation ({val.size}) block; use a smaller block_size or more text"
        )
    starts = np.linspace(0, val.size - T - 1, num=val_windows).astype(np.int64)
    win = torch.from_numpy(val[starts[:, None] + np.arange(T + 1)])  # (n, T + 1)
    val_batches = [(win[i : i + 8, :-1], win[i : i + 8, 1:]) for i in range(0, len(win), 8)]
    model = GPT(config)

    def loss_fn(m: nn.Module, batch: tuple) -> tuple[torch.Tensor, int]:
        x, y = batch
        assert isinstance(m, GPT)
        return m.loss(x, y), x.numel()

    result = fit(
        model,
        loss_fn,
        _windows(train_ids, T, train.batch_size, 100),
        val_batches=val_batches,
        config=train,
    )
    return GPTRun(model, result)
