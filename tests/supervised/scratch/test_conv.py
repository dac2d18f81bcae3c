"""NumPy convolution: finite differences and agreement with torch's conv2d / max_pool2d."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from qmml.supervised.scratch.conv import Conv2d, Flatten, MaxPool2d, conv_output_size, init_conv
from qmml.supervised.scratch.nn import CrossEntropyLoss, Dense, ReLU, Sequential, gradient_check
from qmml.supervised.scratch.optim import Adam


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 2), (2, 0)])
def test_conv_matches_torch_forward_and_backward(stride, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 7, 6))
    W, b = rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4)
    conv = Conv2d(W.copy(), b.copy(), stride=stride, padding=padding)
    out = conv.forward(x)
    g = rng.normal(size=out.shape)
    dx = conv.backward(g)

    xt = torch.tensor(x, requires_grad=True)
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    ref = F.conv2d(xt, Wt, bt, stride=stride, padding=padding)
    ref.backward(torch.tensor(g))
    assert (
        out.shape
        == ref.shape
        == (3, 4, conv_output_size(7, 3, stride, padding), conv_output_size(6, 3, stride, padding))
    )
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(conv.W.grad, Wt.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(conv.b.grad, bt.grad.numpy(), atol=1e-5)
    assert conv.backward(g, need_input_grad=False) is None


def test_maxpool_matches_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 7, 8))  # odd height: the last row is dropped, as in torch
    pool = MaxPool2d(2)
    out = pool.forward(x)
    g = rng.normal(size=out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.max_pool2d(xt, 2)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ref.detach().numpy())
    np.testing.assert_allclose(pool.backward(g), xt.grad.numpy())


def _tiny_cnn(rng: np.random.Generator) -> Sequential:
    W1, b1 = init_conv(1, 3, 3, rng)
    W2, b2 = init_conv(3, 4, 3, rng)
    Wd = rng.normal(scale=0.3, size=(4 * 2 * 2, 3))
    return Sequential(
        [
            Conv2d(W1, b1 + 0.1, padding=1),
            ReLU(),
            MaxPool2d(2),
            Conv2d(W2, b2 - 0.05, stride=1, padding=1),
            ReLU(),
            MaxPool2d(2),
            Flatten(),
            Dense(Wd, np.zeros(3)),
        ]
    )


def test_gradient_check_through_a_small_cnn():
    rng = np.random.default_rng(2)
    net = _tiny_cnn(rng)
    x = rng.normal(size=(4, 1, 8, 8))
    y = np.array([0, 1, 2, 1])
    errors = gradient_check(net, CrossEntropyLoss(), x, y)
    assert max(errors.values()) < 1e-6, errors


def test_a_numpy_cnn_learns():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 1, 8, 8))
    y = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(int)
    net, loss = _tiny_cnn(rng), CrossEntropyLoss()
    opt = Adam(net.parameters(), lr=0.02)
    first = net.loss_and_grad(x, y, loss)[0]
    for _ in range(60):
        value, _ = net.loss_and_grad(x, y, loss)
        opt.step()
    assert value < 0.5 * first


def test_errors():
    with pytest.raises(ValueError, match="C_out, C_in, k, k"):
        Conv2d(np.zeros((2, 1, 3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="stride"):
        Conv2d(np.zeros((2, 1, 3, 3)), np.zeros(2), stride=0)
    conv = Conv2d(np.zeros((2, 1, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(n, 1, H, W\)"):
        conv.forward(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv.forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="smaller than the window"):
        MaxPool2d(4).forward(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="pool size"):
        MaxPool2d(0)
