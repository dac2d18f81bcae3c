"""Optimisers for the NumPy network: SGD with momentum and Adam, with PyTorch's update rules
so that the NumPy and PyTorch networks take identical steps from identical gradients.

Both update :class:`supervised.nn.Parameter` values in place from their ``grad``; L2 weight
decay (added to the gradient) applies only to parameters marked ``decay`` (weights, not biases).
"""

from __future__ import annotations

import numpy as np

from qmml.supervised.scratch.nn import Parameter

__all__ = ["SGD", "Adam"]


class SGD:
    """Stochastic gradient descent with momentum (PyTorch's convention)::

    g = grad + weight_decay * w      (weights only, not biases)
    v = momentum * v + g
    w = w - lr * v
    """

    def __init__(
        self,
        params: list[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self._v = [np.zeros_like(p.value) for p in params]

    def step(self) -> None:
        """Update every parameter in place from its ``grad``."""
        for p, v in zip(self.params, self._v, strict=True):
            g = p.grad + self.weight_decay * p.value if p.decay and self.weight_decay else p.grad
            if self.momentum:
                v *= self.momentum
                v += g
                g = v
            p.value -= self.lr * g


class Adam:
    """Adam (Kingma & Ba 2015) with PyTorch's update, so both networks take identical steps::

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w = w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    def __init__(
        self,
        params: list[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.weight_decay = weight_decay
        self._m = [np.zeros_like(p.value) for p in params]
        self._v = [np.zeros_like(p.value) for p in params]
        self._t = 0

    def step(self) -> None:
        """Update every parameter in place from its ``grad``."""
        self._t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self._t)
        root_bc2 = np.sqrt(1 - b2**self._t)
        for p, m, v in zip(self.params, self._m, self._v, strict=True):
            g = p.grad + self.weight_decay * p.value if p.decay and self.weight_decay else p.grad
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p.value -= step_size * m / (np.sqrt(v) / root_bc2 + self.eps)
