"""CNN speed on one CPU thread: LeNet-5 epochs, the shared trainer's overhead, NumPy im2col.

Three comparisons, each "peer vs ours", medians of CPU-seconds (``time.process_time``) over
``--repeats`` runs:

1. LeNet-5 epoch on 8,000 MNIST images (batch 64, AdamW) through
   ``qmml.supervised.deep.trainer.fit``. Target: <= 2.5 CPU-s per epoch.
2. Trainer overhead: ``fit`` vs a minimal hand-written PyTorch loop (zero_grad, forward,
   cross-entropy, backward, step) on the same model, initial weights and batches (a list of
   tensors made once, so batching costs are out of both). Target: ratio <= 1.10.
3. NumPy ``Conv2d`` (im2col) vs ``torch.nn.functional.conv2d``, forward + backward of
   LeNet-5's first layer (1 -> 6 channels, 5x5, padding 2) on a batch of 64 28x28 float32
   images; the input is data, so neither computes dL/dx. Target: ratio <= 3.

    PYTHONPATH=. .venv/bin/python benchmarks/cnn_speed.py --repeats 5
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy and torch imports

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.supervised.deep.cnn import build_model  # noqa: E402
from qmml.supervised.deep.trainer import TrainConfig, fit  # noqa: E402
from qmml.supervised.images import ChannelNormalizer, load_mnist, split_images  # noqa: E402
from qmml.supervised.scratch.conv import Conv2d  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def _median_cpu(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def _batches(n_train: int, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    s = split_images(load_mnist(), n_train=n_train, n_test=2000, seed=0)
    X = torch.from_numpy(ChannelNormalizer().fit_transform(s.train.X))
    y = torch.from_numpy(s.train.y)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(X)))
    return [(X[order[i : i + batch]], y[order[i : i + batch]]) for i in range(0, len(X), batch)]


def _ce(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
    """The hand-written loop's loss, so that only the loop differs (no accuracy metric)."""
    x, y = batch
    return F.cross_entropy(model(x), y), len(x)


def lenet_epochs(batches: list, repeats: int) -> tuple[float, float]:
    """(hand-written loop, trainer) CPU-seconds per LeNet-5 epoch."""
    init = build_model("lenet5", seed=0).state_dict()

    def hand() -> None:
        model = build_model("lenet5", seed=0)
        model.load_state_dict(init)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()

    def ours() -> None:
        model = build_model("lenet5", seed=0)
        model.load_state_dict(init)
        config = TrainConfig(max_epochs=1, batch_size=64, lr=1e-3, seed=0)
        fit(model, _ce, lambda rng, epoch: batches, config=config)

    hand()  # warm-up (allocator, kernels)
    results = {"hand": [], "ours": []}
    for _ in range(repeats):  # interleaved, so drift hits both alike
        results["hand"].append(_median_cpu(hand, 1))
        results["ours"].append(_median_cpu(ours, 1))
    return statistics.median(results["hand"]), statistics.median(results["ours"])


def conv_layer(repeats: int, inner: int = 20) -> tuple[float, float]:
    """(torch, NumPy) CPU-seconds per forward + backward of LeNet-5's first layer."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    W = rng.normal(scale=0.2, size=(6, 1, 5, 5)).astype(np.float32)
    b = np.zeros(6, np.float32)
    g = rng.normal(size=(64, 6, 28, 28)).astype(np.float32)
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    Wt = torch.from_numpy(W.copy()).requires_grad_()
    bt = torch.from_numpy(b.copy()).requires_grad_()
    conv = Conv2d(W.copy(), b.copy(), padding=2)

    def peer() -> None:
        for _ in range(inner):
            Wt.grad = bt.grad = None
            F.conv2d(xt, Wt, bt, padding=2).backward(gt)

    def ours() -> None:
        for _ in range(inner):
            conv.forward(x)
            conv.backward(g, need_input_grad=False)

    peer(), ours()
    return _median_cpu(peer, repeats) / inner, _median_cpu(ours, repeats) / inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=8000)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, numpy {np.__version__}, 1 thread, "
        f"medians of {args.repeats} (CPU-seconds)"
    )
    batches = _batches(args.n_train, 64)
    hand, ours = lenet_epochs(batches, args.repeats)
    print(f"\nLeNet-5 epoch, {args.n_train} MNIST images, batch 64, AdamW")
    print(f"  {'hand-written torch loop':28s} {hand:7.3f} s/epoch")
    print(f"  {'qmml trainer.fit':28s} {ours:7.3f} s/epoch   (target <= 2.5)")
    print(f"  trainer / hand-written       {ours / hand:7.3f}     (target <= 1.10)")
    peer, mine = conv_layer(args.repeats)
    print("\nLeNet-5 conv1 (64x1x28x28 -> 64x6x28x28, 5x5, pad 2), forward + backward")
    print(f"  {'torch F.conv2d':28s} {peer * 1e3:7.3f} ms")
    print(f"  {'NumPy im2col Conv2d':28s} {mine * 1e3:7.3f} ms")
    print(f"  NumPy / torch                {mine / peer:7.3f}     (target <= 3)")


if __name__ == "__main__":
    main()
