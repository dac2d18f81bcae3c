"""Time the NumPy network against the same architecture in PyTorch on CPU, one thread each.

Workload: digits (8x8, 10 classes), standardised with statistics of the training split,
75/25 split; an MLP 64 -> hidden -> 10 (ReLU), Adam (lr 1e-3), mini-batches of 32, cross-
entropy on logits, the same number of epochs for every version:

- (a) ``supervised.mlp.NumpyMLPClassifier`` — the NumPy network.
- (b) ``qmml.supervised.deep.mlp.TorchMLPClassifier`` — the same training loop (same initial
  weights, same batches), PyTorch doing the forward/backward/Adam step.
- (c) plain PyTorch — an idiomatic training loop written directly in torch (default
  ``nn.Linear`` init, ``torch.randperm`` batches, ``nn.CrossEntropyLoss``, ``optim.Adam``),
  the peer a PyTorch user would write, with no estimator around it.

Time per epoch = fit time / epochs; the median over ``--repeats`` fits is reported, with the
ratio NumPy / PyTorch (below 1: NumPy is faster). Target: (a) within 2x of PyTorch.

    PYTHONPATH=. .venv/bin/python benchmarks/nn_numpy_vs_torch.py --epochs 20 --repeats 5
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy and torch imports

import argparse  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.supervised.data import load_dataset, make_scaler, split  # noqa: E402
from qmml.supervised.deep.mlp import TorchMLPClassifier  # noqa: E402
from qmml.supervised.scratch.mlp import NumpyMLPClassifier  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def plain_torch(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    hidden: int,
    epochs: int,
    batch: int,
    dtype: torch.dtype,
    seed: int,
) -> tuple[float, np.ndarray]:
    """An idiomatic PyTorch training loop; returns (fit seconds, predictions on X_test)."""
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.from_numpy(X).to(dtype), torch.from_numpy(y).long()
    t0 = time.perf_counter()
    with torch.random.fork_rng():  # nn.Linear's default init draws from the global RNG
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(
            dtype
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()  # logits in: no softmax before it
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), batch):
            idx = perm[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    wall = time.perf_counter() - t0
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test).to(dtype)).argmax(1).numpy()
    return wall, pred


def _median_time(
    fn: Callable[[int], tuple[float, float]],
    repeats: int,
) -> tuple[float, float, list[float]]:
    times, acc = [], 0.0
    for r in range(repeats):
        wall, acc = fn(r)
        times.append(wall)
    return statistics.median(times), acc, times


Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _fit_estimator(cls: type, kw: dict, data: Data, seed: int) -> tuple[float, float]:
    X_tr, X_te, y_tr, y_te = data
    model = cls(random_state=seed, **kw)
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    return time.perf_counter() - t0, float(model.score(X_te, y_te))


def _fit_plain(
    args: argparse.Namespace, dtype: torch.dtype, data: Data, seed: int
) -> tuple[float, float]:
    X_tr, X_te, y_tr, y_te = data
    wall, pred = plain_torch(
        X_tr, y_tr, X_te, args.hidden, args.epochs, args.batch_size, dtype, seed
    )
    return wall, float(np.mean(pred == y_te))


def main() -> None:
    """Parse arguments, time the three versions, print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    args = ap.parse_args()

    X_tr, X_te, y_tr, y_te = split(load_dataset("digits"), test_size=0.25, seed=0)
    scaler = make_scaler("standard").fit(X_tr)  # training rows only
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    data = (X_tr, X_te, y_tr, y_te)
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    print(
        f"digits: {len(X_tr)} training rows, MLP 64-{args.hidden}-10 ReLU, Adam, batch "
        f"{args.batch_size}, {args.epochs} epochs, median of {args.repeats} fits, 1 thread "
        f"(torch {torch.__version__}, numpy {np.__version__})\n"
    )
    print(f"{'version':<37}{'dtype':<9}{'ms / epoch':>11}{'test acc':>10}{'NumPy / this':>14}")
    for dt in dtypes:
        kw = {
            "hidden_layer_sizes": (args.hidden,),
            "max_epochs": args.epochs,
            "batch_size": args.batch_size,
            "dtype": dt,
        }
        numpy_fit = functools.partial(_fit_estimator, NumpyMLPClassifier, kw, data)
        torch_fit = functools.partial(_fit_estimator, TorchMLPClassifier, kw, data)
        plain_fit = functools.partial(_fit_plain, args, getattr(torch, dt), data)
        for fn in (numpy_fit, torch_fit, plain_fit):
            fn(99)  # warm-up: imports, allocator, BLAS
        rows = [
            ("(a) NumPy network", _median_time(numpy_fit, args.repeats)),
            ("(b) TorchMLPClassifier (same loop)", _median_time(torch_fit, args.repeats)),
            ("(c) plain PyTorch loop", _median_time(plain_fit, args.repeats)),
        ]
        base = rows[0][1][0]
        for name, (med, acc, _) in rows:
            print(
                f"{name:<37}{dt:<9}{1000 * med / args.epochs:>11.2f}{acc:>10.3f}"
                f"{base / med:>13.2f}x"
            )
    print("\nratio NumPy / PyTorch below 1 means the NumPy network is faster; target <= 2")


if __name__ == "__main__":
    main()
