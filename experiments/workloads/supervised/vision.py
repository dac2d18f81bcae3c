"""Image classification with CNNs (Lecture 7): the lecture's CNN, LeNet-5, a small VGG and a
small ResNet against the NumPy MLP and pixel logistic regression on the bundled MNIST part.

Every trial cuts the images into seeded, stratified train / validation / test parts with a
split seed shared by all agents of a seed index (all models of a seed see the same test
images). The per-channel normaliser is fitted on the training part only. CNNs keep the
weights of their best validation epoch; the MLP and the logistic regression see the same
training part (validation included) and are scored once on the test part.

Scalars: ``test_accuracy`` (primary), ``n_params``, ``epoch_cpu_s`` (CPU-seconds per epoch:
not reproducible), ``perturbed_accuracy`` (when ``budget.perturbed``). Curves (against the
epoch): ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``; ``confusion``
(counts at step ``true * k + pred``); for seed index 0 only, what the image figures need:
``misclassified`` / ``misclassified_true`` / ``misclassified_pred``, ``filters`` (first conv
layer) and ``feature_maps`` (its output on the first test image), images stored with step
``index * 10**6 + row * 1000 + column`` (see :mod:`.vision_plots`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import vision_plots as vp
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.supervised.data import DataError
from qmml.supervised.images import (
    ChannelNormalizer,
    ImageData,
    ImageSplit,
    load_digits_images,
    load_idx,
    load_mnist,
    split_images,
)

__all__ = [
    "AUGMENTS",
    "CNNAgent",
    "ImageSection",
    "VisionBudgetSection",
    "VisionWorkload",
    "augment_config",
    "load_images",
]

CNN_MODELS = ("cnn", "lenet5", "vgg", "resnet")
AUGMENTS = ("none", "all", "shift", "rotation", "affine")


class ImageSection(StrictModel):
    """``env``: which images and how they are split.

    Attributes:
        dataset: ``mnist`` (the bundled 10,000 images), ``digits`` (scikit-learn 8x8) or
            ``idx`` (your own pair of IDX files: ``images`` and ``labels``).
        images, labels: IDX file paths (gzip or raw), for ``dataset: idx``.
        n_train: training images, validation included (``None``: all ``n_test`` leaves).
        n_test: held-out test images.
        n_val: validation images cut from ``n_train`` (CNN checkpoints and learning curves).
    """

    dataset: Literal["mnist", "digits", "idx"] = "mnist"
    images: str | None = None
    labels: str | None = None
    n_train: int | None = Field(default=8000, ge=1)
    n_test: int = Field(default=2000, ge=1)
    n_val: int = Field(default=500, ge=0)

    @model_validator(mode="after")
    def _paths(self) -> ImageSection:
        if self.dataset == "idx" and not (self.images and self.labels):
            raise ValueError("dataset 'idx' needs 'images' and 'labels' (IDX file paths)")
        return self


class VisionBudgetSection(StrictModel):
    """``budget``: the same for every model.

    Attributes:
        epochs: passes over the training part (CNNs and the MLP).
        batch_size: images per step; lr: peak learning rate (AdamW, cosine decay).
        weight_decay: decoupled weight decay of the CNNs.
        perturbed: also score on a perturbed copy of the test part (``perturbed_accuracy``).
        n_misclassified: misclassified test images kept for the grid (seed index 0).
    """

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=5e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    perturbed: bool = False
    n_misclassified: int = Field(default=16, ge=0, le=64)


@dataclass(frozen=True)
class CNNAgent:
    """A CNN of ``qmml.supervised.deep.cnn.MODELS`` (validated without importing torch)."""

    model: str
    augment: str = "none"
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTS:
            raise ValueError(f"unknown augment {self.augment!r}; choose from {', '.join(AUGMENTS)}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class FlatAgent:
    """A model of flattened normalised pixels: the NumPy MLP or logistic regression."""

    kind: Literal["mlp", "logistic"]
    hidden_layer_sizes: tuple[int, ...] = (256,)
    learning_rate: float = 1e-3
    alpha: float = 1e-4
    C: float = 1.0
    max_iter: int = 300

    def __post_init__(self) -> None:
        if not all(int(h) >= 1 for h in self.hidden_layer_sizes) or not self.C > 0:
            raise ValueError("hidden_layer_sizes must be >= 1 and C > 0")


def _cnn(name: str):
    def factory(augment: str = "none", lr: float | None = None) -> CNNAgent:
        return CNNAgent(name, augment, lr)

    factory.__doc__ = f"The {name!r} CNN (augment: {', '.join(AUGMENTS)}; lr: budget's)."
    return factory


def mlp(
    hidden_layer_sizes: tuple[int, ...] | list[int] = (256,),
    learning_rate: float = 1e-3,
    alpha: float = 1e-4,
) -> FlatAgent:
    """The NumPy MLP (``NumpyMLPClassifier``, Adam) on flattened normalised pixels."""
    return FlatAgent("mlp", tuple(int(h) for h in hidden_layer_sizes), learning_rate, alpha)


def logistic(C: float = 1.0, max_iter: int = 300) -> FlatAgent:
    """scikit-learn's multinomial logistic regression on flattened normalised pixels."""
    return FlatAgent("logistic", C=C, max_iter=max_iter)


def augment_config(name: str) -> Any:
    """The :class:`AugmentConfig` of an ``augment`` name (``None`` for ``none``)."""
    from qmml.supervised.deep.augment import AugmentConfig

    if name == "none":
        return None
    full = AugmentConfig()
    return {
        "all": full,
        "shift": AugmentConfig(full.max_shift, 0.0, 0.0, 0.0),
        "rotation": AugmentConfig(0.0, full.max_rotation_deg, 0.0, 0.0),
        "affine": AugmentConfig(0.0, 0.0, full.max_scale, full.max_shear_deg),
    }[name]


@functools.lru_cache(maxsize=4)
def load_images(env: ImageSection) -> ImageData:
    """The images an ``env`` names (cached per process).

    Raises:
        DataError: a missing or corrupt IDX file.
    """
    if env.dataset == "mnist":
        return load_mnist()
    if env.dataset == "digits":
        return load_digits_images()
    assert env.images is not None and env.labels is not None
    return load_idx(env.images, env.labels)


def split_for(env: ImageSection, seed: int) -> ImageSplit:
    """The seeded split of ``env``'s images."""
    return split_images(load_images(env), env.n_train, env.n_test, env.n_val, seed=seed)


def _image_curve(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, steps) of images (m, H, W), step ``i * 10**6 + row * 1000 + col``."""
    m, h, w = images.shape
    i, r, c = np.meshgrid(np.arange(m), np.arange(h), np.arange(w), indexing="ij")
    return images.reshape(-1).astype(np.float64), (i * 10**6 + r * 1000 + c).reshape(-1)


class VisionWorkload(Workload):
    """One model, one seed: see the module docstring for what it records."""

    name = "cnn-mnist"
    description = "Lecture CNN vs LeNet-5 vs VGG vs ResNet vs NumPy MLP vs pixel logistic (MNIST)"
    agent_types = {**{m: _cnn(m) for m in CNN_MODELS}, "mlp": mlp, "logistic": logistic}
    Env, Budget = ImageSection, VisionBudgetSection
    plots = vp.PLOTS
    question = "Which architecture classifies held-out MNIST digits best, and at what cost?"

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        for a in agents:
            env: ImageSection = self.env_config(spec, a)
            try:
                split_for(env, 0)
            except DataError as err:
                raise SpecError(f"agents.{a.group}.env: {err}") from None
            if env.n_val == 0 and a.type in CNN_MODELS:
                raise SpecError(
                    f"agents.{a.group}.env.n_val=0: CNNs need validation images for their "
                    "learning curves and checkpoint; set n_val (e.g. 500)"
                )

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        t0 = time.process_time()
        env: ImageSection = self.env_config(spec, agent)
        budget: VisionBudgetSection = self.budget_config(spec)
        split_seed, model_seed, perturb_seed = ctx.int_seeds(3, high=2**31)
        parts = split_for(env, split_seed)
        model = self.agent_types[agent.type](**agent.params)
        X_pert = None
        if budget.perturbed:
            from qmml.supervised.deep.augment import perturb

            X_pert = perturb(parts.test.X, perturb_seed)
        if isinstance(model, CNNAgent):
            scalars, curves, steps, pred, pert_pred = self._cnn(
                model, parts, budget, model_seed, ctx, X_pert
            )
        else:
            scalars, curves, steps, pred, pert_pred = self._flat(
                model, parts, budget, model_seed, X_pert
            )
        y = parts.test.y
        k = max(int(parts.train.y.max()), int(y.max())) + 1
        scalars["test_accuracy"] = float(np.mean(pred == y))
        if pert_pred is not None:
            scalars["perturbed_accuracy"] = float(np.mean(pert_pred == y))
        counts = np.bincount(y * k + pred, minlength=k * k)
        curves["confusion"], steps["confusion"] = counts.astype(np.float64), np.arange(k * k)
        if ctx.seed_index == 0 and budget.n_misclassified:
            wrong = np.flatnonzero(pred != y)[: budget.n_misclassified]
            if wrong.size:
                values, where = _image_curve(parts.test.X[wrong, 0])
                curves["misclassified"], steps["misclassified"] = values, where
                curves["misclassified_true"] = y[wrong].astype(np.float64)
                curves["misclassified_pred"] = pred[wrong].astype(np.float64)
                steps["misclassified_true"] = steps["misclassified_pred"] = np.arange(wrong.size)
        scalars["trial_cpu_s"] = time.process_time() - t0
        return trial_result(scalars, curves, steps)

    @staticmethod
    def _cnn(
        model: CNNAgent,
        parts: ImageSplit,
        budget: VisionBudgetSection,
        seed: int,
        ctx: TrialContext,
        X_pert: np.ndarray | None,
    ) -> tuple[dict, dict, dict, np.ndarray, np.ndarray | None]:
        import torch

        from qmml.supervised.deep.cnn import count_parameters
        from qmml.supervised.deep.vision import train_image_model

        torch.set_num_threads(ctx.threads)
        run = train_image_model(
            model.model,
            parts.train.X,
            parts.train.y,
            parts.test.X,
            parts.test.y,
            X_val=parts.val.X,
            y_val=parts.val.y,
            n_classes=int(max(parts.train.y.max(), parts.test.y.max())) + 1,
            epochs=budget.epochs,
            batch_size=budget.batch_size,
            lr=model.lr or budget.lr,
            weight_decay=budget.weight_decay,
            augment=augment_config(model.augment),
            seed=seed,
            threads=ctx.threads,
        )
        h = run.curves
        epochs = np.arange(1, len(h["train_loss"]) + 1)
        names = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
        curves: dict[str, np.ndarray] = {k: h[k] for k in names if k in h}
        steps: dict[str, np.ndarray] = dict.fromkeys(curves, epochs)
        cpu = np.diff(np.concatenate([[0.0], h["cpu_s"]]))
        scalars = {
            "n_params": float(count_parameters(run.model)),
            "epoch_cpu_s": float(np.mean(cpu)),
            "best_epoch": float(np.argmin(h["val_loss"]) + 1),
        }
        if ctx.seed_index == 0:
            for key, images in vp.first_layer(run.model, run.normalizer, parts.test.X[:1]).items():
                curves[key], steps[key] = _image_curve(images)
        pert = None
        if X_pert is not None:
            with _Threads(ctx.threads):
                pert = run.predict(X_pert)
        return scalars, curves, steps, run.test_pred, pert

    @staticmethod
    def _flat(
        model: FlatAgent,
        parts: ImageSplit,
        budget: VisionBudgetSection,
        seed: int,
        X_pert: np.ndarray | None,
    ) -> tuple[dict, dict, dict, np.ndarray, np.ndarray | None]:
        from sklearn.linear_model import LogisticRegression

        from qmml.supervised.scratch.mlp import NumpyMLPClassifier

        X_tr = np.concatenate([parts.train.X, parts.val.X])
        y_tr = np.concatenate([parts.train.y, parts.val.y])
        norm = ChannelNormalizer().fit(X_tr)  # training images only

        def flat(X: np.ndarray) -> np.ndarray:
            return norm.transform(X).reshape(len(X), -1)

        t0 = time.process_time()
        curves: dict[str, np.ndarray] = {}
        if model.kind == "mlp":
            est: Any = NumpyMLPClassifier(
                model.hidden_layer_sizes,
                learning_rate=model.learning_rate,
                alpha=model.alpha,
                batch_size=budget.batch_size,
                max_epochs=budget.epochs,
                dtype="float32",
                random_state=seed,
            ).fit(flat(X_tr), y_tr)
            curves["train_loss"] = est.loss_curve_
            n_params = sum(p.value.size for p in est.network_.parameters())
            epochs = len(est.loss_curve_)
        else:
            est = LogisticRegression(C=model.C, max_iter=model.max_iter).fit(flat(X_tr), y_tr)
            n_params = est.coef_.size + est.intercept_.size
            epochs = 1
        cpu = time.process_time() - t0
        scalars = {"n_params": float(n_params), "epoch_cpu_s": cpu / epochs}
        steps = {k: np.arange(1, len(v) + 1) for k, v in curves.items()}
        pred = est.predict(flat(parts.test.X))
        pert = None if X_pert is None else est.predict(flat(X_pert))
        return scalars, curves, steps, pred, pert

    def notes(self, ctx: PlotContext) -> list[str]:
        return vp.notes(ctx, self.env_config(ctx.spec), self.budget_config(ctx.spec))


class _Threads:
    """Pin torch's thread count for a block (prediction outside the trainer)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self) -> None:
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.old)


register(VisionWorkload())
