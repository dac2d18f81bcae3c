"""Data: bundled, generated and user CSVs with clear errors; splitting; scaling without
leakage (fitted on training rows only)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression as SkLinear
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import qmml.supervised as supervised
from qmml.supervised.data import (
    DataError,
    load_csv,
    load_dataset,
    load_salary,
    make_scaler,
    make_sine,
    make_spiral,
    scaled,
    split,
)
from qmml.supervised.linear import LinearRegression
from qmml.supervised.metrics import cross_validate_error


def test_salary_is_bundled_with_provenance():
    d = load_salary()
    assert d.X.shape == (30, 1) and d.y.shape == (30,)
    assert d.X[0, 0] == pytest.approx(1.2) and d.y[0] == 39344.0
    assert d.task == "regression" and d.feature_names == ("YearsExperience",)
    readme = (Path(supervised.__file__).parent / "data" / "README.md").read_text()
    assert "salary.csv" in readme and "lecture series (Kaggle, public)" in readme


def test_spiral_is_seeded_and_balanced():
    a, b, c = (
        make_spiral(50, 4, 0.2, seed=1),
        make_spiral(50, 4, 0.2, seed=1),
        make_spiral(50, 4, 0.2, seed=2),
    )
    assert a.X.shape == (200, 2) and np.bincount(a.y).tolist() == [50] * 4
    assert a.X.tobytes() == b.X.tobytes() and not np.array_equal(a.X, c.X)
    assert np.all(np.linalg.norm(a.X, axis=1) <= 1.0 + 1e-12)  # radius grows 0 -> 1
    np.testing.assert_allclose(make_spiral(5, 2, 0.0).X[0], [0.0, 0.0])
    for bad in ({"n_per_class": 1}, {"n_classes": 1}, {"noise": -0.1}):
        with pytest.raises(DataError, match="spiral"):
            make_spiral(**bad)


def test_sine_generator():
    d = make_sine(30, 0.0, seed=0)
    np.testing.assert_allclose(d.y, np.sin(2 * np.pi * d.X[:, 0]))
    with pytest.raises(DataError, match="sine"):
        make_sine(2)


@pytest.mark.parametrize(
    "name, shape, task",
    [
        ("diabetes", (442, 10), "regression"),
        ("breast_cancer", (569, 30), "classification"),
        ("digits", (1797, 64), "classification"),
        ("iris", (150, 4), "classification"),
        ("wine", (178, 13), "classification"),
        ("breast-cancer", (569, 30), "classification"),
    ],
)
def test_sklearn_bundled_sets(name, shape, task):
    d = load_dataset(name)
    assert d.X.shape == shape and d.task == task and len(d.feature_names) == shape[1]


def test_diabetes_raw_units_by_default():
    raw, pre = load_dataset("diabetes"), load_dataset("diabetes", scaled_features=True)
    assert raw.X[:, 0].max() > 50  # age in years
    assert abs(pre.X[:, 0].mean()) < 1e-10


def test_load_dataset_errors():
    with pytest.raises(DataError, match="did you mean 'digits'"):
        load_dataset("digts")
    with pytest.raises(DataError, match="takes no option"):
        load_dataset("iris", noise=0.1)
    with pytest.raises(DataError, match="unknown option"):
        load_dataset("spiral", radius=2)


@pytest.fixture
def csv(tmp_path):
    def write(text):
        p = tmp_path / "data.csv"
        p.write_text(text)
        return p

    return write


def test_user_csv_regression_and_classification(csv):
    d = load_csv(csv("a,b,price\n1,2,10.5\n2,3,20.25\n3,5,31.0\n"), "price")
    assert d.task == "regression" and d.feature_names == ("a", "b")
    np.testing.assert_array_equal(d.y, [10.5, 20.25, 31.0])
    c = load_csv(csv("a,b,label\n1,2,cat\n2,3,dog\n3,5,cat\n"), "label")
    assert c.task == "classification" and list(c.y) == ["cat", "dog", "cat"]
    k = load_csv(csv("a,label\n1,0\n2,1\n3,1\n"), "label")
    assert k.task == "classification"  # few integer values: labels


def test_user_csv_errors_name_the_problem_and_fix(csv, tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_csv(tmp_path / "nope.csv", "y")
    with pytest.raises(
        DataError,
        match=r"target column 'Salry' not found.*did you mean "
        r"'Salary'",
    ):
        load_csv(csv("x,Salary\n1,2\n"), "Salry")
    with pytest.raises(DataError, match=r"non-numeric feature column.*city.*one_hot=True"):
        load_csv(csv("city,x,y\nParis,1,2\nRome,2,3\n"), "y")
    with pytest.raises(  # a missing target is its own error: it cannot be imputed
        DataError, match=r"target 'y' has 1 missing value\(s\) \(first in data row 3\).*drop"
    ):
        load_csv(csv("x,y\n1,2\n,3\n4,\n"), "y")
    with pytest.raises(
        DataError,
        match=r"1 missing value\(s\) in column\(s\) x .*data row 2.*impute.*or drop",
    ):
        load_csv(csv("x,y\n1,2\n,3\n4,5\n"), "y")
    with pytest.raises(DataError, match="no feature columns"):
        load_csv(csv("y\n1\n2\n"), "y")
    with pytest.raises(DataError, match="not numeric"):
        load_csv(csv("x,y\n1,a\n2,b\n"), "y", task="regression")
    with pytest.raises(DataError, match="the file is empty; expected a text CSV"):
        load_csv(csv(""), "y")


def test_user_csv_one_hot(csv):
    d = load_csv(csv("city,x,y\nParis,1,2.5\nRome,2,3.5\nParis,3,4.5\n"), "y", one_hot=True)
    assert d.feature_names == ("x", "city_Paris", "city_Rome")
    np.testing.assert_array_equal(d.X, [[1, 1, 0], [2, 0, 1], [3, 1, 0]])


def test_split_sizes_stratification_and_errors():
    d = load_dataset("breast_cancer")
    X_tr, X_te, _, y_te = split(d, test_size=0.25, seed=0)
    assert len(X_te) == 143 and len(X_tr) == 426
    assert abs(y_te.mean() - d.y.mean()) < 0.01  # stratified by default
    again = split(d, test_size=0.25, seed=0)
    assert again[1].tobytes() == X_te.tobytes()
    assert not np.array_equal(split(d, seed=1)[1], X_te)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(DataError, match="test_size"):
            split(d, test_size=bad)
    with pytest.raises(DataError, match="leaves"):
        split(make_sine(3), test_size=0.5)


def test_make_scaler_kinds():
    assert make_scaler("none") is None
    assert isinstance(make_scaler("standard"), StandardScaler)
    assert isinstance(make_scaler("minmax"), MinMaxScaler)
    with pytest.raises(DataError, match="unknown scaling"):
        make_scaler("robust")
    model = LinearRegression()
    assert scaled(model, "none") is model


@pytest.mark.parametrize("kind", ["standard", "minmax"])
def test_scaling_is_fitted_on_training_rows_only(kind):
    d = load_dataset("diabetes")
    X_tr, X_te, y_tr, _ = split(d, seed=0)
    model = scaled(LinearRegression(), kind).fit(X_tr, y_tr)
    scaler = model.named_steps["scale"]
    if kind == "standard":
        np.testing.assert_allclose(scaler.mean_, X_tr.mean(axis=0))
        assert not np.allclose(scaler.mean_, d.X.mean(axis=0))  # all rows would differ
    else:
        np.testing.assert_allclose(scaler.data_min_, X_tr.min(axis=0))
    # ours equals scaling by hand with training statistics, and differs from the lectures'
    # leaky version (statistics of all rows): the check has teeth
    by_hand = make_scaler(kind).fit(X_tr)
    honest = LinearRegression().fit(by_hand.transform(X_tr), y_tr)
    np.testing.assert_allclose(
        model.predict(X_te), honest.predict(by_hand.transform(X_te)), rtol=1e-12
    )
    leaky_scaler = make_scaler(kind).fit(d.X)
    leaky = LinearRegression(alpha=1.0).fit(leaky_scaler.transform(X_tr), y_tr)
    ours = scaled(LinearRegression(alpha=1.0), kind).fit(X_tr, y_tr)
    assert not np.allclose(ours.predict(X_te), leaky.predict(leaky_scaler.transform(X_te)))


def test_cross_validation_fits_each_scaler_on_its_training_folds_only():
    seen = []

    class SpyScaler(StandardScaler):
        def fit(self, X, y=None, sample_weight=None):
            seen.append({tuple(r) for r in np.asarray(X)})
            return super().fit(X, y, sample_weight)

    d = load_dataset("diabetes")
    from sklearn.pipeline import Pipeline

    model = Pipeline([("scale", SpyScaler()), ("model", SkLinear())])
    errors = cross_validate_error(model, d.X, d.y, n_splits=4, seed=0)
    assert len(errors) == 4 and len(seen) == 4
    rows = {tuple(r) for r in d.X}
    for fitted_on in seen:
        held_out = rows - fitted_on
        assert 100 <= len(held_out) <= 120  # one fold (442 / 4) never reached the scaler


# -- the user's table with gaps: imputation fitted on training rows only ----------------------
def _gappy(csv, n: int = 60) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(5, 2, n),
            "city": rng.choice(["Paris", "Rome"], n).astype(object),
            "y": rng.normal(0, 1, n),
        }
    )
    df.loc[::7, "x"] = np.nan
    df.loc[::9, "city"] = None
    return csv(df.to_csv(index=False)), df


def test_user_table_with_gaps_one_hot_drop(csv) -> None:
    path, _ = _gappy(csv)
    data = load_csv(path, "y", one_hot=True, drop=["id"], keep_missing=True, task="regression")
    assert data.feature_names == ("x", "city_Paris", "city_Rome", "city_nan")  # missing: a class
    assert np.isnan(data.X[:, 0]).any() and not np.isnan(data.X[:, 1:]).any()
    model = scaled(SkLinear(), "standard", "median").fit(data.X, data.y)
    assert np.isfinite(model.predict(data.X)).all()


def test_features_task_and_target_gaps(csv) -> None:
    path, _ = _gappy(csv)
    d = load_csv(path, "y", features=["x"], keep_missing=True, task="regression")
    assert d.feature_names == ("x",)
    ints = csv("a,label\n1,0\n2,1\n3,2\n4,0\n")
    assert load_csv(ints, "label").task == "classification"
    assert load_csv(ints, "label", task="regression").task == "regression"
    with pytest.raises(DataError, match=r"target 'label' has 1 missing value.*cannot be imputed"):
        load_csv(csv("a,label\n1,0\n2,\n3,1\n"), "label")
    with pytest.raises(DataError, match=r"features column 'aa' not found.*did you mean 'a'"):
        load_csv(ints, "label", features=["aa"])
    with pytest.raises(DataError, match="constant needs a number"):
        scaled(object(), "none", "constant")  # type: ignore[arg-type]
