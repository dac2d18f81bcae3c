"""Image data for the CNN lecture: IDX and ``.npz`` files, MNIST, digits, splits, normalising.

Images are float32 arrays of shape (n, C, H, W) with values in [0, 1], labels int64 of shape
(n,): one type per modality, so the tabular :class:`qmml.supervised.data.Dataset` is not
widened to hold them. The bundled MNIST part is the 10,000-image test split of MNIST (see
``data/README.md``); :func:`split_images` cuts it into seeded, stratified train / validation /
test parts, and :class:`ChannelNormalizer` is fitted on the training part only.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from qmml.supervised.data import DataError

__all__ = [
    "ChannelNormalizer",
    "ImageData",
    "ImageSplit",
    "load_digits_images",
    "load_idx",
    "load_mnist",
    "load_npz",
    "read_idx",
    "split_images",
]

# IDX type codes (http://yann.lecun.com/exdb/mnist/): third byte of the magic number
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class ImageData:
    """Labelled images.

    Attributes:
        X: float32 images, shape (n, C, H, W).
        y: int64 class labels, shape (n,).
        name: where they came from.
    """

    X: np.ndarray
    y: np.ndarray
    name: str = "images"

    def __post_init__(self) -> None:
        if self.X.ndim != 4:
            raise DataError(f"{self.name}: images must have shape (n, C, H, W), got {self.X.shape}")
        if self.y.shape != (len(self.X),):
            raise DataError(
                f"{self.name}: {len(self.X)} images but labels of shape {self.y.shape}; "
                "give one label per image"
            )

    def __len__(self) -> int:
        return len(self.X)

    @property
    def n_classes(self) -> int:
        """Number of distinct labels."""
        return len(np.unique(self.y))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        c, h, w = self.X.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, idx: np.ndarray, name: str | None = None) -> ImageData:
        """The images at ``idx``."""
        return ImageData(self.X[idx], self.y[idx], name or self.name)


@dataclass(frozen=True)
class ImageSplit:
    """Train / validation / test parts of one :class:`ImageData` (validation may be empty)."""

    train: ImageData
    val: ImageData
    test: ImageData


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzip-compressed or raw) as a NumPy array of its stored type and shape.

    Raises:
        DataError: missing file, bad magic number, or a size that does not match the header.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"IDX file {str(p)!r} not found; give the path of an existing file")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{p}: corrupt gzip data ({err}); download the file again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(
            f"{p}: not an IDX file (bad magic number {raw[:4].hex()}); expected e.g. 00000803 "
            "for images or 00000801 for labels"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{p}: truncated IDX header; download the file again")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{p}: header says shape {shape} ({expected} bytes) but the file has {len(raw)} "
            "bytes; the file is truncated or corrupt, download it again"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _as_images(X: np.ndarray, where: str) -> np.ndarray:
    """(n, H, W) or (n, C, H, W) of any numeric type -> float32 (n, C, H, W) in [0, 1]."""
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4:
        raise DataError(f"{where}: images must be (n, H, W) or (n, C, H, W), got {X.shape}")
    if X.dtype == np.uint8:
        return (X.astype(np.float32) / 255.0).astype(np.float32)
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{where}: images must be numeric, got dtype {X.dtype}")
    X = X.astype(np.float32)
    if not np.isfinite(X).all():
        raise DataError(f"{where}: images contain NaN or infinite values")
    return X


def _as_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(
            f"{where}: {n} images but {len(y)} labels; the label file must belong to the images"
        )
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise DataError(f"{where}: labels must be non-negative integers, got dtype {y.dtype}")
    return y.astype(np.int64)


def load_idx(images: str | Path, labels: str | Path, name: str | None = None) -> ImageData:
    """Images and labels from a pair of IDX files (MNIST's format), pixels scaled to [0, 1].

    Raises:
        DataError: see :func:`read_idx`; labels not matching the images in number.
    """
    X = _as_images(read_idx(images), str(images))
    return ImageData(
        X, _as_labels(read_idx(labels), len(X), str(labels)), name or Path(images).name
    )


def load_npz(path: str | Path, images_key: str = "images", labels_key: str = "labels") -> ImageData:
    """A user's own images from an ``.npz`` with arrays ``images`` ((n, H, W) or (n, C, H, W);
    uint8 is scaled to [0, 1], floats are kept) and ``labels`` ((n,) integers).

    Write one with ``np.savez(path, images=X, labels=y)``.

    Raises:
        DataError: missing or unreadable file, missing keys, bad shapes or labels.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"npz file {str(p)!r} not found; give the path of an existing file")
    try:
        with np.load(p, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{p}: not a readable .npz ({err}); save it with np.savez") from err
    missing = [k for k in (images_key, labels_key) if k not in arrays]
    if missing:
        raise DataError(
            f"{p}: no array(s) {', '.join(map(repr, missing))} (has {', '.join(arrays) or 'none'});"
            f" save with np.savez(path, {images_key}=X, {labels_key}=y)"
        )
    X = _as_images(arrays[images_key], str(p))
    return ImageData(X, _as_labels(arrays[labels_key], len(X), str(p)), p.name)


def load_mnist() -> ImageData:
    """The bundled 10,000 MNIST images (the official test split), 1x28x28, in [0, 1]."""
    root = Path(str(resources.files("qmml.supervised") / "data" / "mnist"))
    return load_idx(
        root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz", name="mnist"
    )


def load_digits_images() -> ImageData:
    """scikit-learn's 1,797 handwritten digits as 1x8x8 images, values 0..16 scaled to [0, 1].

    The CNNs of :mod:`qmml.supervised.deep.cnn` take the image size as an argument, so they
    run on these 8x8 images directly (no upsampling).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images.astype(np.float32) / 16.0)[:, None]
    return ImageData(X, d.target.astype(np.int64), "digits")


def split_images(
    data: ImageData,
    n_train: int | None = 8000,
    n_test: int | None = 2000,
    n_val: int = 0,
    seed: int = 0,
) -> ImageSplit:
    """Seeded, stratified train / validation / test parts (validation is cut from train).

    Args:
        data: the images.
        n_train: training images, validation included; ``None`` = all that ``n_test`` leaves.
        n_test: held-out test images; ``None`` = all that ``n_train`` leaves.
        n_val: validation images taken out of the ``n_train`` (for early stopping).
        seed: the random state of the stratified shuffles.

    Raises:
        DataError: sizes that do not fit the data (or are too small to hold every class).
    """
    n = len(data)
    if n_train is None and n_test is None:
        raise DataError("split_images: give n_train or n_test (or both)")
    n_train = n - n_test if n_train is None else n_train  # type: ignore[operator]
    n_test = n - n_train if n_test is None else n_test
    if n_train < 1 or n_test < 1 or n_train + n_test > n:
        raise DataError(
            f"split_images: n_train={n_train} + n_test={n_test} does not fit {data.name}'s {n} "
            "images; ask for at most that many in all, each part at least 1"
        )
    if not 0 <= n_val < n_train:
        raise DataError(f"split_images: n_val={n_val} must be in [0, n_train={n_train})")
    k = data.n_classes
    if min(n_test, n_train - n_val) < k or 0 < n_val < k:
        raise DataError(
            f"split_images: every part needs at least one image of each of the {k} classes; "
            "ask for larger parts"
        )
    idx = np.arange(n)
    if n_train + n_test < n:
        idx, _ = train_test_split(
            idx, train_size=n_train + n_test, stratify=data.y, random_state=seed
        )
    train, test = train_test_split(
        idx, test_size=n_test, stratify=data.y[idx], random_state=seed + 1
    )
    val = np.zeros(0, dtype=np.intp)
    if n_val:
        train, val = train_test_split(
            train, test_size=n_val, stratify=data.y[train], random_state=seed + 2
        )
    return ImageSplit(
        data.subset(np.sort(train), f"{data.name}/train"),
        data.subset(np.sort(val), f"{data.name}/val"),
        data.subset(np.sort(test), f"{data.name}/test"),
    )


class ChannelNormalizer:
    """Per-channel standardisation ``(x - mean_c) / std_c`` (scikit-learn style).

    Fit it on the training images only; applying the training statistics to validation and
    test images keeps them unseen.

    Attributes:
        mean_: per-channel mean, shape (C,).
        std_: per-channel standard deviation, shape (C,) (1 where a channel is constant).
    """

    def fit(self, X: np.ndarray) -> ChannelNormalizer:
        """Learn the per-channel mean and standard deviation of ``X`` (n, C, H, W)."""
        if X.ndim != 4 or len(X) == 0:
            raise DataError(f"ChannelNormalizer.fit: need images (n, C, H, W), got {X.shape}")
        X64 = X.astype(np.float64)
        self.mean_ = X64.mean(axis=(0, 2, 3))
        std = X64.std(axis=(0, 2, 3))
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` standardised with the fitted statistics, float32."""
        if not hasattr(self, "mean_"):
            raise DataError("ChannelNormalizer is not fitted; call fit(train_images) first")
        if X.ndim != 4 or X.shape[1] != len(self.mean_):
            raise DataError(
                f"ChannelNormalizer: fitted on {len(self.mean_)} channel(s), got {X.shape}"
            )
        mean = self.mean_.astype(np.float32)[None, :, None, None]
        std = self.std_.astype(np.float32)[None, :, None, None]
        return ((X - mean) / std).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)
