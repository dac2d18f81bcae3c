"""A user's tabular CSV as a :class:`~qmml.supervised.dataset.Dataset` (:func:`load_csv`,
re-exported by :mod:`qmml.supervised.data`): reading the file (every OS or format failure as
one :class:`~qmml.supervised.dataset.DataError` line), choosing and checking the target and
feature columns, one-hot encoding, missing values and telling labels from a regression target.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from qmml.supervised.dataset import DataError, Dataset, did_you_mean

__all__ = ["load_csv"]

_MAX_CLASSES_AUTO = 20  # an integer target with at most this many values is taken as labels


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
            + did_you_mean(target, cols)
        )
    for what, names in (("features", features), ("drop", drop)):
        for c in names or []:
            if c not in cols:
                raise DataError(
                    f"{p}: {what} column {c!r} not found; columns are {', '.join(cols)}"
                    + did_you_mean(c, cols)
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
