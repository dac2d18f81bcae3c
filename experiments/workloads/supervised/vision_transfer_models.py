"""The networks of the ``cnn-transfer`` experiment: sources of features (the MNIST-pretrained
network, the digit-recognizer CNN, EfficientNet-Lite0), the three ways of learning the target
(scratch, linear probe, fine-tuning) and the ``sample_efficiency`` plot kind.

Every network takes raw images in [0, 1] (n, 1, 28, 28) and normalises them itself (with the
statistics of the data it was trained on), so augmentation acts on raw pixels. Torch is
imported inside the functions; the plot reads stored curves only.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, band_curve, curve_matrix, select_agents
from qmml.experiments.spec import PlotSpec
from qmml.experiments.workload import PlotContext

__all__ = [
    "Source",
    "frozen_features",
    "learn",
    "load_source",
    "plot_sample_efficiency",
    "zero_shot",
]


@functools.cache
def _net_class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Net(nn.Module):
        """``head(body(prep(x)))``; ``prep`` normalises (and resizes, repeats channels).

        Batch norms stay in eval mode while training (``frozen_bn``): statistics of a few
        labelled digits would overwrite the pretrained ones.
        """

        def __init__(
            self,
            body: nn.Module,
            head: nn.Linear,
            mean: float,
            std: float,
            size: int | None = None,
            channels: int = 1,
            frozen_bn: bool = False,
        ):
            super().__init__()
            self.body, self.head = body, head
            self.mean, self.std, self.size, self.channels = mean, std, size, channels
            self.frozen_bn = frozen_bn

        def prep(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - self.mean) / self.std  # (n, 1, 28, 28)
            if self.size is not None:
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear")
            return x.repeat(1, self.channels, 1, 1) if self.channels > 1 else x

        def features(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(self.prep(x))  # (n, d)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))  # (n, n_classes)

        def train(self, mode: bool = True) -> Net:
            super().train(mode)
            if self.frozen_bn:
                for m in self.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
            return self

    return Net


def _method_module(model: Any, name: str) -> Any:
    """``model.<name>`` (a bound method, e.g. EfficientNet's ``features``) as a module."""
    from torch import nn

    class Method(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            return getattr(self.model, name)(x)

    return Method()


@dataclass
class Source:
    """A pretrained network: ``net`` (its own output layer) and its penultimate width."""

    name: str
    net: Any
    width: int


def _split_ours(model: Any) -> tuple[Any, Any]:
    """(body, last linear) of a ``cnn.MODELS`` network."""
    from torch import nn

    if isinstance(model.head, nn.Sequential):
        layers = list(model.head.children())
        return nn.Sequential(model.features, *layers[:-1]), layers[-1]
    return model.features, model.head


def load_source(name: str, budget: Any, pre: dict[str, Any] | None) -> Source:
    """The source ``name`` (``mnist`` needs ``pre``, the pretrained state) as a :class:`Source`."""
    from torch import nn

    Net = _net_class()
    if name == "mnist":
        from qmml.supervised.deep.cnn import build_model

        assert pre is not None
        model = build_model(budget.pretrain_model, n_classes=pre["n_classes"], image_size=28)
        model.load_state_dict(pre["state"], strict=True)
        body, head = _split_ours(model)
        net = Net(body, head, pre["mean"], pre["std"])
    elif name == "digit-recognizer":
        from qmml.supervised.deep.pretrained import MNIST_MEAN, MNIST_STD, load_digit_recognizer

        m = load_digit_recognizer()
        body = nn.Sequential(m.conv_layers, nn.Flatten(), m.fc_layers[0], m.fc_layers[1])
        net = Net(body, m.fc_layers[2], MNIST_MEAN, MNIST_STD)
    else:
        from qmml.supervised.deep.efficientnet import INPUT_MEAN, INPUT_STD
        from qmml.supervised.deep.pretrained import load_efficientnet_lite0

        e = load_efficientnet_lite0()
        net = Net(
            _method_module(e, "features"),
            e._fc,
            INPUT_MEAN[0],
            INPUT_STD[0],
            size=budget.imagenet_size,
            channels=3,
            frozen_bn=True,
        )
    net.eval()
    return Source(name, net, int(net.head.in_features))


def _predict(net: Any, X: np.ndarray, features: bool = False) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), 500):
            xb = torch.from_numpy(X[i : i + 500])
            out.append((net.features(xb) if features else net(xb)).numpy())
    return np.concatenate(out)


def frozen_features(source: Source, X: np.ndarray) -> np.ndarray:
    """Penultimate features (n, width) of raw images ``X`` under ``source``."""
    return _predict(source.net, X, features=True)


def zero_shot(source: Source, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the source's own 10-class output on the target images as they are."""
    return float(np.mean(_predict(source.net, X).argmax(axis=1) == y))


def learn(
    method: str,
    source: Source | None,
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    k: int,
    budget: Any,
    seed: int,
    threads: int,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Test accuracy after learning labelled ``X, y`` (k classes) by ``method``.

    ``features``: the probe's frozen features of ``X`` and ``X_test``, when already computed.
    """
    from torch import nn

    if method == "probe":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        assert source is not None
        F_tr, F_te = features or (frozen_features(source, X), frozen_features(source, X_test))
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=budget.probe_C, max_iter=2000))
        return float(np.mean(clf.fit(F_tr, y).predict(F_te) == y_test))

    from qmml.supervised.deep.augment import AugmentConfig, batch_transform
    from qmml.supervised.deep.batches import array_batches
    from qmml.supervised.deep.trainer import TrainConfig, fit, torch_seed
    from qmml.supervised.deep.vision import classification_loss

    if method == "finetune":
        assert source is not None
        net = copy.deepcopy(source.net)
        with torch_seed(seed):
            net.head = nn.Linear(source.width, k)  # a new output layer for the target classes
        lr = budget.lr
    else:
        from qmml.supervised.deep.cnn import build_model

        model = build_model(budget.pretrain_model, n_classes=k, image_size=28, seed=seed)
        body, head = _split_ours(model)
        net = _net_class()(body, head, float(X.mean()), float(X.std()) or 1.0)  # train only
        lr = budget.scratch_lr
    transform = batch_transform(AugmentConfig()) if budget.augment else None
    batches = array_batches(X, y, batch_size=min(budget.batch_size, len(X)), transform=transform)
    config = TrainConfig(
        max_steps=budget.steps,
        batch_size=budget.batch_size,
        lr=lr,
        schedule="cosine",
        min_lr_ratio=0.02,
        seed=seed,
        threads=threads,
    )
    fit(net, classification_loss, batches, config=config)
    return float(np.mean(_predict(net, X_test).argmax(axis=1) == y_test))


def plot_sample_efficiency(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Test accuracy against labelled examples per class (log axis), mean and 95% band over
    seeds per agent; the rightmost point is the whole labelled pool."""
    names = [n for n in select_agents(ctx, plot) if n in ctx.agents_with("accuracy_by_labels")]
    colors = agent_colors(list(ctx.agents))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in names:
        steps, y = curve_matrix(ctx.curves, name, "accuracy_by_labels")
        if y.size:
            band_curve(
                ax, steps, y, color=colors[name], label=f"{name} (n={y.shape[0]})", marker="o"
            )
    if not names:
        ax.text(0.5, 0.5, "no accuracy_by_labels curves", ha="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_xlabel("labelled examples per class (rightmost: all)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    if names:
        ax.legend(fontsize=7)
    ax.set_title(plot.title or "Sample efficiency: accuracy vs labels per class")
    fig.tight_layout()
    return fig
