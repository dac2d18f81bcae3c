"""Seeded image augmentation in plain torch (no torchvision): random shifts, small rotations,
scale and shear jitter, as one random affine map per image.

Each image gets ``x_in = A x_out + t`` in the normalised coordinates of ``F.affine_grid``
(-1..1 across the image), sampled bilinearly by ``F.grid_sample``:
``A = R(rotation) @ Shear(shear) @ diag(scale)``, ``t`` = shift. Every draw comes from a
``torch.Generator`` the caller seeds: same seed, same images; torch's global generator is never
touched. Shapes and labels are kept: (n, C, H, W) in, (n, C, H, W) out.

- :func:`augment` transforms a batch with a given generator.
- :func:`batch_transform` wraps it for :func:`~qmml.supervised.deep.batches.array_batches`
  (``transform=``), which seeds the generator from the epoch's NumPy generator.
- :func:`perturb` makes a fixed perturbed copy of a test set from a seed (robustness check).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["PERTURB", "AugmentConfig", "augment", "batch_transform", "perturb"]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random affine maps (each drawn uniformly in +-range).

    Attributes:
        max_shift: translation as a fraction of the image side (0.12 = 3.4 px on 28x28).
        max_rotation_deg: rotation in degrees.
        max_scale: relative zoom, scale in ``[1 - max_scale, 1 + max_scale]``.
        max_shear_deg: horizontal shear angle in degrees.
        padding_mode: what enters from outside the image: ``"zeros"`` or ``"border"``
            (border repeats the edge pixels, the background after normalising).
    """

    max_shift: float = 0.12
    max_rotation_deg: float = 15.0
    max_scale: float = 0.12
    max_shear_deg: float = 8.0
    padding_mode: str = "border"

    def __post_init__(self) -> None:
        if not 0 <= self.max_shift <= 1:
            raise ValueError(f"AugmentConfig.max_shift={self.max_shift}; must be in [0, 1]")
        if not 0 <= self.max_scale < 1:
            raise ValueError(f"AugmentConfig.max_scale={self.max_scale}; must be in [0, 1)")
        if not 0 <= self.max_rotation_deg <= 180 or not 0 <= self.max_shear_deg < 90:
            raise ValueError(
                "AugmentConfig: max_rotation_deg must be in [0, 180], max_shear_deg in [0, 90)"
            )
        if self.padding_mode not in ("zeros", "border"):
            raise ValueError(
                f"AugmentConfig.padding_mode={self.padding_mode!r}; choose from zeros, border"
            )


#: A stronger, fixed perturbation for robustness checks on a test set.
PERTURB = AugmentConfig(max_shift=0.15, max_rotation_deg=20.0, max_scale=0.15, max_shear_deg=10.0)


def _uniform(n: int, half_range: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * half_range


def _thetas(n: int, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Affine matrices (n, 2, 3), drawn on the CPU in float64."""
    rot = _uniform(n, math.radians(config.max_rotation_deg), gen)
    shear = torch.tan(_uniform(n, math.radians(config.max_shear_deg), gen))
    scale = 1 + _uniform(n, config.max_scale, gen)
    shift = _uniform(2 * n, 2 * config.max_shift, gen).reshape(n, 2)  # side = 2 units
    cos, sin = torch.cos(rot), torch.sin(rot)
    # A = R @ Shear @ diag(1/scale): sampling at A x zooms by `scale`
    a00, a01 = cos / scale, (cos * shear - sin) / scale
    a10, a11 = sin / scale, (sin * shear + cos) / scale
    theta = torch.stack([a00, a01, shift[:, 0], a10, a11, shift[:, 1]], dim=1)
    return theta.reshape(n, 2, 3)


def augment(x: torch.Tensor, gen: torch.Generator, config: AugmentConfig) -> torch.Tensor:
    """A random affine transform of every image of ``x`` (n, C, H, W); same shape and dtype.

    Args:
        x: float images, any device.
        gen: a CPU ``torch.Generator`` (seeded by the caller); all draws come from it.
        config: the ranges.
    """
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"augment expects float images (n, C, H, W), got {x.dtype} {x.shape}")
    theta = _thetas(len(x), config, gen).to(device=x.device, dtype=x.dtype)  # (n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (n, H, W, 2)
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode=config.padding_mode, align_corners=False
    )


def batch_transform(
    config: AugmentConfig | None = None,
) -> Callable[[tuple[torch.Tensor, ...], torch.Generator], tuple[torch.Tensor, ...]]:
    """``transform=`` for ``array_batches``: augments the batch's first tensor (the images),
    keeps the rest (labels) as they are."""
    cfg = config or AugmentConfig()

    def transform(batch: tuple[torch.Tensor, ...], gen: torch.Generator) -> tuple:
        return (augment(batch[0], gen, cfg), *batch[1:])

    return transform


def perturb(
    X: np.ndarray, seed: int, config: AugmentConfig = PERTURB, chunk: int = 2048
) -> np.ndarray:
    """A perturbed copy of images ``X`` (n, C, H, W): one random affine map each, from ``seed``.

    The result does not depend on ``chunk`` (draws are made for all images first).
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    theta = _thetas(len(x), config, gen).to(torch.float32)
    out = []
    for start in range(0, len(x), chunk):
        xb, tb = x[start : start + chunk], theta[start : start + chunk]
        grid = F.affine_grid(tb, list(xb.shape), align_corners=False)
        out.append(F.grid_sample(xb, grid, padding_mode=config.padding_mode, align_corners=False))
    return torch.cat(out).numpy() if out else X.astype(np.float32, copy=True)
