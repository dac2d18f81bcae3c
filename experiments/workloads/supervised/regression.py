"""Regression lectures as an experiment: gradient descent vs the closed form (with the loss
surface and the descent path), feature scaling, and polynomial degree / ridge sweeps that
show under- and overfitting through validation and learning curves.

Every ``test_*`` metric is on the held-out split; ``train_*`` are shown only next to them.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import Field, field_validator
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression as SklearnLinearRegression
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    register,
)
from qmml.experiments.workloads.supervised.common import (
    DataSection,
    Fitted,
    SupervisedWorkload,
    downsample,
    trial_result,
)
from qmml.experiments.workloads.supervised.plots import SUPERVISED_PLOTS
from qmml.supervised.data import Dataset
from qmml.supervised.linear import LinearRegression, polynomial_regression
from qmml.supervised.metrics import cross_validate_error, learning_curve_error, regression_scores

__all__ = ["Regression"]

_LC_SIZES = (0.2, 0.4, 0.6, 0.8, 1.0)


def linear_closed_form(alpha: float = 0.0) -> LinearRegression:
    """Least squares (ridge for ``alpha > 0``) solved directly."""
    return LinearRegression("closed-form", alpha=alpha)


def linear_gd(
    learning_rate: float | Literal["auto"] = "auto",
    max_iter: int = 1000,
    tol: float = 1e-6,
    alpha: float = 0.0,
) -> LinearRegression:
    """Batch gradient descent on the mean squared error."""
    return LinearRegression(
        "gd", learning_rate=learning_rate, max_iter=max_iter, tol=tol, alpha=alpha
    )


def linear_sgd(
    learning_rate: float | Literal["auto"] = "auto",
    max_iter: int = 100,
    batch_size: int = 8,
    alpha: float = 0.0,
) -> LinearRegression:
    """Mini-batch stochastic gradient descent (``max_iter`` epochs)."""
    return LinearRegression(
        "sgd", learning_rate=learning_rate, max_iter=max_iter, batch_size=batch_size, alpha=alpha
    )


def polynomial(degree: int = 2, alpha: float = 0.0) -> Pipeline:
    """Polynomial features -> standardisation -> closed-form least squares / ridge."""
    return polynomial_regression(degree, alpha=alpha)


def sklearn_linear(alpha: float = 0.0) -> BaseEstimator:
    """scikit-learn's ``LinearRegression`` (``Ridge`` for ``alpha > 0``), the reference."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return Ridge(alpha=alpha) if alpha > 0 else SklearnLinearRegression()


class RegressionSection(DataSection):
    """``env``: the data (see :class:`DataSection`) and which diagnostics a trial records.

    Attributes:
        learning_curve: record k-fold learning curves on the training split.
        surface_grid: points per axis of the loss-surface grid stored for gradient-descent
            models on one-feature data (0: none).
    """

    dataset: str = "salary"
    scaling: Literal["none", "standard", "minmax"] = "none"
    learning_curve: bool = False
    surface_grid: int = Field(default=40, ge=0, le=200)


class RegressionBudgetSection(StrictModel):
    """``budget``: ``cv_folds`` for the k-fold ``cv_rmse`` and learning curves (0: off)."""

    cv_folds: int = Field(default=5, ge=0, le=20)

    @field_validator("cv_folds")
    @classmethod
    def _not_one(cls, v: int) -> int:
        if v == 1:
            raise ValueError("k-fold needs at least 2 folds; use 0 to turn it off")
        return v


class Regression(SupervisedWorkload):
    """One regression model, one seed: fit on the training split, score on the test split.

    Scalars: ``test_mse``, ``test_rmse``, ``test_mae``, ``test_r2``, ``train_rmse``,
    ``train_r2``, ``cv_rmse`` (k-fold on the training split), ``iterations``, ``converged``
    (1/0, gradient descent), ``fit_wall_s``. Curves: ``loss`` (objective per iteration),
    the loss surface and descent path, learning curves (see ``supervised_plots``).
    """

    name = "regression"
    description = "linear regression by closed form / GD / SGD, scaling, polynomial degree"
    agent_types = {
        "linear-closed-form": linear_closed_form,
        "linear-gd": linear_gd,
        "linear-sgd": linear_sgd,
        "polynomial": polynomial,
        "sklearn-linear": sklearn_linear,
    }
    Env = RegressionSection
    Budget = RegressionBudgetSection
    task = "regression"

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env = self.env_config(spec, agent)
        budget = self.budget_config(spec)

        def prepare(est: BaseEstimator, data: Dataset) -> None:
            if (
                isinstance(est, LinearRegression)
                and est.solver != "closed-form"
                and env.surface_grid
                and data.X.shape[1] == 1
            ):
                est.set_params(keep_path=True)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fit = self.fit_trial(spec, agent, ctx, prepare)
        est = fit.estimator
        test = regression_scores(fit.y_test, fit.model.predict(fit.X_test))
        train = regression_scores(fit.y_train, fit.model.predict(fit.X_train))
        scalars = {f"test_{k}": v for k, v in test.items()}
        scalars |= {
            "train_rmse": train["rmse"],
            "train_r2": train["r2"],
            "iterations": float(getattr(est, "n_iter_", 1)),
            "converged": float(not any(issubclass(w.category, ConvergenceWarning) for w in caught)),
            "fit_wall_s": fit.fit_wall_s,
        }
        curves: dict[str, np.ndarray] = {}
        steps: dict[str, np.ndarray] = {}
        history = getattr(est, "loss_history_", np.array([]))
        if len(history) > 1:
            keep = downsample(history, 500)
            curves["loss"], steps["loss"] = history[keep], keep + 1
        if hasattr(est, "path_") and len(est.path_) > 1:
            self._surface(fit, env.surface_grid, curves, steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if budget.cv_folds:
                scalars["cv_rmse"] = float(
                    np.mean(
                        cross_validate_error(
                            clone(fit.model),
                            fit.X_train,
                            fit.y_train,
                            n_splits=budget.cv_folds,
                            seed=fit.split_seed,
                        )
                    )
                )
            if env.learning_curve:
                sizes, tr, va = learning_curve_error(
                    clone(fit.model),
                    fit.X_train,
                    fit.y_train,
                    train_sizes=_LC_SIZES,
                    n_splits=budget.cv_folds or 5,
                    seed=fit.split_seed,
                )
                for name, err in (("lc_train_rmse", tr), ("lc_val_rmse", va)):
                    curves[name], steps[name] = err.mean(axis=1), sizes
        return trial_result(scalars, curves, steps)

    @staticmethod
    def _surface(
        fit: Fitted, grid: int, curves: dict[str, np.ndarray], steps: dict[str, np.ndarray]
    ) -> None:
        """The training MSE over a (w, b) grid around the path, in the model's own features
        (after any scaler), and the descent path itself."""
        model = fit.model
        x = (model[:-1].transform(fit.X_train) if isinstance(model, Pipeline) else fit.X_train)[
            :, 0
        ]
        y = fit.y_train
        path = fit.estimator.path_
        ref = linear_closed_form().fit(x[:, None], y)
        w_opt, b_opt = float(ref.coef_[0]), ref.intercept_
        axes = []
        for col, opt in ((0, w_opt), (1, b_opt)):
            lo, hi = min(path[:, col].min(), opt), max(path[:, col].max(), opt)
            pad = 0.15 * max(hi - lo, 0.1 * abs(opt), 1e-9)
            axes.append(np.linspace(lo - pad, hi + pad, grid))
        w, b = axes
        # mean((y - w x - b)^2) expanded, so the grid costs O(grid^2), not O(grid^2 * n)
        mx, mxx, my, myy, mxy = x.mean(), (x * x).mean(), y.mean(), (y * y).mean(), (x * y).mean()
        W, B = np.meshgrid(w, b)  # rows: b, columns: w
        mse = myy - 2 * W * mxy - 2 * B * my + W**2 * mxx + 2 * W * B * mx + B**2
        keep = downsample(path, 300)
        curves |= {
            "surface_w": w,
            "surface_b": b,
            "surface_mse": mse.ravel(),
            "path_w": path[keep, 0],
            "path_b": path[keep, 1],
        }
        steps |= {"path_w": keep + 1, "path_b": keep + 1}

    def notes(self, ctx: PlotContext) -> list[str]:
        return [
            "All test_* metrics are on a held-out split (a new split per seed, the same "
            "for every model of a seed); scalers are fitted on training rows only. "
            "cv_rmse is k-fold cross-validation inside the training split.",
            "converged = 0 means gradient descent hit max_iter first: with raw, unscaled "
            "features the loss surface is a long narrow valley and descent crawls.",
        ]


Regression.plots = {**Regression.plots, **SUPERVISED_PLOTS}
register(Regression())
