"""The gradient-flow probe: how much of the loss's gradient reaches a hidden state T steps back.

Task ("remember the first input"): a sequence of ``seq_len`` random vectors; the target is a
fixed linear read of the *first* vector, predicted from the *last* hidden state. The loss
depends on early inputs only through the recurrence, so ``‖∂L/∂h_t‖`` against the distance
``T - 1 - t`` shows vanishing (vanilla RNN: roughly geometric decay) or surviving (LSTM: the
additive cell path) gradients (Bengio et al. 1994; Hochreiter & Schmidhuber 1997).

:func:`gradient_flow` measures the profile at initialisation and after a short training run
through the shared trainer, with and without gradient clipping (Pascanu et al. 2013), and
returns plain arrays: the profile per (cell, clip, stage) and the pre-clip global gradient norm
of every training step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.deep.rnn import LSTMCell, RNNCell
from qmml.supervised.deep.trainer import TrainConfig, fit

__all__ = ["GradFlowConfig", "GradProbe", "gradient_flow", "hidden_grad_norms", "remember_first"]


@dataclass(frozen=True)
class GradFlowConfig:
    """The probe's task and models.

    Attributes:
        seq_len: T, steps per sequence.
        input_size: features per step.
        hidden_size: recurrent state size.
        batch_size: sequences per batch (and in the probe batch).
        recurrent_scale: multiplies the initial ``W_hh`` (> 1 invites exploding gradients).
        forget_bias: added to the LSTM forget-gate biases at initialisation (Jozefowicz et
            al. 2015): ``σ(1) ≈ 0.73`` of the cell survives each step instead of ``σ(0) = 0.5``.
        train_steps: optimiser steps of the short training run (0 = initialisation only).
        lr: learning rate (SGD, momentum 0.9: no Adam rescaling that would hide the norms).
        clip: the clipping threshold of the clipped runs.
        cells: which cells to probe.
        seed: weights, data and batch order.
    """

    seq_len: int = 50
    input_size: int = 4
    hidden_size: int = 32
    batch_size: int = 32
    recurrent_scale: float = 2.0
    forget_bias: float = 1.0
    train_steps: int = 100
    lr: float = 0.05
    clip: float = 0.5
    cells: tuple[str, ...] = ("rnn", "lstm")
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("seq_len", "input_size", "hidden_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"GradFlowConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.train_steps < 0 or not self.clip > 0 or not self.lr > 0:
            raise ValueError("GradFlowConfig: train_steps >= 0, clip > 0 and lr > 0 are required")
        bad = [c for c in self.cells if c not in ("rnn", "lstm")]
        if bad or not self.cells:
            raise ValueError(
                f"GradFlowConfig.cells must be taken from ('rnn', 'lstm'), got {self.cells}"
            )


class GradProbe(nn.Module):
    """One of our cells unrolled by hand, keeping every ``h_t``, and a linear read-out."""

    def __init__(self, cell: str, config: GradFlowConfig, gen: torch.Generator):
        super().__init__()
        kind = LSTMCell if cell == "lstm" else RNNCell
        self.cell = kind(config.input_size, config.hidden_size)
        self.cell.reset_parameters(gen)
        with torch.no_grad():
            self.cell.weight_hh.mul_(config.recurrent_scale)
            if cell == "lstm":  # gate order i, f, g, o
                H = config.hidden_size
                self.cell.bias_hh[H : 2 * H] += config.forget_bias
        self.readout = nn.Parameter(torch.empty(config.hidden_size))
        nn.init.uniform_(
            self.readout,
            -1 / math.sqrt(config.hidden_size),
            1 / math.sqrt(config.hidden_size),
            generator=gen,
        )
        self.lstm = cell == "lstm"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # x: (B, T, I) -> prediction (B,), hidden states T x (B, H)
        B, T, _ = x.shape
        h = x.new_zeros(B, self.cell.hidden_size)
        c = torch.zeros_like(h)
        hs = []
        for t in range(T):
            if self.lstm:
                h, c = self.cell(x[:, t], (h, c))
            else:
                h = self.cell(x[:, t], h)
            hs.append(h)
        return hs[-1] @ self.readout, hs


def remember_first(
    config: GradFlowConfig, rng: np.random.Generator, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences (n, T, I) of N(0, 1) and their targets: the mean of the first vector."""
    x = rng.standard_normal((n, config.seq_len, config.input_size)).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(x[:, 0].mean(axis=1))


def hidden_grad_norms(model: GradProbe, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Mean over the batch of ``‖∂L/∂h_t‖``, indexed by distance ``d = T - 1 - t``; (T,).

    ``L`` is the summed squared error of the batch, so each sequence's gradient is its own.
    """
    pred, hs = model(x)
    for h in hs:
        h.retain_grad()
    F.mse_loss(pred, y, reduction="sum").backward()
    norms = torch.stack([h.grad.norm(dim=1).mean() for h in hs])  # (T,), t = 0..T-1
    model.zero_grad(set_to_none=True)
    return norms.flip(0).detach().numpy().astype(np.float64)


def gradient_flow(config: GradFlowConfig = GradFlowConfig()) -> dict[str, np.ndarray]:
    """Probe every cell at initialisation and after training with and without clipping.

    Returns:
        Long-format columns: ``cell``, ``clip`` (NaN = none), ``stage`` (``"init"``/``"trained"``),
        ``distance``, ``grad_norm`` (one row per distance), plus
        ``step_grad_norm_<cell>_<clip|none>``
        (pre-clip global gradient norm per training step) and ``final_loss_<cell>_<clip|none>``.
    """
    rows: dict[str, list] = {k: [] for k in ("cell", "clip", "stage", "distance", "grad_norm")}
    extra: dict[str, np.ndarray] = {}
    probe_x, probe_y = remember_first(
        config, np.random.default_rng([config.seed, 1]), config.batch_size
    )

    def record(cell: str, clip: float, stage: str, norms: np.ndarray) -> None:
        rows["cell"] += [cell] * norms.size
        rows["clip"] += [clip] * norms.size
        rows["stage"] += [stage] * norms.size
        rows["distance"] += list(range(norms.size))
        rows["grad_norm"] += list(norms)

    for cell in config.cells:
        for clip in (math.nan, config.clip):
            clipped = not math.isnan(clip)
            tag = f"{cell}_{clip:g}" if clipped else f"{cell}_none"
            model = GradProbe(cell, config, torch.Generator().manual_seed(config.seed))
            if not clipped:  # both runs start from the same weights: one init profile
                record(cell, math.nan, "init", hidden_grad_norms(model, probe_x, probe_y))
            if config.train_steps == 0:
                continue
            # the trainer records the pre-clip norm only when clipping; an unreachable
            # threshold records it without changing the update
            train = TrainConfig(
                max_steps=config.train_steps,
                optimizer="sgd",
                lr=config.lr,
                clip_grad_norm=clip if clipped else 1e30,
                seed=config.seed,
                restore_best=False,
            )
            result = fit(model, _probe_loss, _probe_batches(config), config=train)
            extra[f"step_grad_norm_{tag}"] = result.grad_norm
            extra[f"final_loss_{tag}"] = np.asarray(result.step_loss[-10:].mean())
            record(cell, clip, "trained", hidden_grad_norms(model, probe_x, probe_y))
    out = {k: np.asarray(v) for k, v in rows.items()}
    out.update(extra)
    return out


def _probe_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return F.mse_loss(model(batch[0])[0], batch[1])  # model: a GradProbe


def _probe_batches(config: GradFlowConfig):
    def batches(rng: np.random.Generator, epoch: int):
        for _ in range(config.train_steps):
            yield remember_first(config, rng, config.batch_size)

    return batches
