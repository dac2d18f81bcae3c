"""Linear regression: agreement with scikit-learn, gradient descent behaviour, the contract."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression as SkLinear
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from qmml.supervised.data import load_dataset
from qmml.supervised.linear import LinearRegression, polynomial_regression


@pytest.fixture(scope="module")
def diabetes():
    d = load_dataset("diabetes")
    return StandardScaler().fit_transform(d.X), d.y


@pytest.fixture(scope="module")
def correlated():
    # 5 correlated features, moderate conditioning: gradient descent converges in seconds
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 5))
    X = Z @ (np.eye(5) + 0.3 * rng.normal(size=(5, 5))) + rng.normal(0, 1, size=5)
    y = X @ rng.normal(size=5) + 4.0 + rng.normal(0, 0.5, 200)
    return X, y


@pytest.mark.parametrize("solver", ["closed-form", "gd", "sgd"])
def test_hand_computed_line(solver):
    # y = 2x + 1 exactly: every solver must find w = 2, b = 1
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = 2 * X[:, 0] + 1
    m = LinearRegression(solver, tol=1e-12, max_iter=20000, batch_size=2, random_state=0).fit(X, y)
    assert m.coef_ == pytest.approx([2.0], abs=1e-5)
    assert m.intercept_ == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(m.predict([[10.0]]), [21.0], atol=1e-4)


def test_closed_form_equals_sklearn(diabetes):
    X, y = diabetes
    ours, ref = LinearRegression().fit(X, y), SkLinear().fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-8)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1000.0])
def test_ridge_closed_form_equals_sklearn_ridge(diabetes, alpha):
    X, y = diabetes
    ref = Ridge(alpha=alpha).fit(X, y)
    cf = LinearRegression(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(cf.coef_, ref.coef_, rtol=1e-9, atol=1e-8)
    assert cf.intercept_ == pytest.approx(ref.intercept_, rel=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 100.0])
def test_ridge_gd_equals_sklearn_ridge(correlated, alpha):
    X, y = correlated
    ref = Ridge(alpha=alpha).fit(X, y)
    gd = LinearRegression("gd", alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(gd.coef_, ref.coef_, rtol=1e-7, atol=1e-8)
    assert gd.intercept_ == pytest.approx(ref.intercept_, rel=1e-7)


def test_gd_equals_sklearn_linear_regression(correlated):
    X, y = correlated
    ref = SkLinear().fit(X, y)
    gd = LinearRegression("gd", tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(gd.coef_, ref.coef_, rtol=1e-7, atol=1e-8)
    assert gd.intercept_ == pytest.approx(ref.intercept_, rel=1e-7)
    np.testing.assert_allclose(gd.predict(X), ref.predict(X), rtol=1e-9)
    # with the 1/L step the objective never goes up
    assert np.all(np.diff(gd.loss_history_) <= 1e-9 * gd.loss_history_[:-1])


def test_sgd_gets_close_on_well_conditioned_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 3.0 + rng.normal(0, 0.1, 400)
    ref = SkLinear().fit(X, y)
    m = LinearRegression("sgd", max_iter=60, batch_size=16, random_state=0).fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=0.05)
    assert m.intercept_ == pytest.approx(ref.intercept_, abs=0.05)
    assert len(m.loss_history_) == m.n_iter_ == 60
    assert m.loss_history_[-1] < m.loss_history_[0] / 10


def test_sgd_is_seeded():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    a = LinearRegression("sgd", max_iter=5, batch_size=4, random_state=3).fit(X, y)
    b = LinearRegression("sgd", max_iter=5, batch_size=4, random_state=3).fit(X, y)
    c = LinearRegression("sgd", max_iter=5, batch_size=4, random_state=4).fit(X, y)
    assert a.coef_.tobytes() == b.coef_.tobytes()
    assert not np.array_equal(a.coef_, c.coef_)


def test_path_is_recorded_from_zero_to_solution():
    X = np.array([[1.0], [2.0], [4.0], [5.0]])
    y = np.array([2.0, 3.0, 6.0, 7.0])
    m = LinearRegression("gd", keep_path=True, tol=1e-10, max_iter=10000).fit(X, y)
    assert m.path_.shape == (m.n_iter_ + 1, 2)
    np.testing.assert_array_equal(m.path_[0], [0.0, 0.0])
    np.testing.assert_allclose(m.path_[-1], [m.coef_[0], m.intercept_])
    assert not hasattr(LinearRegression("gd").fit(X, y), "path_")


def test_collinear_features_closed_form_still_predicts():
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    X = np.c_[x, 2 * x]  # rank 1: the normal equations are singular
    y = 3 * x + 1
    np.testing.assert_allclose(LinearRegression().fit(X, y).predict(X), y, atol=1e-9)


def test_unscaled_features_slow_gd_down_and_warn():
    d = load_dataset("diabetes")  # raw units
    with pytest.warns(ConvergenceWarning, match="max_iter=200"):
        raw = LinearRegression("gd", max_iter=200).fit(d.X, d.y)
    X = StandardScaler().fit_transform(d.X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        std = LinearRegression("gd", max_iter=200).fit(X, d.y)
    assert std.score(X, d.y) > raw.score(d.X, d.y) + 0.05


def test_divergence_is_a_clear_error(diabetes):
    X, y = diabetes
    with (
        pytest.raises(ValueError, match=r"diverged.*lower learning_rate"),
        np.errstate(over="ignore", invalid="ignore"),
    ):
        LinearRegression("gd", learning_rate=10.0, max_iter=2000).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"solver": "newton"}, "solver"),
        ({"alpha": -1.0}, "alpha"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"max_iter": 0}, "max_iter"),
        ({"batch_size": 0}, "batch_size"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        LinearRegression(**params).fit(np.ones((4, 1)), np.arange(4.0))


def test_polynomial_regression_fits_quadratic_exactly():
    x = np.linspace(-2, 2, 25)[:, None]
    y = 1 - 2 * x[:, 0] + 0.5 * x[:, 0] ** 2
    model = polynomial_regression(2).fit(x, y)
    np.testing.assert_allclose(model.predict(x), y, atol=1e-9)
    assert polynomial_regression(1).fit(x, y).score(x, y) < 0.99
    with pytest.raises(ValueError, match="degree"):
        polynomial_regression(0)


# sgd with 100 epochs (not 1000) keeps the checks fast; the contract does not depend on it
# capped iterations on the check data: warning about it is the right behaviour
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        LinearRegression(),
        LinearRegression("gd"),
        LinearRegression("sgd", max_iter=100, random_state=0),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_sgd_stopping_at_max_iter_warns():
    d = load_dataset("diabetes")
    X = StandardScaler().fit_transform(d.X)
    with pytest.warns(
        ConvergenceWarning,
        match="stochastic gradient descent stopped after max_iter=3 epochs",
    ):
        LinearRegression("sgd", max_iter=3, random_state=0).fit(X, d.y)
    with warnings.catch_warnings():  # tol=0 asks for max_iter epochs: no warning
        warnings.simplefilter("error", ConvergenceWarning)
        LinearRegression("sgd", max_iter=3, tol=0.0, random_state=0).fit(X, d.y)
