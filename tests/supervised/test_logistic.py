"""Logistic regression: scikit-learn's accuracy within a point, stable probabilities, contract."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.utils.estimator_checks import parametrize_with_checks

from qmml.supervised.data import load_dataset, scaled, split
from qmml.supervised.logistic import LogisticRegression
from qmml.supervised.scratch.nn import log_softmax


@pytest.mark.parametrize(
    "name, max_iter", [("breast_cancer", 1000), ("iris", 1000), ("wine", 1000), ("digits", 300)]
)
def test_accuracy_within_one_point_of_sklearn(name, max_iter):
    data = load_dataset(name)
    X_tr, X_te, y_tr, y_te = split(data, seed=0)
    C = 1.0
    alpha = 1.0 / (C * len(y_tr))  # the same objective as scikit-learn's C
    ours = scaled(LogisticRegression(alpha=alpha, max_iter=max_iter, tol=0.0), "standard")
    ref = scaled(SkLogistic(C=C, max_iter=5000), "standard")
    acc_ours = ours.fit(X_tr, y_tr).score(X_te, y_te)
    acc_ref = ref.fit(X_tr, y_tr).score(X_te, y_te)
    assert abs(acc_ours - acc_ref) <= 0.01, (acc_ours, acc_ref)
    assert acc_ours > 0.9


def test_converges_to_sklearn_solution_on_small_problem():
    data = load_dataset("iris")
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    y = data.y == 2  # binary
    ours = LogisticRegression(alpha=1.0 / len(y), tol=1e-10, max_iter=200_000).fit(X, y)
    ref = SkLogistic(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("k", [2, 3])
def test_gradient_matches_finite_differences(k):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    T = rng.integers(0, 2, 20)[:, None] * 1.0 if k == 2 else np.eye(3)[rng.integers(0, 3, 20)]
    W, b = rng.normal(size=(3, T.shape[1])), rng.normal(size=T.shape[1])
    _, gW, gb = LogisticRegression._loss_grad(X, T, W, b, 0.3, k == 2)

    def loss(W_, b_):
        return LogisticRegression._loss_grad(X, T, W_, b_, 0.3, k == 2)[0]

    eps = 1e-6
    for arr, grad in ((W, gW), (b, gb)):
        for idx in np.ndindex(arr.shape):
            orig = arr[idx]
            arr[idx] = orig + eps
            up = loss(W, b)
            arr[idx] = orig - eps
            down = loss(W, b)
            arr[idx] = orig
            assert grad[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_loss_decreases_and_probabilities_are_consistent():
    data = load_dataset("wine")
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    m = LogisticRegression(max_iter=200).fit(X, data.y)
    assert np.all(np.diff(m.loss_history_) <= 1e-12)
    P = m.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(m.predict(X), m.classes_[P.argmax(axis=1)])
    assert m.coef_.shape == (3, X.shape[1]) and m.intercept_.shape == (3,)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_string_labels_and_binary_shapes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    m = LogisticRegression().fit(X, y)
    assert list(m.classes_) == ["no", "yes"]
    assert m.coef_.shape == (1, 2) and m.decision_function(X).shape == (60,)
    assert m.score(X, y) > 0.95


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_huge_logits_give_finite_log_probabilities():
    m = LogisticRegression().fit(np.array([[-1.0], [1.0], [-2.0], [2.0]]), [0, 1, 0, 1])
    m.coef_, m.intercept_ = np.array([[1000.0]]), np.array([0.0])  # logits of +-1000
    logp = m.predict_log_proba(np.array([[1.0], [-1.0]]))
    assert np.all(np.isfinite(logp))
    np.testing.assert_allclose(logp, [[-1000.0, 0.0], [0.0, -1000.0]])
    np.testing.assert_allclose(m.predict_proba(np.array([[1.0]])), [[0.0, 1.0]])
    z = np.array([[1000.0, -1000.0, 0.0]])
    np.testing.assert_allclose(log_softmax(z), [[0.0, -2000.0, -1000.0]])


def test_one_class_and_continuous_targets_are_refused():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(X, [1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="Unknown label type"):
        LogisticRegression().fit(X, [0.1, 0.2, 0.3, 0.4, 0.5])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": -0.1}, "alpha"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": "big"}, "learning_rate"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        LogisticRegression(**params).fit(np.eye(4), [0, 1, 0, 1])


def test_divergence_is_a_clear_error():
    X = np.array([[0.0], [1.0], [2.0], [3.0]]) * 1000
    with pytest.raises(ValueError, match="diverged"), np.errstate(over="ignore", invalid="ignore"):
        LogisticRegression(learning_rate=1e306, max_iter=50).fit(X, [0, 1, 0, 1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([LogisticRegression(max_iter=300)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_defaults_converge_and_match_sklearn_on_standardised_breast_cancer():
    # alpha=None is 1/n: scikit-learn's C=1. Tolerance: 0.02 absolute on coefficients of size
    # up to 1.3 against sklearn's own defaults (lbfgs, tol=1e-4, itself that far from the
    # optimum), 1e-3 against a tightly solved sklearn fit; same predictions.
    data = load_dataset("breast_cancer")
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = LogisticRegression().fit(X, data.y)
    assert ours.n_iter_ < ours.max_iter
    ref = SkLogistic().fit(X, data.y)
    tight = SkLogistic(tol=1e-10, max_iter=10_000).fit(X, data.y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=0.02)
    np.testing.assert_allclose(ours.coef_, tight.coef_, atol=1e-3)
    np.testing.assert_allclose(ours.intercept_, tight.intercept_, atol=1e-3)
    assert (ours.predict(X) == ref.predict(X)).mean() >= 0.995


@pytest.mark.parametrize(
    ("scale", "advice"),
    [
        (True, "larger learning_rate .the features are already scaled"),
        (False, "scale the features"),
    ],
)
def test_convergence_warning_suggests_scaling_only_for_unscaled_data(scale, advice):
    from sklearn.exceptions import ConvergenceWarning

    data = load_dataset("breast_cancer")
    X = (data.X - data.X.mean(0)) / data.X.std(0) if scale else data.X
    with pytest.warns(ConvergenceWarning, match=f"max_iter=20 .*{advice}"):
        LogisticRegression(max_iter=20).fit(X, data.y)
