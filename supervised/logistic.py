"""Logistic regression by gradient descent: binary (sigmoid) and multinomial (softmax), L2.

Objective, with ``P`` the predicted class probabilities and the penalty on weights only::

    L(W, b) = mean cross-entropy(y, P) + (alpha / 2) * ||W||^2

With ``alpha = 1 / (C * n_samples)`` this is scikit-learn's ``LogisticRegression(C=C)``
objective divided by ``C * n``: the same minimiser. The default ``alpha=None`` is
``1 / n_samples`` of the rows ``fit`` sees, scikit-learn's default ``C=1`` (for 426 training
rows of breast cancer, ``alpha = 0.00235``; conversely ``C = 1 / (alpha * n)``).
Probabilities are computed from logits with a log-sum-exp, so logits of +-1000 give finite
log-losses (see :func:`log_softmax`).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from qmml.supervised.linear import check_gd_params, convergence_advice
from qmml.supervised.scratch.nn import log_softmax

__all__ = ["LogisticRegression"]


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression fitted by full-batch gradient descent.

    Two classes use one weight vector and the sigmoid; more use one weight vector per class
    and the softmax (multinomial logistic regression).

    Args:
        alpha: L2 penalty on the weights (not the intercept); None (default) is
            ``1 / n_samples``, the same fit as scikit-learn's ``LogisticRegression()``
            (``C=1``). A fixed ``alpha`` equals ``C = 1 / (alpha * n_samples)``.
        learning_rate: step size, or ``"auto"``: ``1/L`` with ``L`` a bound on the loss's
            curvature (``||[X, 1]||^2 / (4n)`` binary, ``/ (2n)`` softmax, plus ``alpha``),
            which always converges.
        max_iter: gradient steps at most (plain gradient descent needs thousands on
            standardised data at ``C=1``; stopping here first warns).
        tol: stop once the gradient norm falls below ``tol`` times its initial value.

    Attributes:
        classes_: the class labels.
        coef_: shape (1, n_features) for two classes, else (n_classes, n_features).
        intercept_: shape (1,) or (n_classes,).
        loss_history_: objective after each step.
        n_iter_: steps taken.
        n_features_in_: number of features seen in ``fit``.
    """

    def __init__(
        self,
        *,
        alpha: float | None = None,
        learning_rate: float | Literal["auto"] = "auto",
        max_iter: int = 20_000,
        tol: float = 1e-6,
    ):
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self) -> None:
        check_gd_params(self, alpha_none=True)

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticRegression:
        """Fit to ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,).

        Raises:
            ValueError: a bad parameter, invalid data, a continuous target, or one class only.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        k = len(self.classes_)
        if k < 2:
            raise ValueError(
                f"need samples of at least 2 classes to fit, got 1 class ({self.classes_[0]!r})"
            )
        yi = enc.transform(y)
        n, d = X.shape
        binary = k == 2
        alpha = 1.0 / n if self.alpha is None else float(self.alpha)  # None: sklearn's C=1
        if self.learning_rate == "auto":
            sigma2 = np.linalg.norm(np.c_[X, np.ones(n)], 2) ** 2
            lr = 1.0 / (sigma2 / ((4.0 if binary else 2.0) * n) + alpha)
        else:
            lr = float(self.learning_rate)
        targets = yi.astype(np.float64)[:, None] if binary else np.eye(k)[yi]
        W = np.zeros((d, targets.shape[1]))
        b = np.zeros(targets.shape[1])
        losses = []
        loss, gW, gb = self._loss_grad(X, targets, W, b, alpha, binary)
        g0 = float(np.sqrt((gW**2).sum() + (gb**2).sum()))
        it = 0
        for it in range(1, int(self.max_iter) + 1):
            W, b = W - lr * gW, b - lr * gb
            loss, gW, gb = self._loss_grad(X, targets, W, b, alpha, binary)
            if not np.isfinite(loss):
                raise ValueError(
                    f"gradient descent diverged at step {it}; lower learning_rate "
                    f"(got {self.learning_rate!r}) or scale the features"
                )
            losses.append(loss)
            if np.sqrt((gW**2).sum() + (gb**2).sum()) <= self.tol * max(g0, 1e-300):
                break
        else:
            if self.tol > 0:
                warnings.warn(
                    f"logistic regression stopped after max_iter={self.max_iter} "
                    f"steps before reaching tol={self.tol}; " + convergence_advice(X),
                    ConvergenceWarning,
                    stacklevel=2,
                )
        self.coef_, self.intercept_ = W.T.copy(), b.copy()
        self.loss_history_ = np.asarray(losses)
        self.n_iter_ = it
        return self

    @staticmethod
    def _loss_grad(
        X: np.ndarray, T: np.ndarray, W: np.ndarray, b: np.ndarray, alpha: float, binary: bool
    ) -> tuple[float, np.ndarray, np.ndarray]:
        n = len(X)
        Z = X @ W + b
        if binary:
            # -[t log s(z) + (1-t) log(1-s(z))] = log(1 + e^z) - t z, computed stably
            data = float(np.mean(np.logaddexp(0.0, Z) - T * Z))
            R = _sigmoid(Z) - T
        else:
            logp = log_softmax(Z)
            data = float(-np.sum(T * logp) / n)
            R = np.exp(logp) - T  # softmax(Z) - T, from the log-probabilities already at hand
        loss = data + 0.5 * alpha * float((W**2).sum())
        return loss, X.T @ R / n + alpha * W, R.mean(axis=0)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits: shape (n_samples,) for two classes (positive = ``classes_[1]``), else
        (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Z = X @ self.coef_.T + self.intercept_
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_log_proba(self, X: np.ndarray) -> np.ndarray:
        """Log class probabilities, shape (n_samples, n_classes); finite for huge logits."""
        Z = self.decision_function(X)
        if Z.ndim == 1:
            Z = np.c_[np.zeros_like(Z), Z]  # sigmoid(z) = softmax([0, z])[1]
        return log_softmax(Z)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), rows summing to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class label per sample."""
        Z = self.decision_function(X)
        idx = (Z > 0).astype(int) if Z.ndim == 1 else np.argmax(Z, axis=1)
        return self.classes_[idx]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow for any z
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
