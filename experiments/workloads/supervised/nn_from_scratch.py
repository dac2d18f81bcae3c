"""Neural networks from scratch: the NumPy network against the same network in PyTorch and
scikit-learn's ``MLPClassifier``, on spiral and digits data; accuracy, loss curves, wall time,
and activations compared.

Every model of a trial trains for the budget's ``epochs`` (no early stopping unless an agent
asks for it), with the same hyper-parameter names for all three implementations.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import Field
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    register,
)
from qmml.experiments.workloads.supervised.classification import classifier_tables
from qmml.experiments.workloads.supervised.common import (
    DataSection,
    SupervisedWorkload,
    trial_result,
)
from qmml.experiments.workloads.supervised.plots import SUPERVISED_PLOTS
from qmml.supervised.scratch.mlp import NumpyMLPClassifier

__all__ = ["NNFromScratch", "sklearn_mlp"]


def torch_mlp(
    hidden_layer_sizes: tuple[int, ...] = (64,),
    activation: str = "relu",
    solver: str = "adam",
    learning_rate: float = 1e-3,
    momentum: float = 0.9,
    batch_size: int = 32,
    max_epochs: int = 200,
    alpha: float = 0.0,
    early_stopping: bool = False,
    validation_fraction: float = 0.1,
    patience: int = 10,
    tol: float = 1e-4,
    dtype: str = "float64",
    random_state: int | None = None,
) -> BaseEstimator:
    """:class:`qmml.supervised.deep.mlp.TorchMLPClassifier` (parameters as the NumPy network)."""
    params = dict(locals())
    from qmml.supervised.deep.mlp import TorchMLPClassifier  # torch loads only when used

    return TorchMLPClassifier(**params)


def sklearn_mlp(
    hidden_layer_sizes: tuple[int, ...] = (64,),
    activation: Literal["relu", "tanh", "sigmoid", "identity"] = "relu",
    solver: Literal["adam", "sgd"] = "adam",
    learning_rate: float = 1e-3,
    momentum: float = 0.9,
    batch_size: int = 32,
    max_epochs: int = 200,
    alpha: float = 0.0,
    early_stopping: bool = False,
    validation_fraction: float = 0.1,
    patience: int = 10,
    tol: float = 1e-4,
    random_state: int | None = None,
) -> BaseEstimator:
    """scikit-learn's ``MLPClassifier`` under the NumPy network's parameter names.

    It runs exactly ``max_epochs`` epochs unless ``early_stopping`` (its own tolerance-based
    stop is turned off). Its ``alpha`` is scaled by the batch size in scikit-learn's way.
    """
    return MLPClassifier(
        hidden_layer_sizes=hidden_layer_sizes,
        activation="logistic" if activation == "sigmoid" else activation,
        solver=solver,
        learning_rate_init=learning_rate,
        momentum=momentum,
        nesterovs_momentum=False,
        batch_size=batch_size,
        max_iter=max_epochs,
        alpha=alpha,
        early_stopping=early_stopping,
        validation_fraction=validation_fraction,
        n_iter_no_change=patience if early_stopping else max_epochs + 1,
        tol=tol if early_stopping else 0.0,
        random_state=random_state,
    )


_WARM: list[bool] = []


def _warm_up_torch() -> None:
    """One tiny fit per process: PyTorch's first backward pass pays one-off initialisation
    (about a second) that would otherwise land in the first torch trial's wall time."""
    if not _WARM:
        from qmml.supervised.deep.mlp import TorchMLPClassifier

        rng = np.random.default_rng(0)
        TorchMLPClassifier((4,), max_epochs=2, random_state=0).fit(
            rng.normal(size=(16, 2)), np.arange(16) % 2
        )
        _WARM.append(True)


class NNSection(DataSection):
    """``env``: the data (see :class:`DataSection`), spiral by default; ``boundary_grid`` points
    per axis of the decision-region grid for 2-D data (0: none)."""

    dataset: str = "spiral"
    boundary_grid: int = Field(default=60, ge=0, le=300)


class NNBudgetSection(StrictModel):
    """``budget``: epochs every network trains for."""

    epochs: int = Field(default=200, ge=1, le=100_000)


class NNFromScratch(SupervisedWorkload):
    """One network, one seed. Scalars: the classification metrics on the test split (see
    ``classifier_tables``), ``epochs``, ``fit_wall_s`` and ``epoch_wall_s``. Curves:
    ``train_loss`` per epoch, ``val_loss`` (or ``val_accuracy`` for scikit-learn) per epoch
    with early stopping."""

    name = "nn-from-scratch"
    description = "NumPy MLP vs PyTorch vs scikit-learn MLP: accuracy, loss curves, wall time"
    agent_types = {
        "numpy-mlp": NumpyMLPClassifier,
        "torch-mlp": torch_mlp,
        "sklearn-mlp": sklearn_mlp,
    }
    Env = NNSection
    Budget = NNBudgetSection
    task = "classification"
    reserved = ("random_state", "max_epochs")

    def build(self, spec: ExperimentSpec, agent: ResolvedAgent) -> BaseEstimator:
        model = super().build(spec, agent)
        epochs = self.budget_config(spec).epochs
        key = "max_iter" if isinstance(model, MLPClassifier) else "max_epochs"
        params = {key: epochs}
        if isinstance(model, MLPClassifier) and not model.early_stopping:
            params["n_iter_no_change"] = epochs + 1  # run every epoch, as the others do
        return model.set_params(**params)

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        if agent.type == "torch-mlp":
            import torch

            torch.set_num_threads(ctx.threads)  # thread count changes float results and timings
            _warm_up_torch()
        env = self.env_config(spec, agent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epochs, by design
            fit = self.fit_trial(spec, agent, ctx)
        scalars, curves, steps = classifier_tables(fit, env.boundary_grid)
        est = fit.estimator
        epochs = int(getattr(est, "n_epochs_", getattr(est, "n_iter_", 0)))
        scalars |= {"epochs": float(epochs), "epoch_wall_s": fit.fit_wall_s / max(epochs, 1)}
        curves["train_loss"] = np.asarray(est.loss_curve_)
        val = getattr(est, "validation_loss_curve_", None)
        if val is not None and len(val):
            curves["val_loss"] = np.asarray(val)
        elif getattr(est, "validation_scores_", None) is not None:
            curves["val_accuracy"] = np.asarray(est.validation_scores_)
        return trial_result(scalars, curves, steps)

    def notes(self, ctx: PlotContext) -> list[str]:
        return [
            "All three networks train the same architecture for the same epochs with the "
            "same batch size and optimiser; NumPy and PyTorch start from identical "
            "weights for a seed. test_* metrics are on held-out rows.",
            "train_loss is the mean mini-batch cross-entropy per epoch; scikit-learn's "
            "includes its L2 term (zero unless alpha is set). Times are single-threaded "
            "wall-clock seconds (torch.set_num_threads(1)).",
        ]


NNFromScratch.plots = {**NNFromScratch.plots, **SUPERVISED_PLOTS}
register(NNFromScratch())
