"""The same multi-layer perceptron in PyTorch (CPU), as scikit-learn estimators.

It shares :class:`supervised.mlp.MLPBase`'s training loop with the NumPy network: same
initial weights for a seed (drawn with NumPy, copied in), same mini-batches, same optimiser
update rules. So the two can be compared on speed and checked against each other on results.

The network outputs logits and is trained with ``torch.nn.functional.cross_entropy``, which
applies log-softmax itself. Putting a softmax before it (the lectures' "find the bug") would
apply softmax twice and flatten the gradients. No torch random generator is used, so results
depend only on ``random_state`` (and on the thread count: pin ``torch.set_num_threads``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.scratch.mlp import (
    Activation,
    DType,
    MLPBase,
    MLPClassifierMixin,
    MLPRegressorMixin,
    Solver,
    Weights,
)

__all__ = ["TorchMLPClassifier", "TorchMLPRegressor"]

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


class _TorchBackend:
    """Backend hooks for :class:`MLPBase` in PyTorch.

    Attributes:
        module_: the trained ``torch.nn.Sequential`` (outputs logits), on CPU.
    """

    # declared for the checker; set by MLPBase and the task mixin, which follow in the MRO
    activation: Activation
    solver: Solver
    learning_rate: float
    momentum: float
    alpha: float
    dtype: DType
    _loss_kind: str

    def _build(self, weights: Weights) -> None:
        dt = getattr(torch, self.dtype)
        layers: list[nn.Module] = []
        for i, (W, b) in enumerate(weights):
            # skip_init: no default initialisation, so torch's global generator is untouched
            lin = nn.utils.skip_init(nn.Linear, W.shape[0], W.shape[1], dtype=dt)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(weights) - 1:
                layers.append(_ACT[self.activation]())
        self.module_ = nn.Sequential(*layers)
        decay = [m.weight for m in self.module_ if isinstance(m, nn.Linear)]
        no_decay = [m.bias for m in self.module_ if isinstance(m, nn.Linear)]
        groups = [
            {"params": decay, "weight_decay": self.alpha},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if self.solver == "adam":
            self._opt: Any = torch.optim.Adam(groups, lr=self.learning_rate)
        else:
            self._opt = torch.optim.SGD(groups, lr=self.learning_rate, momentum=self.momentum)

    def _loss_fn(self, out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self._loss_kind == "cross_entropy":
            return F.cross_entropy(out, t)  # logits in, log-softmax inside
        return F.mse_loss(out, t)

    def _step(self, x: np.ndarray, t: np.ndarray) -> float:
        self._opt.zero_grad(set_to_none=True)
        loss = self._loss_fn(self.module_(torch.from_numpy(x)), torch.from_numpy(t))
        loss.backward()
        self._opt.step()
        return float(loss.item())

    def _eval_loss(self, x: np.ndarray, t: np.ndarray) -> float:
        with torch.no_grad():
            return float(
                self._loss_fn(self.module_(torch.from_numpy(x)), torch.from_numpy(t)).item()
            )

    def _forward(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.module_(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    def _get_state(self) -> list[Any]:
        return [p.detach().clone() for p in self.module_.parameters()]

    def _set_state(self, state: list[Any]) -> None:
        with torch.no_grad():
            for p, v in zip(self.module_.parameters(), state, strict=True):
                p.copy_(v)

    def _finish(self) -> None:
        del self._opt
        self.module_.requires_grad_(False)


class TorchMLPClassifier(_TorchBackend, MLPClassifierMixin, MLPBase):
    """The NumPy MLP classifier's twin in PyTorch (parameters: :class:`MLPBase`)."""


class TorchMLPRegressor(_TorchBackend, MLPRegressorMixin, MLPBase):
    """The NumPy MLP regressor's twin in PyTorch (parameters: :class:`MLPBase`)."""
