"""Forecasting a series from its lags (NumPy and scikit-learn; torch models live in
:mod:`qmml.supervised.deep.forecast`): windows at forecast origins, a scaler fitted on the
training rows alone, and the classical models — ridge AR(p) in closed form and gradient
boosted trees (``HistGradientBoostingRegressor``) on the lags.

A forecast *origin* ``t`` is a day index: the model reads ``series[t - W + 1 .. t]`` and
forecasts a target known only after t. Windows never look past their origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Scaler", "fit_gbt", "fit_ridge", "lag_windows"]


@dataclass(frozen=True)
class Scaler:
    """Standardisation ``(x - mean) / std`` with statistics of the rows it was fitted on.

    Attributes:
        mean, std: per column (or scalars for a 1-d fit); ``std`` is never 0.
    """

    mean: np.ndarray
    std: np.ndarray

    @staticmethod
    def fit(values: np.ndarray) -> Scaler:
        """Fit on ``values`` (the training rows only, shape (n,) or (n, k)), ignoring NaN.

        Raises:
            ValueError: no finite value in some column.
        """
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0 or not np.isfinite(v).any(axis=0).all():
            raise ValueError("Scaler.fit needs at least one finite value per column")
        mean = np.nanmean(v, axis=0)
        std = np.nanstd(v, axis=0)
        return Scaler(np.asarray(mean), np.asarray(np.where(std > 0, std, 1.0)))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardised ``x``."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """``z`` back in the original units."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


def lag_windows(series: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """Rows ``series[t - window + 1 .. t]`` for each origin t, oldest first: (len(origins), W).

    Raises:
        ValueError: an origin whose window starts before the series or ends past it.
    """
    s = np.asarray(series, dtype=np.float64)
    o = np.asarray(origins, dtype=np.int64)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if o.size and (o.min() - window + 1 < 0 or o.max() >= s.size):
        raise ValueError(
            f"origins {o.min()}..{o.max()} with window {window} fall outside a series of "
            f"{s.size} values"
        )
    return s[o[:, None] + np.arange(-window + 1, 1)]


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge regression coefficients ``(W + 1,)`` (intercept last, not penalised).

    Forecast with ``x @ coef[:-1] + coef[-1]``.

    Raises:
        ValueError: ``alpha < 0``.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    X = np.column_stack([x, np.ones(len(x))])
    pen = alpha * np.eye(X.shape[1])
    pen[-1, -1] = 0.0
    return np.linalg.solve(X.T @ X + pen, X.T @ np.asarray(y, dtype=np.float64))


def fit_gbt(
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_iter: int,
    learning_rate: float,
    max_leaf_nodes: int,
    min_samples_leaf: int,
    l2_regularization: float,
    seed: int,
):
    """A ``HistGradientBoostingRegressor`` on the lags (no early stopping: a fixed budget).

    Returns:
        The fitted regressor (``.predict(x)``).
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(
        max_iter=max_iter,
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min_samples_leaf,
        l2_regularization=l2_regularization,
        early_stopping=False,
        random_state=seed,
    )
    return model.fit(x, y)
