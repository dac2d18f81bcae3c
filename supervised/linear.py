"""Linear regression three ways: closed form, batch gradient descent, mini-batch SGD.

All three minimise the same objective, the mean squared error plus an optional ridge
penalty on the weights (never on the intercept)::

    L(w, b) = mean((y - X w - b)^2) + (alpha / n) * ||w||^2

whose minimiser is exactly scikit-learn's ``Ridge(alpha)`` (``LinearRegression`` for
``alpha = 0``). Polynomial features come from ``sklearn.preprocessing.PolynomialFeatures``
(see :func:`polynomial_regression`).
"""

from __future__ import annotations

import warnings
from typing import Literal, TypedDict, Unpack

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["LinearRegression", "polynomial_regression"]

Solver = Literal["closed-form", "gd", "sgd"]


class GDOptions(TypedDict, total=False):
    """Keyword arguments that :func:`polynomial_regression` passes on to
    :class:`LinearRegression` (same meaning and defaults)."""

    learning_rate: float | Literal["auto"]
    max_iter: int
    batch_size: int
    tol: float
    keep_path: bool
    random_state: int | np.random.RandomState | None


def check_gd_params(est: BaseEstimator, *, alpha_none: bool = False) -> None:
    """Validate the gradient-descent parameters shared by the linear and logistic estimators:
    ``alpha`` (L2; None too with ``alpha_none``), ``learning_rate`` ('auto' or > 0),
    ``max_iter`` and ``tol``."""
    if not (
        (alpha_none and est.alpha is None)
        or (isinstance(est.alpha, (int, float)) and est.alpha >= 0)
    ):
        allowed = "None or a number >= 0" if alpha_none else "a number >= 0"
        raise ValueError(f"alpha must be {allowed}, got {est.alpha!r}")
    lr = est.learning_rate
    if lr != "auto" and not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"learning_rate must be 'auto' or a number > 0, got {lr!r}")
    if not (isinstance(est.max_iter, (int, np.integer)) and est.max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {est.max_iter!r}")
    if not (isinstance(est.tol, (int, float)) and est.tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {est.tol!r}")


def looks_scaled(X: np.ndarray) -> bool:
    """Whether the columns of ``X`` look standardised or min-max scaled: every non-constant
    column has a spread within a factor 10 of the others and a centre within 10 spreads of 0.
    Used to word convergence warnings (suggest scaling only where it would help)."""
    std = X.std(axis=0)
    live = std > 0
    if not live.any():
        return True
    s, m = std[live], np.abs(X.mean(axis=0)[live])
    return bool(s.max() <= 10 * s.min() and (m <= 10 * s).all())


def convergence_advice(X: np.ndarray) -> str:
    """The fix a ConvergenceWarning suggests for data ``X``: scaling, or a longer run."""
    if looks_scaled(X):
        return "raise max_iter or set a larger learning_rate (the features are already scaled)"
    return "scale the features (e.g. scaling: standard) or raise max_iter"


class LinearRegression(RegressorMixin, BaseEstimator):
    """Least-squares linear regression with an optional ridge penalty.

    Args:
        solver: ``closed-form`` (solve the normal equations; ``lstsq`` when ``alpha == 0``
            so collinear features still work), ``gd`` (batch gradient descent) or ``sgd``
            (mini-batch stochastic gradient descent, reshuffled every epoch).
        alpha: ridge penalty; 0 for ordinary least squares.
        learning_rate: step size of ``gd``/``sgd``, or ``"auto"``: ``1/L`` for ``gd`` where
            ``L`` is the largest curvature of the loss (always converges, but slowly when
            features have very different scales: that is the lesson of feature scaling), and
            ``1/L_max`` over single samples for ``sgd`` (stable for any batch).
        max_iter: iterations (``gd``) or epochs (``sgd``).
        batch_size: mini-batch size of ``sgd``.
        tol: stop once the full-data gradient norm falls below ``tol`` times its initial
            value (``sgd``: tested after each epoch). ``gd`` and ``sgd`` that stop at
            ``max_iter`` first warn with scikit-learn's ``ConvergenceWarning``; ``tol=0``
            asks for exactly ``max_iter`` steps and never warns.
        keep_path: record ``(coef, intercept)`` after every iteration in ``path_``.
        random_state: seed of the ``sgd`` shuffles.

    Attributes:
        coef_: weights, shape (n_features,).
        intercept_: bias.
        loss_history_: the objective after each iteration / epoch (``gd``, ``sgd``); for
            ``closed-form``, the objective at the solution.
        path_: shape (n_iter + 1, n_features + 1), ``[coef..., intercept]`` from the start
            (zeros) on; only with ``keep_path``.
        n_iter_: iterations or epochs run (1 for ``closed-form``: one solve).
        n_features_in_: number of features seen in ``fit``.
    """

    def __init__(
        self,
        solver: Solver = "closed-form",
        *,
        alpha: float = 0.0,
        learning_rate: float | Literal["auto"] = "auto",
        max_iter: int = 1000,
        batch_size: int = 32,
        tol: float = 1e-6,
        keep_path: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.solver = solver
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.keep_path = keep_path
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.solver not in ("closed-form", "gd", "sgd"):
            raise ValueError(f"solver must be 'closed-form', 'gd' or 'sgd', got {self.solver!r}")
        check_gd_params(self)
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearRegression:
        """Fit to ``X`` (n_samples, n_features) and ``y`` (n_samples,).

        Raises:
            ValueError: a bad parameter, or invalid ``X``/``y`` (NaN, wrong shapes, empty).
        """
        self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if self.solver == "closed-form":
            self.coef_, self.intercept_ = _closed_form(X, y, float(self.alpha))
            self.loss_history_ = np.array(
                [_objective(X, y, self.coef_, self.intercept_, float(self.alpha))]
            )
            self.n_iter_ = 1  # one linear solve
            if self.keep_path:
                self.path_ = np.r_[self.coef_, self.intercept_][None, :]
            return self
        self._descend(X, y)
        return self

    def _descend(self, X: np.ndarray, y: np.ndarray) -> None:
        n, d = X.shape
        alpha = float(self.alpha)
        sgd = self.solver == "sgd"
        rng = check_random_state(self.random_state)
        if self.learning_rate == "auto":
            if sgd:
                # Each mini-batch gradient's curvature is at most the largest per-sample one.
                curv = 2.0 * float(np.max(np.sum(X**2, axis=1) + 1.0)) + 2.0 * alpha / n
            else:
                sigma = np.linalg.norm(np.c_[X, np.ones(n)], 2)  # largest singular value
                curv = 2.0 * sigma**2 / n + 2.0 * alpha / n
            lr = 1.0 / curv
        else:
            lr = float(self.learning_rate)
        w, b = np.zeros(d), 0.0
        losses, path = [], [np.r_[w, b]]
        gw, gb = _gradient(X, y, w, b, alpha, n)
        g0 = float(np.linalg.norm(np.r_[gw, gb]))
        batch = min(int(self.batch_size), n)
        it = 0
        for it in range(1, int(self.max_iter) + 1):
            if sgd:
                order = rng.permutation(n)
                for start in range(0, n, batch):
                    idx = order[start : start + batch]
                    gw, gb = _gradient(X[idx], y[idx], w, b, alpha, n)
                    w, b = w - lr * gw, b - lr * gb
            else:  # the gradient at (w, b) was computed for the stopping test below
                w, b = w - lr * gw, b - lr * gb
            loss = _objective(X, y, w, b, alpha)
            if not np.isfinite(loss):
                raise ValueError(
                    f"{self.solver} diverged at iteration {it} (loss {loss}); "
                    f"lower learning_rate (got {self.learning_rate!r}) or scale "
                    "the features"
                )
            losses.append(loss)
            if self.keep_path:
                path.append(np.r_[w, b])
            gw, gb = _gradient(X, y, w, b, alpha, n)
            if np.linalg.norm(np.r_[gw, gb]) <= self.tol * max(g0, 1e-300):
                break
        else:
            if self.tol > 0:
                what = "epochs" if sgd else "iterations"
                warnings.warn(
                    f"{'stochastic ' if sgd else ''}gradient descent stopped after "
                    f"max_iter={self.max_iter} {what} before reaching tol={self.tol}; "
                    + convergence_advice(X),
                    ConvergenceWarning,
                    stacklevel=3,
                )
        self.coef_, self.intercept_ = w, float(b)
        self.loss_history_ = np.asarray(losses)
        self.n_iter_ = it
        if self.keep_path:
            self.path_ = np.asarray(path)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions ``X @ coef_ + intercept_``, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_


def _closed_form(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    # Centring removes the intercept from the system (it is not penalised).
    x_mean, y_mean = X.mean(axis=0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    if alpha == 0:
        w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    else:
        w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ yc)
    return w, float(y_mean - x_mean @ w)


def _objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, alpha: float) -> float:
    r = y - X @ w - b
    return float(np.mean(r**2) + alpha / len(y) * (w @ w)) if len(y) else 0.0


def _gradient(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, alpha: float, n_total: int
) -> tuple[np.ndarray, float]:
    """Gradient of the objective on the rows given (a batch estimates the full one)."""
    r = X @ w + b - y
    m = len(y)
    return 2.0 / m * (X.T @ r) + 2.0 * alpha / n_total * w, 2.0 / m * float(r.sum())


def polynomial_regression(
    degree: int, *, alpha: float = 0.0, solver: Solver = "closed-form", **kwargs: Unpack[GDOptions]
) -> Pipeline:
    """Polynomial features of ``degree`` -> standardisation -> :class:`LinearRegression`.

    Standardising the expanded features keeps the normal equations (and gradient descent)
    well conditioned at high degree; inside the pipeline the scaler sees training rows only.

    Raises:
        ValueError: ``degree`` is not an integer >= 1.
    """
    if not (isinstance(degree, (int, np.integer)) and degree >= 1):
        raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
    return make_pipeline(
        PolynomialFeatures(int(degree), include_bias=False),
        StandardScaler(),
        LinearRegression(solver, alpha=alpha, **kwargs),
    )
