"""``train_batches`` builders for :func:`qmml.supervised.deep.trainer.fit`.

A builder returns ``batches(rng, epoch)``, a fresh iterable of batches per epoch with every
random choice (order, augmentation) drawn from the NumPy generator the trainer passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

__all__ = ["BatchFn", "array_batches"]

BatchFn = Callable[[np.random.Generator, int], Iterator[tuple[torch.Tensor, ...]]]


def array_batches(
    *arrays: np.ndarray | torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    drop_last: bool = False,
    transform: Callable[[tuple[torch.Tensor, ...], torch.Generator], tuple] | None = None,
) -> BatchFn:
    """``train_batches`` for in-memory arrays of equal length: tuples of row slices.

    Args:
        arrays: e.g. ``X`` (n, C, H, W) and ``y`` (n,); converted to tensors once.
        batch_size: rows per batch (the last one may be smaller unless ``drop_last``).
        shuffle: a fresh permutation from ``rng`` every epoch.
        drop_last: skip a final short batch.
        transform: ``transform(batch, generator) -> batch`` (e.g. augmentation), with a
            ``torch.Generator`` seeded from ``rng`` so that it is reproducible too.

    Raises:
        ValueError: no arrays, arrays of different lengths, or a batch size below 1.
    """
    if not arrays:
        raise ValueError("array_batches needs at least one array")
    tensors = tuple(a if isinstance(a, torch.Tensor) else torch.from_numpy(a) for a in arrays)
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"array_batches: arrays differ in length: {[len(t) for t in tensors]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def batches(rng: np.random.Generator, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        order = torch.from_numpy(rng.permutation(n)) if shuffle else None
        gen = torch.Generator()
        if transform is not None:
            gen.manual_seed(int(rng.integers(2**63 - 1)))
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:
                batch = tuple(t[start : start + batch_size] for t in tensors)
            else:
                idx = order[start : start + batch_size]
                batch = tuple(t[idx] for t in tensors)
            yield batch if transform is None else transform(batch, gen)

    return batches
