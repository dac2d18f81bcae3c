"""Checks that an action lies in the action space: an invalid action is an error, never
silently reinterpreted (a negative index would wrap to the last level, a short vector would
broadcast, a NaN would turn the portfolio into NaN)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["finite_actions", "level_indices"]


def level_indices(action: Any, n_levels: int, size: int, space: spaces.Space) -> np.ndarray:
    """``action`` as ``size`` integer level indices in ``[0, n_levels)``.

    Raises:
        ValueError: wrong number of values, non-integers, or a level out of range.
    """
    a = np.asarray(action)
    if a.size != size or a.dtype.kind not in "iu":
        raise ValueError(
            f"action {_show(action)} is not in the action space {space}: give "
            f"{size} integer level(s) in [0, {n_levels})"
        )
    a = a.reshape(-1)
    if a.min() < 0 or a.max() >= n_levels:
        raise ValueError(
            f"action {_show(action)} is not in the action space {space}: levels run from 0 to "
            f"{n_levels - 1}"
        )
    return a.astype(np.intp, copy=False)


def finite_actions(action: Any, size: int, space: spaces.Space) -> np.ndarray:
    """``action`` as ``size`` float64 values, all finite.

    Raises:
        ValueError: wrong number of values, or a NaN or infinite value.
    """
    try:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        a = np.empty(0)
    if a.size != size:
        raise ValueError(
            f"action {_show(action)} is not in the action space {space}: give {size} number(s)"
        )
    if not np.isfinite(a).all():
        raise ValueError(
            f"action {_show(action)} has NaN or infinite values; a policy that outputs them "
            "has diverged (check its inputs and learning rate)"
        )
    return a


def _show(action: Any) -> str:
    text = repr(action)
    return text if len(text) <= 60 else text[:57] + "..."
