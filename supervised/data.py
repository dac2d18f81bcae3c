"""Data for the supervised lectures: bundled, generated or a user's CSV, all offline.

Splitting and scaling live here too. Scalers are always fitted on the training split only:
:func:`scaled` wraps a model and its scaler in a scikit-learn ``Pipeline``, so ``fit`` on the
training rows (or on each cross-validation fold) is the only place the scaler sees data. The
lectures computed z-scores on all rows before splitting, which leaks test statistics.
"""

from __future__ import annotations

import difflib
import zlib
from dataclasses import dataclass
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


class DataError(ValueError):
    """A problem with data a user asked for (missing file, bad column, bad split or option)."""


Task = Literal["regression", "classification"]
Scaling = Literal["none", "standard", "minmax"]
Impute = Literal["none", "mean", "median", "most_frequent", "constant"]
_MAX_CLASSES_AUTO = 20  # an integer target with at most this many values is taken as labels


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


def load_csv(
    path: str | Path,
    target: str,
    *,
    one_hot: bool = False,
    task: Literal["auto", "regression", "classification"] = "auto",
    features: list[str] | None = None,
    drop: list[str] | None = None,
    keep_missing: bool = False,
) -> Dataset:
    """A user's CSV file with one target column; every other column is a feature.

    Args:
        path: CSV file (``.csv`` or ``.csv.gz``) with a header row.
        target: name of the target column.
        one_hot: one-hot encode non-numeric feature columns instead of refusing them; an
            empty cell of such a column is a category of its own (``<column>_nan``).
        task: ``auto`` takes a non-numeric target, or an integer one with at most 20 distinct
            values, as class labels, and anything else as a regression target.
        features: the feature columns to use (default: every column but the target).
        drop: columns to leave out (e.g. an id column).
        keep_missing: keep empty numeric feature cells as NaN, for an imputer fitted on the
            training rows (:func:`scaled` with ``impute``); default: refuse them.

    Raises:
        DataError: missing, unreadable or damaged file, missing target or named column,
            non-numeric features (without ``one_hot``), missing values (without
            ``keep_missing``; never allowed in the target), no feature columns, or a
            non-numeric target for regression.
    """
    p = Path(path)
    df = _read_table(p)
    cols = [str(c) for c in df.columns]
    df.columns = cols
    if target not in cols:
        raise DataError(
            f"{p}: target column {target!r} not found; columns are {', '.join(cols)}"
            + _did_you_mean(target, cols)
        )
    for what, names in (("features", features), ("drop", drop)):
        for c in names or []:
            if c not in cols:
                raise DataError(
                    f"{p}: {what} column {c!r} not found; columns are {', '.join(cols)}"
                    + _did_you_mean(c, cols)
                )
            if c == target:
                raise DataError(f"{p}: {what} lists the target {target!r}; remove it there")
    y_col = df[target]
    if y_col.isna().any():
        first = int(np.flatnonzero(y_col.isna().to_numpy())[0])
        raise DataError(
            f"{p}: target {target!r} has {int(y_col.isna().sum())} missing value(s) (first "
            f"in data row {first + 1}); a target cannot be imputed: drop those rows"
        )
    keep = features if features is not None else [c for c in cols if c != target]
    X_df = df[[c for c in keep if c not in set(drop or [])]]
    if X_df.shape[1] == 0:
        raise DataError(f"{p}: no feature columns besides the target {target!r}")
    text = [c for c in X_df.columns if not pd.api.types.is_numeric_dtype(X_df[c])]
    if text and not one_hot:
        example = X_df[text[0]].dropna().iloc[0] if X_df[text[0]].notna().any() else None
        raise DataError(
            f"{p}: non-numeric feature column(s) {', '.join(text)} (e.g. "
            f"{example!r}); pass one_hot=True to one-hot encode them, or drop them"
        )
    numeric = [c for c in X_df.columns if c not in text]
    nan_cols = [c for c in numeric if X_df[c].isna().any()]
    if nan_cols and not keep_missing:
        first = int(np.flatnonzero(X_df[nan_cols].isna().any(axis=1).to_numpy())[0])
        raise DataError(
            f"{p}: {int(X_df[nan_cols].isna().sum().sum())} missing value(s) in "
            f"column(s) {', '.join(nan_cols)} (first in data row {first + 1}); impute them "
            "(a spec's env.impute: mean, median, most_frequent or constant) or drop those rows"
        )
    if text:  # an empty cell is a category of its own, never a guess
        X_df = pd.get_dummies(X_df, columns=text, dummy_na=False, dtype=np.float64)
        for c in text:
            if df[c].isna().any():
                X_df[f"{c}_nan"] = df[c].isna().to_numpy(np.float64)
    numeric_target = pd.api.types.is_numeric_dtype(y_col)
    if task == "auto":
        values = y_col.to_numpy()
        labels = not numeric_target or (
            np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= _MAX_CLASSES_AUTO
        )
        task = "classification" if labels else "regression"
    if task not in ("regression", "classification"):
        raise DataError(f"task {task!r}: choose auto, regression or classification")
    if task == "regression" and not numeric_target:
        raise DataError(
            f"{p}: target {target!r} is not numeric (e.g. {y_col.iloc[0]!r}); "
            "use task='classification' or a numeric target column"
        )
    y = y_col.to_numpy(np.float64) if task == "regression" else y_col.to_numpy()
    return Dataset(
        X_df.to_numpy(np.float64),
        y,
        tuple(map(str, X_df.columns)),
        str(target),
        task,
        p.stem,
    )


def _did_you_mean(value: str, choices: list[str]) -> str:
    hint = difflib.get_close_matches(value, choices, n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def _read_table(p: Path) -> pd.DataFrame:
    """The CSV as pandas reads it; one-line DataError naming the path, cause and fix."""
    if p.is_dir():
        raise DataError(f"{p} is a folder, not a file; give the path of a CSV file in it")
    if not p.exists():
        raise DataError(f"CSV file {str(p)!r} not found; give the path of an existing file")
    fix = "expected a text CSV with a header row and one row per sample"
    try:
        df = pd.read_csv(p)
    except PermissionError:
        raise DataError(
            f"{p}: permission denied; make the file readable (chmod u+r) or copy it"
        ) from None
    except (OSError, EOFError, zlib.error) as err:  # e.g. a .csv.gz that is not gzip
        raise DataError(f"{p}: cannot read ({_cause(err)}); {fix}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: the file is empty; {fix}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{p}: cannot read as CSV ({_cause(err)}); {fix}") from None
    if df.empty:
        raise DataError(f"{p}: no data rows (only a header); add one row per sample")
    return df


def _cause(err: BaseException) -> str:
    lines = str(err).strip().splitlines() or [type(err).__name__]
    return lines[0]


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
        hint = difflib.get_close_matches(key, DATASETS, n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
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
