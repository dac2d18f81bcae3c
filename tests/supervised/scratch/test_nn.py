"""The NumPy network: gradient check of every layer and loss, stability, optimisers, the
MLP estimators (training, early stopping, determinism, contract)."""

import itertools

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from qmml.supervised.data import load_dataset, make_spiral, scaled, split
from qmml.supervised.scratch.mlp import NumpyMLPClassifier, NumpyMLPRegressor
from qmml.supervised.scratch.nn import (
    CrossEntropyLoss,
    Dense,
    Identity,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    build_mlp,
    gradient_check,
    log_softmax,
    softmax,
)
from qmml.supervised.scratch.optim import SGD, Adam

ACTS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity}


def _net(rng, act, sizes=(4, 5, 6, 3), head=None):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(Dense(rng.normal(size=(a, b)), rng.normal(size=b)))
        if i < len(sizes) - 2:
            layers.append(ACTS[act]())
    if head is not None:
        layers.append(head)
    return Sequential(layers)


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("loss", ["mse", "ce-index", "ce-onehot"])
def test_gradient_check_every_layer_and_loss(act, loss):
    rng = np.random.default_rng(0)
    net = _net(rng, act)
    X = rng.normal(size=(7, 4))
    if loss == "mse":
        crit, y = MSELoss(), rng.normal(size=(7, 3))
    elif loss == "ce-index":
        crit, y = CrossEntropyLoss(), rng.integers(0, 3, 7)
    else:
        crit, y = CrossEntropyLoss(), np.eye(3)[rng.integers(0, 3, 7)]
    errors = gradient_check(net, crit, X, y)
    # two dense layers' W and b, three of them here, plus the input
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b", "input"}
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_softmax_layer():
    rng = np.random.default_rng(1)
    net = _net(rng, "tanh", sizes=(3, 4, 5), head=Softmax())
    errors = gradient_check(net, MSELoss(), rng.normal(size=(6, 3)), rng.random((6, 5)))
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_catches_a_wrong_backward():
    class BrokenTanh(Tanh):
        def backward(self, grad, need_input_grad=True):
            return grad * (1 - self._t)  # forgot the square

    rng = np.random.default_rng(2)
    net = Sequential(
        [
            Dense(rng.normal(size=(3, 4)), rng.normal(size=4)),
            BrokenTanh(),
            Dense(rng.normal(size=(4, 2)), rng.normal(size=2)),
        ]
    )
    errors = gradient_check(net, MSELoss(), rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
    assert errors["0.W"] > 1e-3 and errors["2.W"] < 1e-6


def test_gradient_check_needs_float64():
    net = build_mlp([2, 3, 2], "relu", np.random.default_rng(0), dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        gradient_check(net, CrossEntropyLoss(), np.ones((2, 2)), np.array([0, 1]))


def test_softmax_and_log_loss_finite_at_plus_minus_1000():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    p, logp = softmax(z), log_softmax(z)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-300)
    np.testing.assert_allclose(logp[0], [0.0, -2000.0, -1000.0])
    ce = CrossEntropyLoss()
    assert ce.forward(z, np.array([1, 0])) == pytest.approx((2000.0 + np.log(3)) / 2)
    g = ce.backward()
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[0], [0.5, -0.5, 0.0], atol=1e-12)
    s = Sigmoid().forward(np.array([[1000.0, -1000.0]]))
    np.testing.assert_array_equal(s, [[1.0, 0.0]])


def test_dense_forward_backward_by_hand():
    layer = Dense(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5]))
    out = layer.forward(np.array([[1.0, 1.0]]))
    np.testing.assert_array_equal(out, [[4.5, 5.5]])
    dx = layer.backward(np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(layer.W.grad, [[1.0, -1.0], [1.0, -1.0]])
    np.testing.assert_array_equal(layer.b.grad, [1.0, -1.0])
    np.testing.assert_array_equal(dx, [[-1.0, -1.0]])
    assert layer.backward(np.array([[1.0, -1.0]]), need_input_grad=False) is None


def test_softmax_before_cross_entropy_is_refused():
    net = Sequential([Dense(np.eye(2), np.zeros(2)), Softmax()])
    with pytest.raises(ValueError, match=r"expects logits.*remove the final Softmax"):
        net.loss_and_grad(np.eye(2), np.array([0, 1]), CrossEntropyLoss())


def test_sgd_momentum_and_adam_steps_by_hand():
    p = Parameter(np.array([1.0]), np.array([2.0]))
    opt = SGD([p], lr=0.1, momentum=0.5)
    opt.step()  # v = 2, w = 1 - 0.2
    opt.step()  # v = 0.5 * 2 + 2 = 3, w = 0.8 - 0.3
    assert p.value[0] == pytest.approx(0.5)
    q = Parameter(np.array([1.0]), np.array([-4.0]))
    Adam([q], lr=0.01).step()  # first Adam step has size lr, against the gradient
    assert q.value[0] == pytest.approx(1.01, abs=1e-8)
    w = Parameter(np.array([2.0]), np.array([0.0]), decay=True)
    b = Parameter(np.array([2.0]), np.array([0.0]), decay=False)
    SGD([w, b], lr=0.1, weight_decay=0.5).step()
    assert w.value[0] == pytest.approx(1.9) and b.value[0] == 2.0


def test_build_mlp_validates():
    with pytest.raises(ValueError, match="sizes"):
        build_mlp([3], "relu", np.random.default_rng(0))
    with pytest.raises(ValueError, match="activation"):
        build_mlp([3, 2], "swish", np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential([])


@pytest.fixture(scope="module")
def digits_split():
    return split(load_dataset("digits"), seed=0)


def test_classifier_learns_digits_on_held_out_data(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    model = scaled(NumpyMLPClassifier((32,), max_epochs=15, random_state=0), "standard")
    model.fit(X_tr, y_tr)
    assert model.score(X_te, y_te) > 0.9
    curve = model[-1].loss_curve_
    assert len(curve) == 15 and curve[-1] < curve[0] / 5


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_same_seed_same_bytes(digits_split, solver):
    X_tr, _, y_tr, _ = digits_split
    fits = [
        NumpyMLPClassifier(
            (16,), solver=solver, learning_rate=0.01, max_epochs=3, random_state=s
        ).fit(X_tr[:300] / 16, y_tr[:300])
        for s in (7, 7, 8)
    ]
    assert fits[0].loss_curve_.tobytes() == fits[1].loss_curve_.tobytes()
    assert fits[0].predict_proba(X_tr).tobytes() == fits[1].predict_proba(X_tr).tobytes()
    assert not np.array_equal(fits[0].loss_curve_, fits[2].loss_curve_)


def test_early_stopping_keeps_the_best_epoch():
    X_tr, _, y_tr, _ = split(make_spiral(60, 3, 0.3), seed=0)
    m = NumpyMLPClassifier(
        (32,),
        learning_rate=0.05,
        max_epochs=400,
        early_stopping=True,
        patience=5,
        tol=0.0,
        random_state=0,
    ).fit(X_tr, y_tr)
    assert m.n_epochs_ < 400  # it stopped
    assert m.n_epochs_ == m.best_epoch_ + 5
    assert len(m.validation_loss_curve_) == m.n_epochs_
    assert np.argmin(m.validation_loss_curve_) + 1 == m.best_epoch_


def test_regressor_fits_a_curve_better_than_a_line():
    data = load_dataset("sine", n_samples=200, noise=0.05)
    X_tr, X_te, y_tr, y_te = split(data, seed=0)
    m = NumpyMLPRegressor((32,), learning_rate=0.03, max_epochs=150, random_state=0).fit(X_tr, y_tr)
    line = NumpyMLPRegressor((), learning_rate=0.03, max_epochs=150, random_state=0).fit(
        X_tr, y_tr
    )  # no hidden layer: a line
    assert m.score(X_te, y_te) > 0.95 > 0.7 > line.score(X_te, y_te)
    assert m.predict(X_te).shape == y_te.shape


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": 64}, "hidden_layer_sizes"),
        ({"activation": "swish"}, "activation"),
        ({"solver": "lbfgs"}, "solver"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"alpha": -1.0}, "alpha"),
        ({"tol": -1.0}, "tol"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"patience": 0}, "patience"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"dtype": "float16"}, "dtype"),
        ({"random_state": "x"}, "random_state"),
    ],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        NumpyMLPClassifier(**params).fit(np.eye(4), [0, 1, 0, 1])


def test_divergence_and_tiny_early_stopping_are_clear_errors():
    with pytest.raises(ValueError, match="diverged"), np.errstate(over="ignore", invalid="ignore"):
        NumpyMLPRegressor((), solver="sgd", learning_rate=10.0, max_epochs=50, random_state=0).fit(
            np.arange(20.0)[:, None] * 100, np.arange(20.0)
        )
    with pytest.raises(ValueError, match="at least 2 samples"):
        NumpyMLPRegressor(early_stopping=True).fit([[1.0]], [1.0])


# max_epochs=40 keeps the ~50 checks fast; the contract does not depend on it
@parametrize_with_checks(
    [
        NumpyMLPClassifier(max_epochs=40, random_state=0),
        NumpyMLPRegressor(max_epochs=40, random_state=0),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)
