"""Supervised learning from the lectures: regression, neural networks in NumPy (and their
PyTorch twins), classification, with data, metrics and diagnostics.

Every estimator follows the scikit-learn contract and passes ``check_estimator``. The PyTorch
estimators are imported on first use, so ``import supervised`` does not load torch.
"""

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
    "DataError",
    "Dataset",
    "LinearRegression",
    "LogisticRegression",
    "NumpyMLPClassifier",
    "NumpyMLPRegressor",
    "Sequential",
    "TorchMLPClassifier",
    "TorchMLPRegressor",
    "build_mlp",
    "classification_scores",
    "cross_validate_error",
    "gradient_check",
    "learning_curve_error",
    "load_csv",
    "load_dataset",
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
    "validation_curve_error",
]

_TORCH = ("TorchMLPClassifier", "TorchMLPRegressor")


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from qmml.supervised.deep import mlp as torch_nn

        return getattr(torch_nn, name)
    raise AttributeError(f"module 'qmml.supervised' has no attribute {name!r}")
