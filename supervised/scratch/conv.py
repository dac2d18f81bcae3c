"""Convolution in NumPy: Conv2d via im2col, 2x2 max-pooling, Flatten — layers in the style of
:mod:`qmml.supervised.scratch.nn`, so they chain with ``Dense`` in a ``Sequential`` and pass
its :func:`~qmml.supervised.scratch.nn.gradient_check`.

Shapes: images are (n, C, H, W). im2col (Chellapilla et al. 2006) unrolls every k x k patch
into a column, turning the convolution into one (batched) matrix product::

    cols  (n, C*k*k, H'*W')  columns = output positions, rows = patch entries
    W     (C_out, C*k*k)     the kernels, one per row
    out = W @ cols           (n, C_out, H'*W') -> (n, C_out, H', W'), no transpose needed

Backward is two more products: ``dW = sum_n dout_n @ cols_n.T`` and ``dcols = W.T @ dout``;
col2im adds each patch gradient back where the patch came from (k*k strided additions).
Like PyTorch's ``conv2d`` this is cross-correlation (kernels not flipped), so weights copy
over 1:1.
"""

from __future__ import annotations

import numpy as np

from qmml.supervised.scratch.nn import Layer, Parameter

__all__ = ["Conv2d", "Flatten", "MaxPool2d", "conv_output_size", "init_conv"]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output height/width of a convolution or pooling window."""
    return (size + 2 * padding - kernel) // stride + 1


def init_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """He-uniform kernels (C_out, C_in, k, k) with fan-in ``C_in*k*k``, zero biases."""
    fan_in = in_channels * kernel_size * kernel_size
    limit = np.sqrt(6.0 / fan_in)
    shape = (out_channels, in_channels, kernel_size, kernel_size)
    return rng.uniform(-limit, limit, size=shape).astype(dtype), np.zeros(out_channels, dtype)


class Conv2d(Layer):
    """2-D convolution (cross-correlation) with square kernels, ``stride`` and zero ``padding``.

    Args:
        W: kernels, shape (C_out, C_in, k, k) (PyTorch's ``conv.weight`` layout).
        b: biases, shape (C_out,).
        stride: step between windows.
        padding: zeros added on each side.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0):
        if W.ndim != 4 or W.shape[2] != W.shape[3] or b.shape != (W.shape[0],):
            raise ValueError(
                f"Conv2d wants W (C_out, C_in, k, k) and b (C_out,), got {W.shape}, {b.shape}"
            )
        if stride < 1 or padding < 0:
            raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
        self.W = Parameter(W, np.zeros_like(W), decay=True)
        self.b = Parameter(b, np.zeros_like(b), decay=False)
        self.stride, self.padding = stride, padding

    def forward(self, x: np.ndarray) -> np.ndarray:
        c_out, c_in, k, _ = self.W.value.shape
        if x.ndim != 4 or x.shape[1] != c_in:
            raise ValueError(f"Conv2d expects (n, {c_in}, H, W) input, got {x.shape}")
        p, s = self.padding, self.stride
        n, _, height, width = x.shape
        if min(height, width) + 2 * p < k:
            raise ValueError(f"Conv2d: input {x.shape[2:]} is smaller than the kernel {k}x{k}")
        h_out, w_out = conv_output_size(height, k, s, p), conv_output_size(width, k, s, p)
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        # im2col: entry (c, i, j) of the patch at (r, q) is x[c, s*r + i, s*q + j]; k*k slice
        # copies, each a whole shifted image (faster than copying tiny k x k windows)
        cols = np.empty((n, c_in, k, k, h_out, w_out), dtype=x.dtype)
        for i in range(k):
            for j in range(k):
                cols[:, :, i, j] = x[:, :, i : i + s * h_out : s, j : j + s * w_out : s]
        cols = cols.reshape(n, c_in * k * k, h_out * w_out)  # (n, C*k*k, H'*W')
        self._cols, self._x_shape = cols, (n, c_in, height, width)
        out = self.W.value.reshape(c_out, -1) @ cols  # (n, C_out, H'*W')
        out += self.b.value[:, None]
        return out.reshape(n, c_out, h_out, w_out)  # (n, C_out, H', W')

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        c_out, c_in, k, _ = self.W.value.shape
        n, _, h_out, w_out = grad.shape
        g = grad.reshape(n, c_out, h_out * w_out)  # (n, C_out, H'*W')
        self.W.grad = (g @ self._cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.W.value.shape)
        self.b.grad = g.sum(axis=(0, 2))
        if not need_input_grad:
            return None  # the first layer's input is data: no col2im needed
        dcols = self.W.value.reshape(c_out, -1).T @ g  # (n, C*k*k, H'*W')
        dcols = dcols.reshape(n, c_in, k, k, h_out, w_out)
        p, s = self.padding, self.stride
        _, _, height, width = self._x_shape
        dx = np.zeros((n, c_in, height + 2 * p, width + 2 * p), dtype=grad.dtype)
        for i in range(k):  # col2im: patch entry (i, j) came from rows i, i+s, ... of x
            for j in range(k):
                dx[:, :, i : i + s * h_out : s, j : j + s * w_out : s] += dcols[:, :, i, j]
        return dx[:, :, p : p + height, p : p + width] if p else dx

    def parameters(self) -> list[tuple[str, Parameter]]:
        return [("W", self.W), ("b", self.b)]


class MaxPool2d(Layer):
    """Non-overlapping ``size`` x ``size`` max-pooling (stride = size); a trailing row or
    column that does not fill a window is dropped, as in PyTorch. The gradient goes to the
    first maximum of each window."""

    def __init__(self, size: int = 2):
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self.size = size

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        s = self.size
        ho, wo = h // s, w // s
        if ho < 1 or wo < 1:
            raise ValueError(f"MaxPool2d({s}): input {x.shape[2:]} smaller than the window")
        blocks = x[:, :, : ho * s, : wo * s].reshape(n, c, ho, s, wo, s)
        blocks = blocks.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, s * s)
        self._arg = blocks.argmax(axis=-1)  # (n, C, H', W')
        self._x_shape = x.shape
        return np.take_along_axis(blocks, self._arg[..., None], axis=-1)[..., 0]

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        n, c = self._x_shape[:2]
        s = self.size
        ho, wo = grad.shape[2:]
        blocks = np.zeros((n, c, ho, wo, s * s), dtype=grad.dtype)
        np.put_along_axis(blocks, self._arg[..., None], grad[..., None], axis=-1)
        blocks = blocks.reshape(n, c, ho, wo, s, s).transpose(0, 1, 2, 4, 3, 5)
        dx = np.zeros(self._x_shape, dtype=grad.dtype)
        dx[:, :, : ho * s, : wo * s] = blocks.reshape(n, c, ho * s, wo * s)
        return dx


class Flatten(Layer):
    """(n, C, H, W) -> (n, C*H*W), to feed a ``Dense`` layer."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad.reshape(self._shape)
