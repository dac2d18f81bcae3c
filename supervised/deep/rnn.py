"""Recurrent networks written out gate by gate, and a character-level language model.

- :class:`RNNCell` — ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (Elman 1990).
- :class:`LSTMCell` — input, forget, cell and output gates (Hochreiter & Schmidhuber 1997,
  with the forget gate of Gers et al. 2000), in torch's order ``i, f, g, o``.
- :class:`ScratchRNN` — stacks cells over layers and unrolls them over time; parameter names
  and shapes are ``torch.nn.RNN``/``torch.nn.LSTM``'s (``weight_ih_l0`` ...), so a state dict
  copies across both ways (:func:`copy_weights`) and the two give the same numbers.
- :class:`CharLM` — embedding -> recurrent stack -> linear head over the vocabulary, with our
  cells (``backend="scratch"``, the lesson) or torch's fused RNN/GRU/LSTM (``"torch"``, speed).
  ``forward`` takes and returns the hidden state, so truncated BPTT carries it across batches
  (:func:`detach_state` between them). :func:`sample` draws text with temperature and top-k
  from a ``torch.Generator``.

No module here draws from torch's global generator: weights come from ``CharLMConfig.seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.dataset import did_you_mean

__all__ = [
    "CELLS",
    "CharLM",
    "CharLMConfig",
    "LSTMCell",
    "RNNCell",
    "ScratchRNN",
    "copy_weights",
    "detach_state",
    "sample",
]

CELLS = ("rnn", "gru", "lstm")
BACKENDS = ("scratch", "torch")
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _uniform_(t: torch.Tensor, bound: float, gen: torch.Generator) -> None:
    with torch.no_grad():
        t.uniform_(-bound, bound, generator=gen)


class RNNCell(nn.Module):
    """Vanilla (Elman) RNN cell: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``.

    Args:
        input_size: features of x.
        hidden_size: features of h.
    """

    n_gates = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        g = self.n_gates * hidden_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))  # (G*H, H)
        self.bias_ih = nn.Parameter(torch.empty(g))
        self.bias_hh = nn.Parameter(torch.empty(g))

    def reset_parameters(self, gen: torch.Generator) -> None:
        """torch's default: every weight ~ U(-1/sqrt(H), 1/sqrt(H)), from ``gen``."""
        for p in self.parameters():
            _uniform_(p, 1 / math.sqrt(self.hidden_size), gen)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        # x: (B, I), h: (B, H) -> (B, H)
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class LSTMCell(RNNCell):
    """LSTM cell with visible gates; state ``(h, c)``.

    ``i = σ(·)``, ``f = σ(·)``, ``g = tanh(·)``, ``o = σ(·)`` of ``W_ih x + b_ih + W_hh h + b_hh``
    split in four; ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``. The additive path through c
    is what lets gradients survive long distances (see :mod:`qmml.supervised.deep.gradflow`).
    """

    n_gates = 4

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state  # (B, H) each
        z = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        zi, zf, zg, zo = z.chunk(4, dim=1)
        i = torch.sigmoid(zi)  # input gate: how much new content to write
        f = torch.sigmoid(zf)  # forget gate: how much old cell to keep
        g = torch.tanh(zg)  # candidate content
        o = torch.sigmoid(zo)  # output gate: how much of the cell to show
        c = f * c + i * g
        return o * torch.tanh(c), c


class ScratchRNN(nn.Module):
    """Our cells stacked over ``num_layers`` and unrolled over time, batch first.

    Same interface as ``torch.nn.RNN``/``torch.nn.LSTM(batch_first=True)``:
    ``forward(x (B, T, I), state) -> (out (B, T, H), state)`` with ``state`` of shape
    (L, B, H), or a pair of them for the LSTM.

    Args:
        cell: ``"rnn"`` or ``"lstm"``.
        input_size, hidden_size, num_layers: as in torch.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        if cell not in ("rnn", "lstm"):
            raise ValueError(
                f"ScratchRNN has cells 'rnn' and 'lstm', not {cell!r}; use backend='torch' for gru"
            )
        self.mode = cell
        self.hidden_size, self.num_layers = hidden_size, num_layers
        kind = LSTMCell if cell == "lstm" else RNNCell
        self.cells = nn.ModuleList(
            kind(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)
        )

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        B, T, _ = x.shape
        L, H = self.num_layers, self.hidden_size
        lstm = self.mode == "lstm"
        if state is None:
            zeros = x.new_zeros(L, B, H)
            state = (zeros, zeros) if lstm else zeros
        hs = list(state[0] if lstm else state)  # L x (B, H)
        cs = list(state[1]) if lstm else []
        layer_in = x
        for k, cell in enumerate(self.cells):
            outs = []
            for t in range(T):
                if lstm:
                    hs[k], cs[k] = cell(layer_in[:, t], (hs[k], cs[k]))
                else:
                    hs[k] = cell(layer_in[:, t], hs[k])
                outs.append(hs[k])
            layer_in = torch.stack(outs, dim=1)  # (B, T, H)
        h_n = torch.stack(hs)  # (L, B, H)
        return layer_in, ((h_n, torch.stack(cs)) if lstm else h_n)

    def state_dict_torch(self) -> dict[str, torch.Tensor]:
        """Parameters under torch's names (``weight_ih_l0``, ...)."""
        return {
            f"{name}_l{k}": p
            for k, cell in enumerate(self.cells)
            for name, p in cell.named_parameters()
        }


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy recurrent weights between a :class:`ScratchRNN` and a ``torch.nn.RNN``/``LSTM``
    (either direction) of the same shape."""

    def named(m: nn.Module) -> dict[str, torch.Tensor]:
        return m.state_dict_torch() if isinstance(m, ScratchRNN) else dict(m.named_parameters())

    s, d = named(src), named(dst)
    if set(s) != set(d):
        raise ValueError(f"parameter names differ: {sorted(set(s) ^ set(d))}")
    with torch.no_grad():
        for k, t in d.items():
            if t.shape != s[k].shape:
                raise ValueError(f"{k}: shape {tuple(s[k].shape)} cannot go into {tuple(t.shape)}")
            t.copy_(s[k])


def detach_state(state: State | None) -> State | None:
    """Cut the graph behind a hidden state (truncated BPTT); values are kept."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


@dataclass(frozen=True)
class CharLMConfig:
    """A character-level recurrent language model.

    Attributes:
        vocab_size: tokens in the vocabulary (from the tokeniser).
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        backend: ``"scratch"`` (our cells, rnn/lstm) or ``"torch"`` (fused nn.RNN/GRU/LSTM).
        embed_dim: size of the token embedding.
        hidden_size: recurrent state size per layer.
        num_layers: stacked recurrent layers.
        dropout: dropout on the embedding and the recurrent output (0 = none).
        seed: seed of the weight initialisation (a private ``torch.Generator``).
    """

    vocab_size: int
    cell: str = "lstm"
    backend: str = "torch"
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("cell", CELLS), ("backend", BACKENDS)):
            value = getattr(self, name)
            if value not in allowed:
                hint = did_you_mean(value, allowed)
                raise ValueError(f"unknown {name} {value!r}: choose one of {allowed}{hint}")
        if self.backend == "scratch" and self.cell == "gru":
            raise ValueError(
                "the scratch backend has rnn and lstm cells; use backend='torch' for gru"
            )
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"CharLMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"CharLMConfig.dropout must be in [0, 1), got {self.dropout}")


class CharLM(nn.Module):
    """Embedding -> recurrent layers -> logits over the vocabulary.

    ``forward(x (B, T) int64, state) -> (logits (B, T, V), state)``; ``state=None`` starts
    from zeros.
    """

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = c = config
        gen = torch.Generator().manual_seed(c.seed)
        self.embed = nn.Embedding(
            c.vocab_size, c.embed_dim, _weight=torch.empty(c.vocab_size, c.embed_dim)
        )
        with torch.no_grad():
            self.embed.weight.normal_(0.0, 1.0, generator=gen)
        if c.backend == "scratch":
            self.rnn: nn.Module = ScratchRNN(c.cell, c.embed_dim, c.hidden_size, c.num_layers)
        else:
            kind = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[c.cell]
            # meta device then empty: skips torch's init (global generator); ours follows
            self.rnn = kind(
                c.embed_dim, c.hidden_size, c.num_layers, batch_first=True, device="meta"
            )
            self.rnn.to_empty(device="cpu")
        for p in self.rnn.parameters():
            _uniform_(p, 1 / math.sqrt(c.hidden_size), gen)
        if isinstance(self.rnn, nn.RNNBase):
            self.rnn.flatten_parameters()
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size, device="meta").to_empty(device="cpu")
        _uniform_(self.head.weight, 1 / math.sqrt(c.hidden_size), gen)
        _uniform_(self.head.bias, 1 / math.sqrt(c.hidden_size), gen)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        e = self.drop(self.embed(x))  # (B, T, E)
        out, state = self.rnn(e, state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Mean next-token cross-entropy in nats and the final state."""
        logits, state = self(x, state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state


@torch.no_grad()
def sample(
    model: CharLM,
    prompt: list[int],
    n_tokens: int,
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> list[int]:
    """Draw ``n_tokens`` ids after ``prompt`` (non-empty), one at a time, carrying the state.

    Args:
        temperature: divides the logits; < 1 sharper, > 1 flatter.
        top_k: keep only the k most likely tokens before drawing (None = all).
        generator: the only source of randomness; same seed, same text.
    """
    if not prompt:
        raise ValueError("sample needs a non-empty prompt (e.g. the id of a newline)")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits, state = model(torch.tensor([prompt], device=device))
    out: list[int] = []
    for _ in range(n_tokens):
        z = logits[0, -1] / temperature  # (V,)
        if top_k is not None and top_k < z.numel():
            kth = torch.topk(z, top_k).values[-1]
            z = z.masked_fill(z < kth, float("-inf"))
        nxt = int(torch.multinomial(F.softmax(z, dim=-1), 1, generator=generator))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]], device=device), state)
    model.train(was_training)
    return out
