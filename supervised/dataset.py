"""The tabular data set every tabular loader returns (:class:`Dataset`: features, target
and what they mean) and the one error they raise for data a user asked for
(:class:`DataError`). Both are re-exported by :mod:`qmml.supervised.data`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["DataError", "Dataset", "Task", "did_you_mean"]


class DataError(ValueError):
    """A problem with data a user asked for (missing file, bad column, bad split or option)."""


Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class Dataset:
    """Features, target and what they mean.

    Attributes:
        X: features, shape (n_samples, n_features), float64.
        y: target, shape (n_samples,): floats (regression) or labels (classification).
        feature_names: one name per column of ``X``.
        target_name: name of the target.
        task: ``regression`` or ``classification``.
        name: short name of the data set.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    task: Task
    name: str

    @property
    def n_classes(self) -> int:
        """Number of distinct labels (0 for regression)."""
        return 0 if self.task == "regression" else len(np.unique(self.y))


def did_you_mean(value: object, choices: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` (the supervised
    layer's one helper: it cannot import the experiments' or the environments')."""
    import difflib

    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""
