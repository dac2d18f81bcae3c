"""Metrics and diagnostics: scikit-learn's metrics, grouped, plus the curves that show
under- and overfitting and k-fold cross-validation.

The per-number metrics are scikit-learn's (well tested; re-exported here so one import gives
the lecture's set). What this module adds: dictionaries of the lecture's metrics in one call,
ROC curves resampled on a fixed false-positive grid (so curves from several seeds can be
averaged), and learning / validation curves and k-fold scores expressed as *errors*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    roc_curve,
    root_mean_squared_error,
)
from sklearn.model_selection import (
    KFold,
    StratifiedKFold,
    cross_val_score,
    learning_curve,
    validation_curve,
)

__all__ = [
    "accuracy_score",
    "classification_scores",
    "confusion_matrix",
    "cross_validate_error",
    "f1_score",
    "kfold",
    "learning_curve_error",
    "log_loss",
    "mean_absolute_error",
    "mean_roc_curve",
    "mean_squared_error",
    "precision_score",
    "r2_score",
    "recall_score",
    "regression_scores",
    "roc_auc_score",
    "roc_curve",
    "root_mean_squared_error",
    "validation_curve_error",
]


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``{"mse", "rmse", "mae", "r2"}`` of predictions against targets."""
    return {
        "mse": float(mean_squared_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


def classification_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None = None,
    labels: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Accuracy, macro/micro precision, recall and F1, and (given class probabilities with
    columns in ``labels`` order) log-loss and ROC AUC (one-vs-rest macro for >2 classes).

    Raises:
        ValueError: ``proba`` given without ``labels``.
    """
    out = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for avg in ("macro", "micro"):
        kw: dict[str, Any] = {"average": avg, "zero_division": 0, "labels": labels}
        out[f"precision_{avg}"] = float(precision_score(y_true, y_pred, **kw))
        out[f"recall_{avg}"] = float(recall_score(y_true, y_pred, **kw))
        out[f"f1_{avg}"] = float(f1_score(y_true, y_pred, **kw))
    if proba is not None:
        if labels is None:
            raise ValueError(
                "classification_scores: pass labels (the classes in proba's "
                "column order) together with proba"
            )
        labels = list(labels)
        out["log_loss"] = float(log_loss(y_true, proba, labels=labels))
        present = np.isin(labels, np.unique(y_true))
        if present.sum() >= 2:  # AUC needs both a positive and a negative class
            if len(labels) == 2:
                out["roc_auc"] = float(roc_auc_score(y_true == labels[1], proba[:, 1]))
            else:
                out["roc_auc"] = float(
                    roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
                )
    return out


def mean_roc_curve(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[Any], fpr_grid: np.ndarray
) -> np.ndarray:
    """True-positive rate on ``fpr_grid``: the ROC curve of the positive class for two
    classes, else the macro average of one-vs-rest curves (classes absent from ``y_true``
    skipped). Resampling on a fixed grid lets curves from several seeds be averaged."""
    labels = list(labels)
    columns = [1] if len(labels) == 2 else range(len(labels))
    tprs = []
    for j in columns:
        positive = np.asarray(y_true) == labels[j]
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, j])
        tprs.append(np.interp(fpr_grid, fpr, tpr))
    return np.mean(tprs, axis=0) if tprs else np.full(len(fpr_grid), np.nan)


def kfold(estimator: BaseEstimator, n_splits: int = 5, seed: int = 0) -> KFold | StratifiedKFold:
    """Shuffled k-fold splitter; stratified for classifiers (class shares kept per fold)."""
    cls = StratifiedKFold if is_classifier(estimator) else KFold
    return cls(n_splits=n_splits, shuffle=True, random_state=seed)


def _error_scoring(estimator: BaseEstimator, scoring: str | None) -> tuple[str, float]:
    """A scikit-learn scorer name and the sign that turns its score into an error."""
    if scoring is None:
        scoring = "accuracy" if is_classifier(estimator) else "neg_root_mean_squared_error"
    # "neg_*" scorers are negated errors; any other score (accuracy, r2) becomes 1 - score
    return scoring, -1.0 if scoring.startswith("neg_") else 0.0


def _to_error(scores: np.ndarray, sign: float) -> np.ndarray:
    return -scores if sign else 1.0 - scores


def cross_validate_error(
    estimator: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int = 5,
    seed: int = 0,
    scoring: str | None = None,
) -> np.ndarray:
    """Held-out error of each of ``n_splits`` folds (each fold's model is a fresh clone fitted
    on the other folds only; put scalers in a ``Pipeline`` so they are too).

    ``scoring``: a scikit-learn scorer name; default RMSE for regressors and accuracy for
    classifiers. ``neg_*`` scorers are reported as the error itself, others as ``1 - score``.
    """
    scoring, sign = _error_scoring(estimator, scoring)
    scores = cross_val_score(
        clone(estimator), X, y, cv=kfold(estimator, n_splits, seed), scoring=scoring
    )
    return _to_error(scores, sign)


def learning_curve_error(
    estimator: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    *,
    train_sizes: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0),
    n_splits: int = 5,
    seed: int = 0,
    scoring: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training and validation error against training-set size (k-fold on ``X, y``).

    Returns:
        ``(sizes, train_error, val_error)``; errors have shape (len(sizes), n_splits).
        A large gap between them means overfitting, both high means underfitting.
    """
    scoring, sign = _error_scoring(estimator, scoring)
    sizes, tr, va = learning_curve(
        clone(estimator),
        X,
        y,
        train_sizes=np.asarray(train_sizes),
        cv=kfold(estimator, n_splits, seed),
        scoring=scoring,
        shuffle=True,
        random_state=seed,
    )
    return sizes, _to_error(tr, sign), _to_error(va, sign)


def validation_curve_error(
    estimator: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    *,
    param_name: str,
    param_range: Sequence[Any],
    n_splits: int = 5,
    seed: int = 0,
    scoring: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation error against one hyper-parameter (e.g. a polynomial degree
    or a ridge ``alpha``; for a pipeline use ``step__param`` names).

    Returns:
        ``(train_error, val_error)``, each of shape (len(param_range), n_splits).
    """
    scoring, sign = _error_scoring(estimator, scoring)
    tr, va = validation_curve(
        clone(estimator),
        X,
        y,
        param_name=param_name,
        param_range=list(param_range),
        cv=kfold(estimator, n_splits, seed),
        scoring=scoring,
    )
    return _to_error(tr, sign), _to_error(va, sign)
