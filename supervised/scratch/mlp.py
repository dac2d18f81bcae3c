"""Multi-layer perceptrons as scikit-learn estimators, trained with the NumPy network.

The training loop (mini-batches, epochs, early stopping on a validation split) lives in
:class:`MLPBase` and is shared with the PyTorch estimators in ``qmml.supervised.deep.mlp``: a
backend only builds the network from the initial weights and takes one optimiser step. With
the same ``random_state`` both backends start from the same weights and see the same batches,
so their results can be compared number for number.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from qmml.supervised.scratch.nn import (
    ACTIVATIONS,
    CrossEntropyLoss,
    MSELoss,
    init_weights,
    mlp_from_weights,
    softmax,
)
from qmml.supervised.scratch.optim import SGD, Adam

__all__ = ["MLPBase", "NumpyMLPClassifier", "NumpyMLPRegressor"]

Weights = list[tuple[np.ndarray, np.ndarray]]
Activation = Literal["relu", "tanh", "sigmoid", "identity"]
Solver = Literal["adam", "sgd"]
DType = Literal["float64", "float32"]


def _generator(random_state: Any) -> np.random.Generator:
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise ValueError(
        f"random_state must be None, an int or a numpy RandomState, got {random_state!r}"
    )


class MLPBase(BaseEstimator):
    """Shared parameters and training loop of the MLP estimators.

    Args:
        hidden_layer_sizes: widths of the hidden layers.
        activation: ``relu``, ``tanh``, ``sigmoid`` or ``identity`` between dense layers.
        solver: ``adam`` or ``sgd`` (with ``momentum``).
        learning_rate: optimiser step size.
        momentum: momentum of ``sgd``.
        batch_size: samples per mini-batch.
        max_epochs: passes over the training data (the number run without early stopping).
        alpha: L2 penalty on weights (as weight decay added to the gradient; not on biases).
        early_stopping: hold out ``validation_fraction`` of the data, stop after ``patience``
            epochs without a validation-loss improvement of at least ``tol``, and keep the
            weights of the best epoch.
        validation_fraction: held-out share for early stopping.
        patience: epochs without improvement before stopping.
        tol: smallest improvement of the validation loss that counts.
        dtype: ``float64`` or ``float32`` arithmetic.
        random_state: seed of the initial weights, the shuffles and the validation split.

    Attributes:
        loss_curve_: mean training loss per epoch (without the L2 term).
        validation_loss_curve_: validation loss per epoch (empty without early stopping).
        n_epochs_: epochs run.
        best_epoch_: epoch (1-based) whose weights were kept.
        n_features_in_: number of features seen in ``fit``.
    """

    _loss_kind: str = ""  # "cross_entropy" or "mse", set by the task subclasses

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (64,),
        *,
        activation: Activation = "relu",
        solver: Solver = "adam",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        batch_size: int = 32,
        max_epochs: int = 200,
        alpha: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 10,
        tol: float = 1e-4,
        dtype: DType = "float64",
        random_state: int | np.random.RandomState | None = None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.dtype = dtype
        self.random_state = random_state

    def _check_params(self) -> None:
        sizes = self.hidden_layer_sizes
        if not (
            isinstance(sizes, (tuple, list))
            and all(isinstance(h, (int, np.integer)) and h >= 1 for h in sizes)
        ):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of integers >= 1, got "
                f"{sizes!r}; e.g. (64,) or (64, 32)"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.solver not in ("adam", "sgd"):
            raise ValueError(f"solver must be 'adam' or 'sgd', got {self.solver!r}")
        for name, low in (
            ("learning_rate", 0.0),
            ("momentum", None),
            ("alpha", None),
            ("tol", None),
        ):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and (v > low if low is not None else v >= 0)
            if not ok:
                raise ValueError(
                    f"{name} must be a number {'>' if low is not None else '>='} 0, got {v!r}"
                )
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        for name in ("batch_size", "max_epochs", "patience"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.validation_fraction, float) and 0 < self.validation_fraction < 1):
            raise ValueError(
                f"validation_fraction must be a float in (0, 1), got {self.validation_fraction!r}"
            )
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")

    # -- backend hooks ----------------------------------------------------------------------
    def _build(self, weights: Weights) -> None:
        raise NotImplementedError

    def _step(self, x: np.ndarray, t: np.ndarray) -> float:
        """One optimiser step on a batch; returns the batch loss before the step."""
        raise NotImplementedError

    def _eval_loss(self, x: np.ndarray, t: np.ndarray) -> float:
        raise NotImplementedError

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _get_state(self) -> list[Any]:
        raise NotImplementedError

    def _set_state(self, state: list[Any]) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Drop what is only needed while training (the optimiser)."""

    # -- training loop ----------------------------------------------------------------------
    def _train(self, X: np.ndarray, T: np.ndarray, n_out: int) -> None:
        rng = _generator(self.random_state)
        dt = np.dtype(self.dtype)
        X = X.astype(dt, copy=False)
        n = len(X)
        if self.early_stopping:
            n_val = max(1, round(self.validation_fraction * n))
            if n - n_val < 1:
                raise ValueError(
                    f"early_stopping needs at least 2 samples, got {n}; turn it "
                    "off or give more data"
                )
            perm = rng.permutation(n)
            X, Xv, T, Tv = X[perm[n_val:]], X[perm[:n_val]], T[perm[n_val:]], T[perm[:n_val]]
        sizes = [X.shape[1], *map(int, self.hidden_layer_sizes), n_out]
        self._build(init_weights(sizes, self.activation, rng, dt))
        batch = min(int(self.batch_size), len(X))
        losses, val_losses = [], []
        best, best_epoch, best_state, bad = np.inf, 0, None, 0
        for epoch in range(1, int(self.max_epochs) + 1):
            order = rng.permutation(len(X))
            total = 0.0
            for start in range(0, len(X), batch):
                idx = order[start : start + batch]
                total += self._step(X[idx], T[idx]) * len(idx)
            losses.append(total / len(X))
            if not np.isfinite(losses[-1]):
                raise ValueError(
                    f"training diverged in epoch {epoch} (loss {losses[-1]}); "
                    f"lower learning_rate (got {self.learning_rate}) or scale X"
                )
            if self.early_stopping:
                val_losses.append(self._eval_loss(Xv, Tv))
                if val_losses[-1] < best - self.tol:
                    best, best_epoch, best_state, bad = val_losses[-1], epoch, self._get_state(), 0
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        if best_state is not None:
            self._set_state(best_state)
        self._finish()
        self.loss_curve_ = np.asarray(losses)
        self.validation_loss_curve_ = np.asarray(val_losses)
        self.n_epochs_ = len(losses)
        self.best_epoch_ = best_epoch if self.early_stopping else len(losses)


class MLPClassifierMixin(ClassifierMixin):
    """Classification on top of :class:`MLPBase`: softmax outputs, cross-entropy on logits.

    Attributes:
        classes_: the class labels.
    """

    _loss_kind = "cross_entropy"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        """Train on ``X`` (n_samples, n_features) and labels ``y``; returns self.

        Raises:
            ValueError: bad parameters or data, a continuous target, or one class only.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"need samples of at least 2 classes to fit, got 1 class ({self.classes_[0]!r})"
            )
        self._train(X, enc.transform(y).astype(np.int64), len(self.classes_))
        return self

    def _logits(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray(self._forward(X.astype(self.dtype, copy=False)), dtype=np.float64)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits, shape (n_samples, n_classes); for two classes the log-odds of
        ``classes_[1]``, shape (n_samples,) (scikit-learn's convention)."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes)."""
        return softmax(self._logits(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable label per sample."""
        z = self._logits(X)  # first: raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(z, axis=1)]


class MLPRegressorMixin(RegressorMixin):
    """Regression on top of :class:`MLPBase`: one linear output, mean squared error."""

    _loss_kind = "mse"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        """Train on ``X`` (n_samples, n_features) and targets ``y`` (n_samples,); returns self.

        Raises:
            ValueError: bad parameters or data.
        """
        self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        self._train(X, y.astype(self.dtype)[:, None], 1)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray(self._forward(X.astype(self.dtype, copy=False))[:, 0], dtype=np.float64)


class _NumpyBackend:
    """Backend hooks for :class:`MLPBase` using ``qmml.supervised.scratch.nn``.

    Attributes:
        network_: the trained :class:`supervised.nn.Sequential` (outputs logits).
    """

    # declared for the checker; set by MLPBase and the task mixin, which follow in the MRO
    activation: Activation
    solver: Solver
    learning_rate: float
    momentum: float
    alpha: float
    _loss_kind: str

    def _build(self, weights: Weights) -> None:
        self.network_ = mlp_from_weights(weights, self.activation)
        self._loss = CrossEntropyLoss() if self._loss_kind == "cross_entropy" else MSELoss()
        params = self.network_.parameters()
        if self.solver == "adam":
            self._opt: Any = Adam(params, lr=self.learning_rate, weight_decay=self.alpha)
        else:
            self._opt = SGD(
                params, lr=self.learning_rate, momentum=self.momentum, weight_decay=self.alpha
            )

    def _step(self, x: np.ndarray, t: np.ndarray) -> float:
        value, _ = self.network_.loss_and_grad(x, t, self._loss)
        self._opt.step()
        return value

    def _eval_loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self._loss.forward(self.network_.forward(x), t)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.network_.forward(x)

    def _get_state(self) -> list[Any]:
        return [p.value.copy() for p in self.network_.parameters()]

    def _set_state(self, state: list[Any]) -> None:
        for p, v in zip(self.network_.parameters(), state, strict=True):
            p.value[...] = v

    def _finish(self) -> None:
        del self._opt, self._loss


class NumpyMLPClassifier(_NumpyBackend, MLPClassifierMixin, MLPBase):
    """A multi-layer perceptron classifier written in NumPy (see :class:`MLPBase` for the
    parameters): dense layers, back-propagation, Adam or SGD with momentum, early stopping."""


class NumpyMLPRegressor(_NumpyBackend, MLPRegressorMixin, MLPBase):
    """A multi-layer perceptron regressor written in NumPy (see :class:`MLPBase`)."""
