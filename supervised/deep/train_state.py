"""The state :func:`qmml.supervised.deep.trainer.fit` keeps while it trains, and how it
evaluates: moving (nested) batches to the device, reading ``loss_fn``'s answer, item-weighted
running means of the loss and metrics, :func:`evaluate` (one pass over validation batches in
eval mode), best-checkpoint copies and the history as NumPy columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Batch", "LossFn", "evaluate"]

Batch = Any
LossFn = Callable[[nn.Module, Batch], Any]


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _unpack(out: Any) -> tuple[torch.Tensor, float, dict[str, Any]]:
    """Normalise ``loss_fn``'s answer to ``(loss, n_items, metrics)``."""
    if isinstance(out, torch.Tensor):
        return out, 1.0, {}
    if isinstance(out, tuple) and len(out) in (2, 3):
        return out[0], float(out[1]), dict(out[2]) if len(out) == 3 else {}
    raise TypeError(
        "loss_fn must return a scalar loss tensor, (loss, n_items) or (loss, n_items, metrics)"
    )


class _Mean:
    """Weighted running means of the loss and metrics (floats, synced once per evaluation)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.n = 0.0

    def add(self, loss: torch.Tensor, n: float, metrics: dict[str, Any]) -> None:
        self.n += n
        for k, v in {"loss": loss, **metrics}.items():
            v = v.detach() if isinstance(v, torch.Tensor) else float(v)
            self.sums[k] = self.sums.get(k, 0.0) + v * n

    def means(self) -> dict[str, float]:
        if self.n == 0:
            return {}
        return {k: float(v) / self.n for k, v in self.sums.items()}


def evaluate(
    model: nn.Module, loss_fn: LossFn, batches: Iterable[Batch], device: torch.device
) -> dict[str, float]:
    """Item-weighted mean loss and metrics of ``loss_fn`` over ``batches``, in eval mode."""
    was_training = model.training
    model.eval()
    acc = _Mean()
    with torch.no_grad():
        for batch in batches:
            acc.add(*_unpack(loss_fn(model, _to_device(batch, device))))
    model.train(was_training)
    return acc.means()


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _columns(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out = {k: np.array([row.get(k, math.nan) for row in rows]) for k in keys}
    out.setdefault("val_loss", np.full(len(rows), math.nan))
    for k in ("step", "epoch"):
        out[k] = out[k].astype(np.int64)
    return out
