"""The PyTorch twin of the NumPy network: the same numbers for the same seed, determinism,
no use of torch's global generator, logits into cross-entropy, the estimator contract."""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch.nn import functional as F

from qmml.supervised.data import load_dataset, split
from qmml.supervised.deep.mlp import TorchMLPClassifier, TorchMLPRegressor
from qmml.supervised.scratch.mlp import NumpyMLPClassifier, NumpyMLPRegressor
from qmml.supervised.scratch.nn import CrossEntropyLoss

torch.set_num_threads(1)  # float results depend on the thread count


@pytest.fixture(scope="module")
def digits():
    X_tr, X_te, y_tr, y_te = split(load_dataset("digits"), seed=0)
    return X_tr[:400] / 16.0, X_te / 16.0, y_tr[:400], y_te


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_classifier_matches_numpy_number_for_number(digits, solver, activation):
    X_tr, X_te, y_tr, _ = digits
    kw = {
        "hidden_layer_sizes": (16, 8),
        "activation": activation,
        "solver": solver,
        "learning_rate": 0.01,
        "alpha": 1e-3,
        "max_epochs": 3,
        "batch_size": 32,
        "random_state": 5,
    }
    ours, twin = NumpyMLPClassifier(**kw).fit(X_tr, y_tr), TorchMLPClassifier(**kw).fit(X_tr, y_tr)
    np.testing.assert_allclose(twin.loss_curve_, ours.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(twin.predict_proba(X_te), ours.predict_proba(X_te), atol=1e-10)


def test_regressor_and_early_stopping_match_numpy():
    data = load_dataset("sine", n_samples=120)
    kw = {
        "hidden_layer_sizes": (8,),
        "learning_rate": 0.02,
        "max_epochs": 60,
        "early_stopping": True,
        "patience": 3,
        "random_state": 1,
    }
    ours = NumpyMLPRegressor(**kw).fit(data.X, data.y)
    twin = TorchMLPRegressor(**kw).fit(data.X, data.y)
    assert twin.n_epochs_ == ours.n_epochs_ and twin.best_epoch_ == ours.best_epoch_
    np.testing.assert_allclose(twin.validation_loss_curve_, ours.validation_loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(twin.predict(data.X), ours.predict(data.X), atol=1e-9)


def test_seeded_determinism_and_global_rng_untouched(digits):
    X_tr, X_te, y_tr, _ = digits
    state = torch.random.get_rng_state()
    a = TorchMLPClassifier((16,), max_epochs=2, random_state=3).fit(X_tr, y_tr)
    b = TorchMLPClassifier((16,), max_epochs=2, random_state=3).fit(X_tr, y_tr)
    c = TorchMLPClassifier((16,), max_epochs=2, random_state=4).fit(X_tr, y_tr)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a.loss_curve_.tobytes() == b.loss_curve_.tobytes()
    assert a.predict_proba(X_te).tobytes() == b.predict_proba(X_te).tobytes()
    assert not np.array_equal(a.loss_curve_, c.loss_curve_)


def test_network_outputs_logits_and_float32_works(digits):
    X_tr, X_te, y_tr, y_te = digits
    m = TorchMLPClassifier(
        (32,), learning_rate=0.01, max_epochs=10, dtype="float32", random_state=0
    )
    m.fit(X_tr, y_tr)
    assert not isinstance(m.module_[-1], torch.nn.Softmax)  # logits go to cross_entropy
    assert m.module_[0].weight.dtype == torch.float32
    assert m.score(X_te, y_te) > 0.85


def test_cross_entropy_agrees_with_torch_at_extreme_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [3.0, 1.0, -2.0]])
    y = np.array([1, 0])
    ours = CrossEntropyLoss().forward(z, y)
    ref = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y)).item()
    assert np.isfinite(ours) and ours == pytest.approx(ref, rel=1e-12)
    # the lectures' bug: softmax before cross_entropy gives a wrong, much smaller loss
    wrong = F.cross_entropy(torch.softmax(torch.from_numpy(z), 1), torch.from_numpy(y)).item()
    assert wrong < ref / 100


# max_epochs=40 keeps the ~50 checks fast; the contract does not depend on it
@parametrize_with_checks(
    [
        TorchMLPClassifier(max_epochs=40, random_state=0),
        TorchMLPRegressor(max_epochs=40, random_state=0),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)
