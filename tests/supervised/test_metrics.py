"""Metrics helpers: hand-computed values, ROC resampling, k-fold, learning and validation
curves that show under- and overfitting."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from qmml.supervised.data import load_dataset, make_sine
from qmml.supervised.linear import LinearRegression, polynomial_regression
from qmml.supervised.metrics import (
    classification_scores,
    cross_validate_error,
    kfold,
    learning_curve_error,
    mean_roc_curve,
    regression_scores,
    validation_curve_error,
)


def test_regression_scores_by_hand():
    s = regression_scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert s["mse"] == pytest.approx(4 / 3)
    assert s["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert s["mae"] == pytest.approx(2 / 3)
    assert s["r2"] == pytest.approx(1 - 4 / 2)  # SSE 4, total sum of squares 2


def test_classification_scores_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    s = classification_scores(y, pred)
    assert s["accuracy"] == pytest.approx(4 / 6)
    # per class precision: 2/2, 1/2, 1/2; recall: 2/3, 1/2, 1/1
    assert s["precision_macro"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert s["recall_macro"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((1, 2 / 3), (0.5, 0.5), (0.5, 1))]
    assert s["f1_macro"] == pytest.approx(np.mean(f1))
    assert s["f1_micro"] == s["precision_micro"] == s["recall_micro"] == pytest.approx(4 / 6)
    assert "log_loss" not in s


def test_binary_log_loss_and_auc_by_hand():
    y = np.array(["a", "b", "b", "a"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    s = classification_scores(y, np.array(["a", "b", "b", "b"]), proba, labels=["a", "b"])
    assert s["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.6, 0.3])))
    # positives score 0.8, 0.6; negatives 0.1, 0.7: 3 of 4 pairs ranked right
    assert s["roc_auc"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="labels"):
        classification_scores(y, y, proba)


def test_multiclass_auc_and_missing_classes():
    y = np.array([0, 1, 2, 2])
    proba = np.eye(3)[y] * 0.7 + 0.1
    s = classification_scores(y, y, proba, labels=[0, 1, 2])
    assert s["roc_auc"] == pytest.approx(1.0) and s["accuracy"] == 1.0
    one = classification_scores(
        np.array([1, 1]), np.array([1, 1]), np.array([[0.2, 0.8], [0.1, 0.9]]), labels=[0, 1]
    )
    assert "roc_auc" not in one  # undefined with one class present


def test_mean_roc_curve_extremes():
    grid = np.linspace(0, 1, 11)
    y = np.array([0, 0, 1, 1])
    perfect = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    np.testing.assert_allclose(mean_roc_curve(y, perfect, [0, 1], grid)[1:], 1.0)
    worst = perfect[:, ::-1]
    tpr = mean_roc_curve(y, worst, [0, 1], grid)
    assert np.all(tpr[:-1] < 0.5) and tpr[-1] == 1.0
    assert np.all(np.isnan(mean_roc_curve(np.array([1, 1]), perfect[:2], [0, 1], grid)))


def test_kfold_is_stratified_for_classifiers():
    assert isinstance(kfold(KNeighborsClassifier()), StratifiedKFold)
    assert isinstance(kfold(LinearRegression()), KFold)


def test_cross_validate_error_equals_a_hand_loop():
    d = load_dataset("diabetes")
    errors = cross_validate_error(LinearRegression(), d.X, d.y, n_splits=3, seed=4)
    manual = []
    for tr, va in KFold(3, shuffle=True, random_state=4).split(d.X):
        m = LinearRegression().fit(d.X[tr], d.y[tr])
        manual.append(np.sqrt(np.mean((m.predict(d.X[va]) - d.y[va]) ** 2)))
    np.testing.assert_allclose(errors, manual, rtol=1e-12)
    acc_err = cross_validate_error(KNeighborsClassifier(), *_iris(), n_splits=5, seed=0)
    assert acc_err.shape == (5,) and np.all((acc_err >= 0) & (acc_err < 0.2))
    r2_err = cross_validate_error(LinearRegression(), d.X, d.y, n_splits=3, seed=4, scoring="r2")
    assert np.all((r2_err > 0.3) & (r2_err < 0.7))  # 1 - R^2


def _iris():
    d = load_dataset("iris")
    return d.X, d.y


def test_learning_curve_shows_overfitting_gap():
    d = make_sine(60, 0.25, seed=0)
    sizes, tr, va = learning_curve_error(
        polynomial_regression(12), d.X, d.y, train_sizes=(0.3, 0.6, 1.0), n_splits=4, seed=0
    )
    assert list(sizes) == [13, 27, 45] and tr.shape == va.shape == (3, 4)
    assert np.all(va.mean(axis=1) > tr.mean(axis=1))  # held-out error above training error
    _, tr1, va1 = learning_curve_error(
        polynomial_regression(1), d.X, d.y, train_sizes=(0.3, 1.0), n_splits=4, seed=0
    )
    # a line underfits a sine: even its training error stays high, close to the held-out one
    assert tr1.mean() > 0.4 and va1.mean() < 1.5 * tr1.mean()


def test_validation_curve_training_error_falls_with_degree():
    d = make_sine(40, 0.25, seed=1)
    tr, va = validation_curve_error(
        polynomial_regression(1),
        d.X,
        d.y,
        param_name="polynomialfeatures__degree",
        param_range=[1, 3, 9],
        n_splits=4,
        seed=0,
    )
    means = tr.mean(axis=1)
    assert means[0] > means[1] >= means[2]  # nested models: more degree, less training error
    assert va.mean(axis=1)[1] < va.mean(axis=1)[0]  # degree 3 beats a line held out
