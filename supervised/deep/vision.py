"""Image classification with the CNNs: a plain training function and a scikit-learn estimator.

:func:`train_image_model` trains a named model of :mod:`qmml.supervised.deep.cnn` on arrays
with the shared :func:`~qmml.supervised.deep.trainer.fit` loop and returns its per-epoch
curves and test predictions, so an experiment workload only loads, splits and records.
The per-channel normaliser is fitted on the training images only; optional augmentation
(:mod:`qmml.supervised.deep.augment`) is applied to training batches only.

:class:`TorchCNNClassifier` wraps the same function in the scikit-learn contract (``fit``
returns ``self``, fitted attributes end in ``_``, randomness from ``random_state``); it takes
images (n, C, H, W), or flat rows (n, C*H*W) with ``image_shape``, or square flat rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from qmml.supervised.deep.augment import AugmentConfig, batch_transform
from qmml.supervised.deep.batches import array_batches
from qmml.supervised.deep.cnn import build_model
from qmml.supervised.deep.trainer import TrainConfig, TrainResult, fit
from qmml.supervised.images import ChannelNormalizer

__all__ = ["TorchCNNClassifier", "VisionRun", "classification_loss", "train_image_model"]


def classification_loss(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, int, dict[str, torch.Tensor]]:
    """Cross-entropy on logits, the batch size, and accuracy (a ``loss_fn`` for ``fit``)."""
    x, y = batch
    logits = model(x)  # (n, n_classes)
    acc = (logits.argmax(dim=1) == y).float().mean()
    return F.cross_entropy(logits, y), len(x), {"accuracy": acc}


@dataclass
class VisionRun:
    """A trained image model and what it did.

    Attributes:
        model: the trained network (best validation weights when validating), eval mode.
        normalizer: the per-channel normaliser fitted on the training images.
        result: the trainer's :class:`TrainResult` (``result.history`` per epoch).
        test_pred: predicted classes of the test images, (n_test,).
        test_proba: class probabilities, (n_test, n_classes).
        test_accuracy: fraction correct, NaN without test labels.
    """

    model: nn.Module
    normalizer: ChannelNormalizer
    result: TrainResult
    test_pred: np.ndarray
    test_proba: np.ndarray
    test_accuracy: float

    @property
    def curves(self) -> dict[str, np.ndarray]:
        """Per-epoch arrays: epoch, train_loss, train_accuracy, val_loss, val_accuracy, cpu_s."""
        return self.result.history

    def predict_proba(self, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities of raw (un-normalised) images ``X`` (n, C, H, W)."""
        return _proba(self.model, self.normalizer.transform(X), batch_size)

    def predict(self, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted classes of raw images ``X`` (n, C, H, W)."""
        return self.predict_proba(X, batch_size).argmax(axis=1)


def _proba(model: nn.Module, X: np.ndarray, batch_size: int) -> np.ndarray:
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            xb = torch.from_numpy(X[start : start + batch_size]).to(device)
            out.append(torch.softmax(model(xb), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _check(X: np.ndarray, y: np.ndarray | None, what: str) -> None:
    if X.ndim != 4 or X.dtype != np.float32:
        raise ValueError(f"{what}: images must be float32 (n, C, H, W), got {X.dtype} {X.shape}")
    if y is not None and y.shape != (len(X),):
        raise ValueError(f"{what}: {len(X)} images but labels of shape {y.shape}")


def train_image_model(
    name: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray | None = None,
    *,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    n_classes: int | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int | None = None,
    schedule: Literal["constant", "cosine"] = "cosine",
    augment: AugmentConfig | None = None,
    seed: int = 0,
    device: str = "cpu",
    threads: int = 1,
    progress: bool = False,
) -> VisionRun:
    """Train the model ``name`` (see ``cnn.MODELS``) with AdamW and cross-entropy.

    Args:
        name: ``"cnn"``, ``"lenet5"``, ``"vgg"`` or ``"resnet"``.
        X_train, y_train: float32 images (n, C, H, W) in [0, 1] and int labels 0..k-1.
        X_test, y_test: held-out images (labels optional): predicted after training.
        X_val, y_val: optional validation part: evaluated every epoch; the best epoch's
            weights are kept, and ``patience`` stops early.
        n_classes: default ``max(y_train) + 1``.
        epochs, batch_size, lr, weight_decay: training budget and optimiser.
        patience: early stopping on the validation loss (needs ``X_val``).
        schedule: ``"cosine"`` decays the learning rate to 2% of ``lr`` over the run, after
            a linear warm-up over the first tenth of an epoch; ``"constant"`` keeps it.
        augment: random affine jitter of training batches; ``None`` = no augmentation.
        seed: initial weights, batch order and augmentation draws.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``; threads: CPU threads.
        progress: tqdm bar on stderr.

    Returns:
        The :class:`VisionRun`.

    Raises:
        ValueError: badly shaped arrays or an unknown model name.
    """
    _check(X_train, y_train, "X_train")
    _check(X_test, y_test, "X_test")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if X_val is not None:
        _check(X_val, y_val, "X_val")
    k = int(y_train.max()) + 1 if n_classes is None else n_classes
    normalizer = ChannelNormalizer().fit(X_train)  # training images only
    model = build_model(
        name, in_channels=X_train.shape[1], n_classes=k, image_size=X_train.shape[2:], seed=seed
    )
    transform = None if augment is None else batch_transform(augment)
    train = array_batches(
        normalizer.transform(X_train),
        y_train.astype(np.int64),
        batch_size=batch_size,
        transform=transform,
    )
    val = None
    if X_val is not None and y_val is not None:
        Xv, yv = (
            torch.from_numpy(normalizer.transform(X_val)),
            torch.from_numpy(y_val.astype(np.int64)),
        )
        val = [(Xv[i : i + 1000], yv[i : i + 1000]) for i in range(0, len(Xv), 1000)]
    steps = epochs * math.ceil(len(X_train) / batch_size)
    config = TrainConfig(
        max_epochs=epochs,
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        schedule=schedule,
        warmup_steps=steps // (10 * epochs) if schedule == "cosine" else 0,
        min_lr_ratio=0.02,
        weight_decay=weight_decay,
        patience=patience,
        seed=seed,
        device=device,
        threads=threads,
        progress=progress,
    )
    result = fit(model, classification_loss, train, val_batches=val, config=config)
    with _threads(threads):
        proba = _proba(model, normalizer.transform(X_test), 1000)
    pred = proba.argmax(axis=1) if len(proba) else np.zeros(0, np.int64)
    acc = float(np.mean(pred == y_test)) if y_test is not None and len(pred) else math.nan
    return VisionRun(model, normalizer, result, pred, proba, acc)


class _threads:
    """Pin torch's thread count for a block."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self) -> None:
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.old)


class TorchCNNClassifier(ClassifierMixin, BaseEstimator):
    """A CNN from ``cnn.MODELS`` as a scikit-learn classifier.

    Args:
        model: model name (``"lenet5"``, ``"cnn"``, ``"vgg"``, ``"resnet"``).
        epochs, batch_size, lr, weight_decay: training budget and optimiser (AdamW).
        augment: an :class:`AugmentConfig` for training batches, or ``None``.
        image_shape: (C, H, W) for flat input rows; ``None`` = 4-D input, or square
            single-channel rows (64 features -> 1x8x8).
        random_state: seed of weights, batch order and augmentation.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Attributes:
        classes_: the class labels seen in ``fit``.
        run_: the :class:`VisionRun` (model, normaliser, curves).
    """

    def __init__(
        self,
        model: str = "lenet5",
        epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        augment: AugmentConfig | None = None,
        image_shape: tuple[int, int, int] | None = None,
        random_state: int = 0,
        device: str = "cpu",
    ):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.augment = augment
        self.image_shape = image_shape
        self.random_state = random_state
        self.device = device

    def _images(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 4:
            return X
        if X.ndim != 2:
            raise ValueError(f"X must be (n, C, H, W) or (n, features), got shape {X.shape}")
        if self.image_shape is not None:
            return X.reshape(len(X), *self.image_shape)
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise ValueError(
                f"{X.shape[1]} features are not a square image; pass image_shape=(C, H, W)"
            )
        return X.reshape(len(X), 1, side, side)

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchCNNClassifier:
        """Train on images ``X`` and labels ``y``; returns ``self``."""
        images = self._images(X)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("y has a single class; a classifier needs at least two")
        self.run_ = train_image_model(
            self.model,
            images,
            codes.astype(np.int64),
            images[:0],
            n_classes=len(self.classes_),
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            augment=self.augment,
            seed=self.random_state,
            device=self.device,
        )
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "run_")
        return self.run_.predict_proba(self._images(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class labels."""
        check_is_fitted(self, "run_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
