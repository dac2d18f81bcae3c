"""The CNN registry: output shapes on 28x28 and 8x8, parameter counts, seeded init."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmml.supervised.deep.cnn import MODELS, build_model, count_parameters

# reported for the README: trainable parameters on 1x28x28 MNIST, 10 classes
PARAMS_28 = {"cnn": 14_506, "lenet5": 61_706, "vgg": 287_722, "resnet": 77_754}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("size", [28, 8])
def test_output_shapes_on_mnist_and_digits(name, size):
    model = build_model(name, in_channels=1, n_classes=10, image_size=size, seed=0)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(3, 1, size, size))
    assert out.shape == (3, 10)
    n = count_parameters(model)
    assert n > 0
    if size == 28:
        assert n == PARAMS_28[name]


def test_rgb_and_rectangular_inputs():
    model = build_model("lenet5", in_channels=3, n_classes=4, image_size=(32, 24))
    assert model(torch.zeros(2, 3, 32, 24)).shape == (2, 4)


def test_lenet5_has_the_classic_shape():
    model = build_model("lenet5")
    assert model.head[0].in_features == 16 * 5 * 5


def test_same_seed_same_weights_and_global_rng_untouched():
    before = torch.get_rng_state()
    a, b = build_model("resnet", seed=5), build_model("resnet", seed=5)
    c = build_model("resnet", seed=6)
    assert torch.equal(torch.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["stem.0.weight"], sc["stem.0.weight"])


def test_errors():
    with pytest.raises(ValueError, match=r"unknown model 'x'; choose from cnn, lenet5"):
        build_model("x")
    with pytest.raises(ValueError, match="n_classes"):
        build_model("cnn", n_classes=1)
    with pytest.raises(ValueError, match="at least 4x4"):
        build_model("resnet", image_size=3)
    with pytest.raises(ValueError, match="pooling blocks"):
        build_model("vgg", image_size=6)


def _digits():
    from qmml.supervised.images import load_digits_images, split_images

    return split_images(load_digits_images(), n_train=1200, n_test=400, n_val=200, seed=0)


def test_train_image_model_on_digits_curves_and_predictions():
    from qmml.supervised.deep.augment import AugmentConfig
    from qmml.supervised.deep.vision import train_image_model

    s = _digits()
    run = train_image_model(
        "cnn",
        s.train.X,
        s.train.y,
        s.test.X,
        s.test.y,
        X_val=s.val.X,
        y_val=s.val.y,
        epochs=3,
        lr=1e-2,
        augment=AugmentConfig(),
        seed=0,
    )
    assert run.curves["epoch"].tolist() == [1, 2, 3]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "cpu_s"):
        assert run.curves[key].shape == (3,)
    assert run.test_pred.shape == (400,) and run.test_proba.shape == (400, 10)
    assert run.test_accuracy > 0.8
    np.testing.assert_array_equal(run.predict(s.test.X), run.test_pred)
    assert run.result.best_val_loss == run.curves["val_loss"].min()


def test_classifier_contract_on_flat_digits():
    from sklearn.base import clone

    from qmml.supervised.deep.vision import TorchCNNClassifier

    s = _digits()
    X, y = s.train.X.reshape(len(s.train), -1), s.train.y + 10  # labels need not be 0..k-1
    clf = TorchCNNClassifier("lenet5", epochs=3, lr=1e-2, random_state=1)
    assert clf.fit(X, y) is clf
    assert set(clf.predict(X[:50])) <= set(range(10, 20))
    assert clf.score(s.test.X, s.test.y + 10) > 0.7
    twin = clone(clf).fit(X, y)
    np.testing.assert_array_equal(twin.predict_proba(X[:20]), clf.predict_proba(X[:20]))
    with pytest.raises(ValueError, match="not a square"):
        TorchCNNClassifier().fit(np.zeros((4, 10)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="not fitted"):  # NotFittedError
        TorchCNNClassifier().predict(X[:2])
