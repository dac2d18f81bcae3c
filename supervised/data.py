"""Data for the supervised lectures: bundled, generated or a user's CSV, all offline.

Splitting and scaling live here too. Scalers are always fitted on the training split only:
:func:`scaled` wraps a model and its scaler in a scikit-learn ``Pipeline``, so ``fit`` on the
training rows (or on each cross-validation fold) is the only place the scaler sees data. The
lectures computed z-scores on all rows before splitting, which leaks test statistics.

:class:`Dataset` and :class:`DataError` are defined in :mod:`qmml.supervised.dataset` and a
user's CSV is read by :mod:`qmml.supervised.tabular_csv`; all three are re-exported here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn import datasets as skds
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from qmml.supervised.dataset import DataError, Dataset, Task, did_you_mean
from qmml.supervised.tabular_csv import load_csv

Scaling = Literal["none", "standard", "minmax"]
Impute = Literal["none", "mean", "median", "most_frequent", "constant"]

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "Impute",
    "Scaling",
    "load_csv",
    "load_dataset",
    "load_salary",
    "make_scaler",
    "make_sine",
    "make_spiral",
    "scaled",
    "split",
]


def load_salary() -> Dataset:
    """The lecture's 30-row salary data: years of experience -> salary (see data/README.md)."""
    path = Path(str(resources.files("qmml.supervised") / "data" / "salary.csv"))
    df = pd.read_csv(path, index_col=0)
    return Dataset(
        df[["YearsExperience"]].to_numpy(np.float64),
        df["Salary"].to_numpy(np.float64),
        ("YearsExperience",),
        "Salary",
        "regression",
        "salary",
    )


def make_spiral(
    n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> Dataset:
    """Interleaved 2-D spiral arms, one per class (the lectures' ``nnfs`` data, re-derived).

    Arm ``k`` has radius growing linearly from 0 to 1 and angle ``2.5 * t`` with
    ``t`` spanning ``[4k, 4k + 4]`` plus Gaussian jitter of std ``noise``.

    Raises:
        DataError: fewer than 2 points per class, fewer than 2 classes, or negative noise.
    """
    if n_per_class < 2 or n_classes < 2 or noise < 0:
        raise DataError(
            f"spiral: need n_per_class >= 2, n_classes >= 2 and noise >= 0, got "
            f"{n_per_class}, {n_classes}, {noise}"
        )
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n_per_class)
    xs, ys = [], []
    for k in range(n_classes):
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class) + rng.normal(0, noise, n_per_class)
        xs.append(np.c_[radius * np.sin(2.5 * angle), radius * np.cos(2.5 * angle)])
        ys.append(np.full(n_per_class, k))
    return Dataset(
        np.vstack(xs), np.concatenate(ys), ("x1", "x2"), "arm", "classification", "spiral"
    )


def make_sine(n_samples: int = 40, noise: float = 0.25, seed: int = 0) -> Dataset:
    """``y = sin(2 pi x) + noise`` for ``x`` uniform on [0, 1]: the classic polynomial-degree
    example of under- and overfitting (Bishop, PRML 1.1).

    Raises:
        DataError: fewer than 3 samples or negative noise.
    """
    if n_samples < 3 or noise < 0:
        raise DataError(f"sine: need n_samples >= 3 and noise >= 0, got {n_samples}, {noise}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, n_samples)
    y = np.sin(2 * np.pi * x) + rng.normal(0.0, noise, n_samples)
    return Dataset(x[:, None], y, ("x",), "y", "regression", "sine")


def _sklearn(name: str, scaled_features: bool = False) -> Dataset:
    if name == "diabetes":
        # scaled=False gives the raw units (age in years, BMI, blood pressure ...): the
        # with/without-scaling comparison needs them.
        b = skds.load_diabetes(scaled=scaled_features)
    else:
        b = getattr(skds, f"load_{name}")()
    task: Task = "regression" if name == "diabetes" else "classification"
    names = getattr(b, "feature_names", None)
    if names is None or len(names) != b.data.shape[1]:
        names = [f"x{i}" for i in range(b.data.shape[1])]
    return Dataset(
        np.asarray(b.data, np.float64),
        np.asarray(b.target),
        tuple(map(str, names)),
        "target",
        task,
        name,
    )


DATASETS: tuple[str, ...] = (
    "salary",
    "sine",
    "spiral",
    "diabetes",
    "breast_cancer",
    "digits",
    "iris",
    "wine",
)


def load_dataset(name: str, **options: Any) -> Dataset:
    """A named data set: ``salary`` (bundled), ``sine`` and ``spiral`` (generated; options
    are those of :func:`make_sine` / :func:`make_spiral`), or scikit-learn's bundled
    ``diabetes`` (raw units; ``scaled_features=True`` for sklearn's pre-scaled copy),
    ``breast_cancer``, ``digits``, ``iris``, ``wine``.

    Raises:
        DataError: unknown name, or options the data set does not take.
    """
    key = name.replace("-", "_")
    if key not in DATASETS:
        did = did_you_mean(key, DATASETS)
        raise DataError(
            f"unknown data set {name!r}; choose from {', '.join(DATASETS)} or "
            f"load a CSV with load_csv(path, target){did}"
        )
    loader: Any = {"salary": load_salary, "sine": make_sine, "spiral": make_spiral}.get(key)
    allowed = {"diabetes": ("scaled_features",)}.get(key, ())
    if loader is None:
        bad = sorted(set(options) - set(allowed))
        if bad:
            raise DataError(f"data set {name!r} takes no option(s) {', '.join(bad)}")
        return _sklearn(key, **options)
    try:
        return loader(**options)
    except TypeError:
        raise DataError(
            f"data set {name!r}: unknown option(s) {', '.join(sorted(options))}; "
            f"see help(supervised.data.{loader.__name__})"
        ) from None


def split(
    data: Dataset, *, test_size: float = 0.25, seed: int = 0, stratify: bool | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into ``X_train, X_test, y_train, y_test``.

    Args:
        data: the data set.
        test_size: held-out fraction (0, 1).
        seed: seed of the shuffle.
        stratify: keep class proportions (default: yes for classification).

    Raises:
        DataError: a test size outside (0, 1) or one that leaves a split empty.
    """
    if not 0 < test_size < 1:
        raise DataError(f"test_size must be in (0, 1), got {test_size}; e.g. 0.25")
    n = len(data.y)
    n_test = int(np.ceil(test_size * n))
    if n_test < 1 or n - n_test < 2:
        raise DataError(
            f"test_size {test_size} leaves {n - n_test} training and {n_test} test "
            f"rows of {n}; use a data set with more rows or another test_size"
        )
    strat = data.task == "classification" if stratify is None else stratify
    return train_test_split(
        data.X, data.y, test_size=test_size, random_state=seed, stratify=data.y if strat else None
    )


def make_scaler(kind: Scaling) -> BaseEstimator | None:
    """A fresh, unfitted scaler: ``standard`` (z-scores), ``minmax`` ([0, 1]) or None.

    Raises:
        DataError: unknown kind.
    """
    if kind == "none":
        return None
    if kind == "standard":
        return StandardScaler()
    if kind == "minmax":
        return MinMaxScaler()
    raise DataError(f"unknown scaling {kind!r}; choose from none, standard, minmax")


def scaled(
    model: BaseEstimator,
    scaling: Scaling,
    impute: Impute = "none",
    fill_value: float | None = None,
) -> BaseEstimator:
    """``model`` behind an imputer and a scaler in a ``Pipeline`` (``model`` itself for
    ``none`` and ``none``).

    The pipeline's ``fit`` fits the imputer and the scaler on the rows it is given and nothing
    else, so the test split, or a cross-validation fold's held-out rows, never shape the
    imputed values or the scaling.

    Args:
        model: the estimator.
        scaling: ``none``, ``standard`` or ``minmax``.
        impute: ``none`` (no imputer), or scikit-learn ``SimpleImputer``'s strategy
            ``mean``, ``median``, ``most_frequent`` or ``constant`` (then ``fill_value``).
        fill_value: the value of ``impute="constant"``.

    Raises:
        DataError: unknown scaling or imputation, or ``constant`` without a number.
    """
    steps: list[tuple[str, Any]] = []
    if impute != "none":
        if impute not in ("mean", "median", "most_frequent", "constant"):
            raise DataError(
                f"unknown impute {impute!r}; choose from none, mean, median, "
                "most_frequent, constant"
            )
        if impute == "constant" and not isinstance(fill_value, (int, float)):
            raise DataError(f"impute: constant needs a number as fill_value, got {fill_value!r}")
        imputer = SimpleImputer(strategy=impute, fill_value=fill_value, keep_empty_features=True)
        steps.append(("impute", imputer))
    scaler = make_scaler(scaling)
    if scaler is not None:
        steps.append(("scale", scaler))
    return Pipeline([*steps, ("model", model)]) if steps else model
