"""Image data: IDX and npz readers, bundled MNIST and digits, stratified split, normaliser."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest

from qmml.supervised.data import DataError
from qmml.supervised.images import (
    ChannelNormalizer,
    ImageData,
    load_digits_images,
    load_idx,
    load_mnist,
    load_npz,
    read_idx,
    split_images,
)


def _idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


@pytest.fixture(scope="module")
def mnist() -> ImageData:
    return load_mnist()


def test_bundled_mnist(mnist):
    assert mnist.X.shape == (10000, 1, 28, 28) and mnist.X.dtype == np.float32
    assert mnist.y.dtype == np.int64 and mnist.n_classes == 10
    assert mnist.X.min() == 0.0 and mnist.X.max() == 1.0
    assert list(mnist.y[:5]) == [7, 2, 1, 0, 4]  # the official test split's first labels


def test_digits_images():
    d = load_digits_images()
    assert d.X.shape == (1797, 1, 8, 8) and d.X.dtype == np.float32
    assert d.X.max() == 1.0 and d.image_shape == (1, 8, 8)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_raw_and_gzip(tmp_path, compress):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0], dtype=np.uint8)
    wrap = gzip.compress if compress else (lambda b: b)
    (tmp_path / "i").write_bytes(wrap(_idx_bytes(imgs)))
    (tmp_path / "l").write_bytes(wrap(_idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(tmp_path / "i"), imgs)
    data = load_idx(tmp_path / "i", tmp_path / "l")
    assert data.X.shape == (5, 1, 4, 3)
    np.testing.assert_allclose(data.X[:, 0] * 255, imgs, atol=1e-4)
    floats = np.arange(6, dtype=">f4").reshape(2, 3)
    (tmp_path / "f").write_bytes(_idx_bytes(floats, 0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), floats)


def test_idx_errors(tmp_path):
    imgs = np.zeros((3, 2, 2), dtype=np.uint8)
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing.gz")
    (tmp_path / "bad").write_bytes(b"\x12\x34\x56\x78" + bytes(8))
    with pytest.raises(DataError, match="magic number"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(imgs)[:-3])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(tmp_path / "short")
    (tmp_path / "gz").write_bytes(gzip.compress(_idx_bytes(imgs))[:20])
    with pytest.raises(DataError, match="gzip"):
        read_idx(tmp_path / "gz")
    (tmp_path / "i").write_bytes(_idx_bytes(imgs))
    (tmp_path / "l").write_bytes(_idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(DataError, match="3 images but 4 labels"):
        load_idx(tmp_path / "i", tmp_path / "l")


def test_npz(tmp_path):
    X = np.random.default_rng(0).random((6, 3, 5, 5)).astype(np.float64)
    y = np.array([0, 1, 0, 1, 2, 2])
    np.savez(tmp_path / "mine.npz", images=X, labels=y)
    data = load_npz(tmp_path / "mine.npz")
    assert data.X.dtype == np.float32 and data.image_shape == (3, 5, 5)
    np.testing.assert_array_equal(data.y, y)
    np.savez(tmp_path / "wrong.npz", x=X, labels=y)
    with pytest.raises(DataError, match=r"no array.*'images'.*np\.savez"):
        load_npz(tmp_path / "wrong.npz")
    np.savez(tmp_path / "short.npz", images=X, labels=y[:4])
    with pytest.raises(DataError, match="6 images but 4 labels"):
        load_npz(tmp_path / "short.npz")
    np.savez(tmp_path / "neg.npz", images=X, labels=-y)
    with pytest.raises(DataError, match="non-negative"):
        load_npz(tmp_path / "neg.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError, match="readable"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="not found"):
        load_npz(tmp_path / "none.npz")
    with pytest.raises(DataError, match="shape"):
        ImageData(np.zeros((2, 3)), np.zeros(2, dtype=np.int64))


def test_split_is_seeded_stratified_and_disjoint(mnist):
    s = split_images(mnist, n_val=1000, seed=3)
    assert (len(s.train), len(s.val), len(s.test)) == (7000, 1000, 2000)
    freq = np.bincount(mnist.y) / len(mnist)
    for part in (s.train, s.val, s.test):
        np.testing.assert_allclose(np.bincount(part.y, minlength=10) / len(part), freq, atol=0.01)
    again = split_images(mnist, n_val=1000, seed=3)
    np.testing.assert_array_equal(s.test.X, again.test.X)
    other = split_images(mnist, n_val=1000, seed=4)
    assert not np.array_equal(s.test.y, other.test.y)
    small = split_images(mnist, n_train=500, n_test=100)
    assert (len(small.train), len(small.val), len(small.test)) == (500, 0, 100)
    rest = split_images(mnist, n_train=None, n_test=1000)
    assert len(rest.train) == 9000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": 9000, "n_test": 2000}, "does not fit"),
        ({"n_train": 0}, "does not fit"),
        ({"n_val": 8000}, "n_val"),
        ({"n_train": 5, "n_test": 100}, "each of the 10 classes"),
        ({"n_train": None, "n_test": None}, "n_train or n_test"),
    ],
)
def test_split_errors(mnist, kwargs, match):
    with pytest.raises(DataError, match=match):
        split_images(mnist, **kwargs)


def test_normaliser_is_fitted_on_training_images_only(mnist):
    s = split_images(mnist, n_train=1000, n_test=500)
    norm = ChannelNormalizer().fit(s.train.X)
    Z = norm.transform(s.train.X)
    assert abs(Z.mean()) < 1e-5 and Z.std() == pytest.approx(1.0, abs=1e-4)
    before = norm.transform(s.test.X)
    # a wildly different test set: the statistics, and so the training transform, do not move
    weird = ChannelNormalizer().fit(s.train.X)
    weird.transform(s.test.X * 100 + 7)
    np.testing.assert_array_equal(weird.mean_, norm.mean_)
    np.testing.assert_array_equal(weird.transform(s.test.X), before)
    assert not np.isclose(before.mean(), 0.0, atol=1e-6)  # test statistics were not used
    rgb = np.random.default_rng(0).random((4, 3, 2, 2)).astype(np.float32)
    rgb[:, 2] = 5.0  # a constant channel: std 1, not a division by zero
    out = ChannelNormalizer().fit_transform(rgb)
    assert np.isfinite(out).all() and np.allclose(out[:, 2], 0)
    with pytest.raises(DataError, match="not fitted"):
        ChannelNormalizer().transform(rgb)
    with pytest.raises(DataError, match="channel"):
        norm.transform(rgb)


def test_import_does_not_load_torch():
    code = "import sys, qmml.supervised.images; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
