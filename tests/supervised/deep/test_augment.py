"""Seeded augmentation: shapes and labels kept, same seed same output, identity at zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmml.supervised.deep.augment import (
    PERTURB,
    AugmentConfig,
    augment,
    batch_transform,
    perturb,
)
from qmml.supervised.deep.batches import array_batches


def _images(n: int = 6) -> torch.Tensor:
    x = torch.zeros(n, 1, 12, 12)
    x[:, :, 4:8, 3:9] = 1.0  # a bar in the middle
    return x


def test_shapes_kept_and_seeded():
    x = _images()
    a = augment(x, torch.Generator().manual_seed(0), AugmentConfig())
    b = augment(x, torch.Generator().manual_seed(0), AugmentConfig())
    c = augment(x, torch.Generator().manual_seed(1), AugmentConfig())
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)
    assert not torch.equal(a[0], a[1])  # one map per image


def test_zero_ranges_are_the_identity():
    cfg = AugmentConfig(max_shift=0, max_rotation_deg=0, max_scale=0, max_shear_deg=0)
    x = torch.rand(3, 2, 9, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(augment(x, torch.Generator(), cfg), x, atol=1e-5, rtol=0)


def test_a_pure_shift_moves_the_image():
    cfg = AugmentConfig(
        max_shift=0.25, max_rotation_deg=0, max_scale=0, max_shear_deg=0, padding_mode="zeros"
    )
    x = _images(200)
    out = augment(x, torch.Generator().manual_seed(0), cfg)
    # mass is kept unless it moves out of the frame; centres of mass move by up to 3 px
    cols = torch.arange(12.0)
    cx = (out.sum(dim=(1, 2)) * cols).sum(1) / out.sum(dim=(1, 2, 3))
    assert 0.5 < (cx - 5.5).abs().max() <= 3.0 + 1e-4


def test_global_rng_untouched_and_batch_transform_keeps_labels():
    before = torch.get_rng_state()
    X = _images(10).numpy()
    y = np.arange(10)
    batches = array_batches(X, y, batch_size=4, transform=batch_transform(AugmentConfig()))
    first = list(batches(np.random.default_rng(0), 0))
    again = list(batches(np.random.default_rng(0), 0))
    assert torch.equal(torch.get_rng_state(), before)
    assert [len(b[1]) for b in first] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in first]).tolist()) == list(range(10))
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xa.shape[1:] == (1, 12, 12)


def test_perturb_is_seeded_and_chunk_independent():
    X = _images(7).numpy()
    a = perturb(X, seed=3)
    np.testing.assert_array_equal(a, perturb(X, seed=3, chunk=2))
    assert a.shape == X.shape and a.dtype == np.float32
    assert not np.array_equal(a, perturb(X, seed=4))
    assert PERTURB.max_rotation_deg > AugmentConfig().max_rotation_deg


@pytest.mark.parametrize(
    "kwargs",
    [{"max_shift": 2.0}, {"max_scale": 1.0}, {"max_rotation_deg": -1}, {"padding_mode": "x"}],
)
def test_config_errors(kwargs):
    with pytest.raises(ValueError, match="AugmentConfig"):
        AugmentConfig(**kwargs)


def test_rejects_non_image_input():
    with pytest.raises(ValueError, match="float images"):
        augment(torch.zeros(3, 4), torch.Generator(), AugmentConfig())
