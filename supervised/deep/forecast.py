"""Small torch forecasters of a scalar series from a window of its past: an MLP on the lags,
an LSTM and a GRU, trained through the shared trainer (:mod:`qmml.supervised.deep.trainer`).

Inputs are windows ``(N, W)`` of standardised values, the oldest first; the output is one
standardised target per window, shape ``(N,)``. The caller standardises (with statistics of
its training rows only) and undoes it; this module sees arrays, never dates or prices.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.deep.batches import array_batches
from qmml.supervised.deep.trainer import TrainConfig, fit, torch_seed

__all__ = ["CELLS", "ForecastNetConfig", "fit_forecaster", "predict"]

CELLS = ("mlp", "lstm", "gru")


@dataclass(frozen=True)
class ForecastNetConfig:
    """A forecaster's architecture and optimiser settings.

    Attributes:
        cell: ``"mlp"`` (ReLU layers on the flattened window), ``"lstm"`` or ``"gru"``.
        hidden: units per layer. layers: hidden layers (MLP) or stacked cells.
        dropout: between layers (stacked cells or MLP layers).
        lr, batch_size, weight_decay, clip_grad_norm: AdamW settings.
    """

    cell: str = "lstm"
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.0
    lr: float = 1e-3
    batch_size: int = 128
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        for name in ("hidden", "layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.lr > 0 or self.weight_decay < 0 or not self.clip_grad_norm > 0:
            raise ValueError("lr and clip_grad_norm must be > 0 and weight_decay >= 0")


class _MLP(nn.Module):
    def __init__(self, window: int, cfg: ForecastNetConfig):
        super().__init__()
        dims = [window] + [cfg.hidden] * cfg.layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(cfg.dropout)]
        self.body = nn.Sequential(*blocks, nn.Linear(dims[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[:, 0]  # (B, W) -> (B,)


class _Recurrent(nn.Module):
    def __init__(self, cfg: ForecastNetConfig):
        super().__init__()
        kind = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        drop = cfg.dropout if cfg.layers > 1 else 0.0
        self.rnn = kind(1, cfg.hidden, cfg.layers, batch_first=True, dropout=drop)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x[..., None])  # (B, W, 1) -> (B, W, H)
        return self.head(out[:, -1])[:, 0]  # last state -> (B,)


def fit_forecaster(
    cfg: ForecastNetConfig,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    steps: int,
    eval_every: int,
    seed: int,
    threads: int = 1,
) -> tuple[nn.Module, dict[str, np.ndarray], float]:
    """Train a forecaster on ``(X (N, W), y (N,))``, keeping the best checkpoint on ``val``.

    Args:
        cfg: the architecture and optimiser.
        train, val: standardised windows and targets (validation picks the checkpoint only).
        steps: optimiser steps. eval_every: steps between validations.
        seed: initial weights and batch order.
        threads: torch threads.

    Returns:
        The model (best validation weights, eval mode), its history (``step``,
        ``train_loss``, ``val_loss``) and the training CPU-seconds.
    """
    x, y = (np.ascontiguousarray(a, dtype=np.float32) for a in train)
    vx, vy = (np.ascontiguousarray(a, dtype=np.float32) for a in val)
    with torch_seed(seed):  # default initialisers draw from the (forked) global generator
        model: nn.Module = _MLP(x.shape[1], cfg) if cfg.cell == "mlp" else _Recurrent(cfg)
    config = TrainConfig(
        max_steps=steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        clip_grad_norm=cfg.clip_grad_norm,
        eval_every=min(eval_every, steps),
        seed=seed,
        threads=threads,
    )

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        xb, yb = batch
        return F.mse_loss(m(xb), yb), xb.shape[0]

    result = fit(
        model,
        loss_fn,
        array_batches(x, y, batch_size=cfg.batch_size),
        val_batches=[(torch.from_numpy(vx), torch.from_numpy(vy))],
        config=config,
    )
    return model, result.history, result.cpu_s


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Standardised forecasts ``(N,)`` of windows ``x`` (N, W), in float64."""
    model.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    out = [model(xt[i : i + batch_size]) for i in range(0, len(xt), batch_size)]
    if not out:
        return np.empty(0)
    return torch.cat(out).numpy().astype(np.float64)
