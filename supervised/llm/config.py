"""The compact GPT's configuration: a frozen dataclass validated on construction.

config = GPTConfig(vocab_size=84, block_size=128, n_layer=4, n_head=4, n_embd=128)
config.n_params            # parameters with the tied head (the embedding counted once)
config.flops_per_token     # ~6 N: forward + backward (Kaplan et al. 2020, C = 6 N D)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["GPTConfig"]


@dataclass(frozen=True)
class GPTConfig:
    """A decoder-only transformer (nanoGPT layout, pre-norm, weight-tied head).

    Attributes:
        vocab_size: tokens in the vocabulary.
        block_size: longest context (learned position embeddings).
        n_layer: transformer blocks.
        n_head: attention heads (``n_embd`` must divide by it).
        n_embd: residual-stream width.
        dropout: dropout on embeddings, attention weights and residual branches.
        bias: biases in linear layers and layer norms.
        seed: seeds the weight initialisation (a local ``torch.Generator``).
    """

    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} must divide by n_head={self.n_head}; "
                f"e.g. n_embd={self.n_head * max(1, self.n_embd // self.n_head)}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.n_embd // self.n_head

    @property
    def n_params(self) -> int:
        """Parameter count of :class:`qmml.supervised.llm.model.GPT` (tied head counted once)."""
        d, L, b = self.n_embd, self.n_layer, int(self.bias)
        block = 2 * d * (1 + b)  # two layer norms
        block += 4 * d * d + 4 * d * b  # q, k, v, o
        block += 8 * d * d + 4 * d * b + d * b  # MLP d -> 4d -> d
        emb = self.vocab_size * d + self.block_size * d
        return emb + L * block + d * (1 + b)  # + final layer norm

    @property
    def n_params_non_embedding(self) -> int:
        """Parameters outside the token and position embeddings (Kaplan et al.'s N)."""
        return self.n_params - (self.vocab_size + self.block_size) * self.n_embd

    @property
    def flops_per_token(self) -> int:
        """Training FLOPs per token, ~6 N (forward 2N, backward 4N; attention ignored)."""
        return 6 * self.n_params

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the configuration as JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> GPTConfig:
        """Read a configuration written by :meth:`save`."""
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
