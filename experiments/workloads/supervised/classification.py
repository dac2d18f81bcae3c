"""Classification as an experiment: our logistic regression and NumPy network against
scikit-learn's k-NN, decision tree, random forest and SVM, on held-out data.

Per trial: accuracy, macro/micro precision, recall and F1, log-loss and ROC AUC on the test
split; the confusion matrix, the ROC curve on a fixed false-positive grid, and for 2-D data
the decision regions over a grid (plotted by the kinds in ``supervised_plots``).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import Field
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    TrialContext,
    TrialResult,
    register,
)
from qmml.experiments.workloads.supervised.common import (
    DataSection,
    Fitted,
    SupervisedWorkload,
    trial_result,
)
from qmml.experiments.workloads.supervised.plots import SUPERVISED_PLOTS
from qmml.supervised.logistic import LogisticRegression
from qmml.supervised.metrics import classification_scores, mean_roc_curve
from qmml.supervised.scratch.mlp import NumpyMLPClassifier

__all__ = ["Classification", "classifier_tables"]

FPR_GRID = np.linspace(0.0, 1.0, 101)  # stored as steps 0..100


def logistic(
    alpha: float = 1e-4,
    learning_rate: float | Literal["auto"] = "auto",
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> LogisticRegression:
    """Our logistic regression (binary sigmoid / multinomial softmax, gradient descent)."""
    return LogisticRegression(alpha=alpha, learning_rate=learning_rate, max_iter=max_iter, tol=tol)


def sklearn_logistic(C: float = 1.0, max_iter: int = 1000) -> BaseEstimator:
    """scikit-learn's ``LogisticRegression`` (L-BFGS), the reference for ours."""
    return SklearnLogisticRegression(C=C, max_iter=max_iter)


def knn(
    n_neighbors: int = 5,
    weights: Literal["uniform", "distance"] = "uniform",
) -> BaseEstimator:
    """k nearest neighbours (scikit-learn)."""
    return KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights)


def svm(
    C: float = 1.0,
    kernel: str = "rbf",
    gamma: float | str = "scale",
) -> BaseEstimator:
    """Support-vector machine with sigmoid-calibrated probabilities (for log-loss and ROC),
    scikit-learn's replacement for the deprecated ``SVC(probability=True)``."""
    return CalibratedClassifierCV(
        SVC(C=C, kernel=kernel, gamma=gamma), method="sigmoid", ensemble=False
    )


class ClassificationSection(DataSection):
    """``env``: the data (see :class:`DataSection`); ``boundary_grid`` points per axis of the
    decision-region grid stored for 2-D data (0: none)."""

    dataset: str = "breast_cancer"
    boundary_grid: int = Field(default=80, ge=0, le=300)


def classifier_tables(
    fit: Fitted,
    grid: int = 0,
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Scalars, curves and curve steps of a fitted classifier, all on held-out rows.

    Scalars: ``test_accuracy``, ``test_{precision,recall,f1}_{macro,micro}``,
    ``test_log_loss``, ``test_roc_auc``, ``train_accuracy``, ``fit_wall_s``. Curves:
    ``confusion`` (k*k, labels of the whole data set), ``roc_tpr`` and, for 2-D data with
    ``grid > 0``, the decision regions and the test points.
    """
    model, labels = fit.model, np.unique(fit.data.y)
    proba = model.predict_proba(fit.X_test)
    pred = model.predict(fit.X_test)
    scores = classification_scores(fit.y_test, pred, proba, labels=list(model.classes_))
    # micro precision and recall equal accuracy for single-label data: keep F1 micro only
    scalars = {
        f"test_{k}": v for k, v in scores.items() if k not in ("precision_micro", "recall_micro")
    }
    scalars["train_accuracy"] = float(np.mean(model.predict(fit.X_train) == fit.y_train))
    scalars["fit_wall_s"] = fit.fit_wall_s
    cm = confusion_matrix(fit.y_test, pred, labels=labels)
    curves: dict[str, np.ndarray] = {
        "confusion": cm.ravel().astype(np.float64),
        "roc_tpr": mean_roc_curve(fit.y_test, proba, list(model.classes_), FPR_GRID),
    }
    steps: dict[str, np.ndarray] = {"roc_tpr": np.arange(len(FPR_GRID))}
    if grid and fit.data.X.shape[1] == 2:
        lo, hi = fit.data.X.min(axis=0), fit.data.X.max(axis=0)
        pad = 0.05 * (hi - lo)
        g1 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid)
        g2 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid)
        G1, G2 = np.meshgrid(g1, g2)  # rows: x2, columns: x1
        regions = model.predict(np.c_[G1.ravel(), G2.ravel()])
        curves |= {
            "grid_x1": g1,
            "grid_x2": g2,
            "grid_class": np.searchsorted(labels, regions).astype(np.float64),
            "test_x1": fit.X_test[:, 0],
            "test_x2": fit.X_test[:, 1],
            "test_label": np.searchsorted(labels, fit.y_test).astype(np.float64),
        }
    return scalars, curves, steps


class Classification(SupervisedWorkload):
    """One classifier, one seed: fit on the training split, score on the test split."""

    name = "classification"
    description = "logistic regression, NumPy MLP, k-NN, trees, forests, SVM on held-out data"
    agent_types = {
        "logistic": logistic,
        "sklearn-logistic": sklearn_logistic,
        "numpy-mlp": NumpyMLPClassifier,
        "knn": knn,
        "decision-tree": DecisionTreeClassifier,
        "random-forest": RandomForestClassifier,
        "svm": svm,
    }
    Env = ClassificationSection
    task = "classification"

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env = self.env_config(spec, agent)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fit = self.fit_trial(spec, agent, ctx)
        scalars, curves, steps = classifier_tables(fit, env.boundary_grid)
        scalars["converged"] = float(
            not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        )
        return trial_result(scalars, curves, steps)

    def notes(self, ctx: PlotContext) -> list[str]:
        return [
            "Every test_* metric is on a held-out split (new per seed, shared by all "
            "models of a seed; stratified by class); scalers are fitted on training rows "
            "only. Compare models within one data set: agents are grouped by data set.",
            "ROC AUC and curves are one-vs-rest macro averages for more than two classes; "
            "F1 micro equals accuracy for single-label problems. converged = 0: an "
            "iterative model stopped at its iteration limit before its tolerance.",
        ]


Classification.plots = {**Classification.plots, **SUPERVISED_PLOTS}
register(Classification())
