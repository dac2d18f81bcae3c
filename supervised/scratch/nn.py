"""A neural network in NumPy: layers, losses, back-propagation, gradient check (optimisers:
``qmml.supervised.scratch.optim``).

Shapes: a batch is a matrix of shape (n, features); every layer maps (n, d_in) -> (n, d_out).
``forward`` caches what ``backward`` needs; ``backward`` takes dLoss/dOutput and returns
dLoss/dInput, leaving parameter gradients in ``Parameter.grad``.

Losses take *logits*: :class:`CrossEntropyLoss` applies a log-softmax itself (as PyTorch's
``CrossEntropyLoss`` does), so a network must not end in :class:`Softmax` when trained with it.
That was the lectures' "find the bug" exercise; :meth:`Sequential.loss_and_grad` refuses it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import expit

__all__ = [
    "CrossEntropyLoss",
    "Dense",
    "Identity",
    "Layer",
    "Loss",
    "MSELoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "build_mlp",
    "gradient_check",
    "init_weights",
    "log_softmax",
    "mlp_from_weights",
    "softmax",
]

Activation = Literal["relu", "tanh", "sigmoid", "identity"]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``log(softmax(z))`` along the last axis, finite for any finite logits (e.g. +-1000)."""
    shifted = z - z.max(axis=-1, keepdims=True)  # largest entry 0: exp never overflows
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis; rows sum to 1 for any finite logits."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(eq=False)
class Parameter:
    """A trainable array and its gradient. ``decay``: subject to L2 weight decay."""

    value: np.ndarray
    grad: np.ndarray
    decay: bool = True


class Layer:
    """Base class: ``forward`` (n, d_in) -> (n, d_out); ``backward`` the reverse."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def parameters(self) -> list[tuple[str, Parameter]]:
        """Named trainable parameters (none for activations)."""
        return []


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b`` with W of shape (d_in, d_out)."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W = Parameter(W, np.zeros_like(W), decay=True)
        self.b = Parameter(b, np.zeros_like(b), decay=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x @ self.W.value + self.b.value

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        self.W.grad = self._x.T @ grad
        self.b.grad = grad.sum(axis=0)
        # the first layer's input is data: skipping dL/dx saves one matmul, as autograd does
        return grad @ self.W.value.T if need_input_grad else None

    def parameters(self) -> list[tuple[str, Parameter]]:
        return [("W", self.W), ("b", self.b)]


class ReLU(Layer):
    """``max(x, 0)``; derivative 1 where x > 0, else 0."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return x * self._mask

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad * self._mask


class Sigmoid(Layer):
    """``1 / (1 + e^-x)``, evaluated without overflow; derivative ``s (1 - s)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._s = expit(x)
        return self._s

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad * self._s * (1 - self._s)


class Tanh(Layer):
    """``tanh(x)``; derivative ``1 - tanh(x)^2``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._t = np.tanh(x)
        return self._t

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad * (1 - self._t**2)


class Identity(Layer):
    """``x`` (a linear output)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad


class Softmax(Layer):
    """Row-wise softmax. Backward is the Jacobian-vector product ``s * (g - <g, s>)``.

    For training a classifier use :class:`CrossEntropyLoss` on logits instead (it fuses
    softmax and log for stability); this layer is for outputs that must be probabilities.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._s = softmax(x)
        return self._s

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        s = self._s
        return s * (grad - (grad * s).sum(axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "identity": Identity,
}


class Loss:
    """Base class: ``forward(pred, target) -> float``, then ``backward() -> dL/dpred``."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError


class MSELoss(Loss):
    """Mean squared error over all entries; ``target`` is reshaped to ``pred``'s shape."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        self._diff = pred - target.reshape(pred.shape)
        return float(np.mean(self._diff**2))

    def backward(self) -> np.ndarray:
        return 2.0 * self._diff / self._diff.size


class CrossEntropyLoss(Loss):
    """Categorical cross-entropy from **logits** via a stable log-softmax.

    ``target``: class indices, shape (n,), or class probabilities (e.g. one-hot), (n, k).
    The gradient is ``(softmax(z) - onehot) / n``.
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        logp = log_softmax(pred)
        if target.ndim == 1:
            onehot = np.zeros_like(pred)
            onehot[np.arange(len(target)), target.astype(np.intp)] = 1.0
        else:
            onehot = target.astype(pred.dtype, copy=False)
        self._logp, self._onehot = logp, onehot
        return float(-np.sum(onehot * logp) / len(pred))

    def backward(self) -> np.ndarray:
        return (np.exp(self._logp) - self._onehot) / len(self._logp)


class Sequential:
    """Layers applied in order, with back-propagation through them."""

    def __init__(self, layers: Sequence[Layer]):
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Output of the last layer (logits for a classifier)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad: np.ndarray, need_input_grad: bool = False) -> np.ndarray | None:
        """Back-propagate dL/dOutput; returns dL/dInput if ``need_input_grad``."""
        last = len(self.layers) - 1
        g: np.ndarray | None = grad
        for i, layer in enumerate(reversed(self.layers)):
            assert g is not None  # every layer after the first was asked for dL/dInput
            g = layer.backward(g, need_input_grad or i < last)
        return g

    def loss_and_grad(
        self, x: np.ndarray, y: np.ndarray, loss: Loss, need_input_grad: bool = False
    ) -> tuple[float, np.ndarray | None]:
        """Forward, loss, backward: the loss value and (optionally) dL/dx.

        Raises:
            ValueError: a network ending in Softmax trained with CrossEntropyLoss, which
                expects logits (softmax would be applied twice).
        """
        if isinstance(loss, CrossEntropyLoss) and isinstance(self.layers[-1], Softmax):
            raise ValueError(
                "CrossEntropyLoss expects logits but the network ends in Softmax "
                "(softmax would be applied twice); remove the final Softmax layer"
            )
        value = loss.forward(self.forward(x), y)
        return value, self.backward(loss.backward(), need_input_grad)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``("<layer index>.<name>", parameter)`` for every trainable parameter."""
        return [
            (f"{i}.{n}", p) for i, layer in enumerate(self.layers) for n, p in layer.parameters()
        ]

    def parameters(self) -> list[Parameter]:
        """Every trainable parameter, in layer order."""
        return [p for _, p in self.named_parameters()]


def init_weights(
    sizes: Sequence[int],
    activation: Activation,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float64,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` per layer for layer widths ``sizes``: He-uniform for ReLU (He et al. 2015),
    Glorot-uniform otherwise (Glorot & Bengio 2010); zero biases. Shared by the NumPy and
    PyTorch networks so that the same seed gives the same starting point in both.
    """
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        hidden_relu = activation == "relu" and len(out) < len(sizes) - 2
        limit = np.sqrt(6.0 / fan_in) if hidden_relu else np.sqrt(6.0 / (fan_in + fan_out))
        W = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)
        out.append((W, np.zeros(fan_out, dtype=dtype)))
    return out


def build_mlp(
    sizes: Sequence[int],
    activation: Activation,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float64,
) -> Sequential:
    """Dense -> activation -> ... -> Dense (linear output) for layer widths ``sizes``.

    Raises:
        ValueError: fewer than two sizes, a width below 1, or an unknown activation.
    """
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least input and output widths >= 1, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    return mlp_from_weights(init_weights(sizes, activation, rng, dtype), activation)


def mlp_from_weights(
    weights: Sequence[tuple[np.ndarray, np.ndarray]], activation: Activation
) -> Sequential:
    """Dense layers with the given ``(W, b)`` and ``activation`` between them (not after the
    last: the output is linear, i.e. logits for a classifier).

    Raises:
        ValueError: unknown activation.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    layers: list[Layer] = []
    for i, (W, b) in enumerate(weights):
        layers.append(Dense(W, b))
        if i < len(weights) - 1:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(layers)


def gradient_check(
    network: Sequential, loss: Loss, x: np.ndarray, y: np.ndarray, *, eps: float = 1e-6
) -> dict[str, float]:
    """Compare back-propagated gradients with central finite differences.

    Every entry of every parameter, and of the input ``x``, is nudged by ``+-eps``. The
    error per array is ``||analytic - numeric|| / (||analytic|| + ||numeric||)``; values
    around 1e-8 or below mean the backward pass is right (float64 required).

    Returns:
        ``{"<layer>.<W|b>": error, ..., "input": error}``.

    Raises:
        ValueError: parameters or input not float64 (finite differences need the precision).
    """
    x = np.array(x, copy=True)  # nudged in place below; the caller's array stays untouched
    if x.dtype != np.float64 or any(p.value.dtype != np.float64 for p in network.parameters()):
        raise ValueError(
            "gradient_check needs float64 input and parameters; build the network "
            "with dtype=np.float64"
        )
    _, dx = network.loss_and_grad(x, y, loss, need_input_grad=True)
    assert dx is not None  # need_input_grad=True
    analytic = {n: p.grad.copy() for n, p in network.named_parameters()}
    analytic["input"] = dx

    def numeric(arr: np.ndarray) -> np.ndarray:
        out = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), out.reshape(-1)  # views: nudges reach the network
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            up = loss.forward(network.forward(x), y)
            flat[i] = orig - eps
            down = loss.forward(network.forward(x), y)
            flat[i] = orig
            gflat[i] = (up - down) / (2 * eps)
        return out

    errors = {}
    arrays = {n: p.value for n, p in network.named_parameters()}
    arrays["input"] = x
    for name, arr in arrays.items():
        a, num = analytic[name], numeric(arr)
        denom = np.linalg.norm(a) + np.linalg.norm(num)
        errors[name] = float(np.linalg.norm(a - num) / denom) if denom > 0 else 0.0
    return errors
