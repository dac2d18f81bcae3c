"""Supervised learning from the lectures: regression, neural networks in NumPy (and their
PyTorch twins), classification, CNNs and sequence models, with data, metrics and diagnostics.

Every tabular estimator follows the scikit-learn contract and passes ``check_estimator``. The
PyTorch models (``qmml.supervised.deep``) are imported on first use, so ``import
qmml.supervised`` does not load torch. Data per modality: tabular ``Dataset``, image arrays
``(n, C, H, W)`` (``images``), token corpora (``text``).
"""

import importlib
from typing import Any

from qmml.supervised.data import (
    DataError,
    Dataset,
    load_csv,
    load_dataset,
    load_salary,
    make_scaler,
    make_sine,
    make_spiral,
    scaled,
    split,
)
from qmml.supervised.images import (
    ChannelNormalizer,
    ImageData,
    ImageSplit,
    load_digits_images,
    load_idx,
    load_mnist,
    load_npz,
    split_images,
)
from qmml.supervised.linear import LinearRegression, polynomial_regression
from qmml.supervised.logistic import LogisticRegression
from qmml.supervised.metrics import (
    classification_scores,
    cross_validate_error,
    learning_curve_error,
    mean_roc_curve,
    regression_scores,
    validation_curve_error,
)
from qmml.supervised.scratch.mlp import NumpyMLPClassifier, NumpyMLPRegressor
from qmml.supervised.scratch.nn import Sequential, build_mlp, gradient_check, log_softmax, softmax

__all__ = [
    "ChannelNormalizer",
    "DataError",
    "Dataset",
    "ImageData",
    "ImageSplit",
    "LinearRegression",
    "LogisticRegression",
    "NumpyMLPClassifier",
    "NumpyMLPRegressor",
    "Sequential",
    "TorchCNNClassifier",
    "TorchMLPClassifier",
    "TorchMLPRegressor",
    "build_mlp",
    "classification_scores",
    "cross_validate_error",
    "gradient_check",
    "learning_curve_error",
    "load_csv",
    "load_dataset",
    "load_digits_images",
    "load_idx",
    "load_mnist",
    "load_npz",
    "load_salary",
    "log_softmax",
    "make_scaler",
    "make_sine",
    "make_spiral",
    "mean_roc_curve",
    "polynomial_regression",
    "regression_scores",
    "scaled",
    "softmax",
    "split",
    "split_images",
    "validation_curve_error",
]

_TORCH = {"TorchMLPClassifier": "mlp", "TorchMLPRegressor": "mlp", "TorchCNNClassifier": "vision"}


def __getattr__(name: str) -> Any:
    if name in _TORCH:  # torch loads here, on first use
        return getattr(importlib.import_module(f"qmml.supervised.deep.{_TORCH[name]}"), name)
    raise AttributeError(f"module 'qmml.supervised' has no attribute {name!r}")
