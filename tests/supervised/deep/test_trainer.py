"""The shared training loop: best checkpoint, clipping, determinism, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from qmml.supervised.deep.batches import array_batches
from qmml.supervised.deep.trainer import TrainConfig, evaluate, fit, torch_seed


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
    x, y = batch
    return F.mse_loss(model(x), y), len(x)


def _line(slope: float, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-1, 1, n, dtype=np.float32).reshape(-1, 1)
    return x, slope * x


def _zero_linear() -> nn.Linear:
    lin = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(lin.weight)
    return lin


def test_keeps_the_best_validation_checkpoint():
    # train towards slope 2 from 0; validation wants slope 1: its loss falls, then rises
    model = _zero_linear()
    cfg = TrainConfig(
        max_steps=40, batch_size=64, lr=0.1, optimizer="sgd", momentum=0.0, eval_every=1
    )
    res = fit(
        model,
        _mse,
        array_batches(*_line(2.0), batch_size=64),
        config=cfg,
        val_batches=[tuple(torch.from_numpy(a) for a in _line(1.0))],
    )
    val = res.history["val_loss"]
    assert 0 < int(np.argmin(val)) < len(val) - 1  # worsened after its best
    assert res.best_step == res.history["step"][np.argmin(val)]
    assert res.best_val_loss == pytest.approx(val.min())
    assert model.weight.item() == pytest.approx(1.0, abs=0.1)  # restored, not the last (~2)
    assert res.steps == 40 and not res.stopped_early


def test_early_stopping_stops_after_patience_evaluations():
    model = _zero_linear()
    cfg = TrainConfig(max_epochs=100, batch_size=16, lr=0.1, optimizer="sgd", patience=3)
    # validation wants slope -1 while training goes to +2: worse after the first epoch
    res = fit(
        model,
        _mse,
        array_batches(*_line(2.0), batch_size=16),
        config=cfg,
        val_batches=lambda: [tuple(torch.from_numpy(a) for a in _line(-1.0))],
    )
    assert res.stopped_early
    assert res.epochs == 4 and len(res.history["val_loss"]) == 4
    assert res.best_step == res.history["step"][0]


def test_clipping_caps_the_update_and_records_the_pre_clip_norm():
    model = _zero_linear()
    x, y = _line(1000.0)
    cfg = TrainConfig(
        max_steps=1, batch_size=64, lr=1.0, optimizer="sgd", momentum=0.0, clip_grad_norm=0.5
    )
    res = fit(model, _mse, array_batches(x, y, batch_size=64), config=cfg)
    assert res.grad_norm.shape == (1,) and res.grad_norm[0] > 100
    assert abs(model.weight.item()) == pytest.approx(0.5, rel=1e-5)  # lr * clip


def _mlp_run(seed: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    with torch_seed(seed):
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    def ce(m, batch):
        xb, yb = batch
        logits = m(xb)
        return (
            F.cross_entropy(logits, yb),
            len(xb),
            {"acc": (logits.argmax(1) == yb).float().mean()},
        )

    cfg = TrainConfig(max_epochs=3, batch_size=16, lr=1e-2, seed=seed, clip_grad_norm=1.0)
    res = fit(
        model,
        ce,
        array_batches(X, y, batch_size=16),
        config=cfg,
        val_batches=[(torch.from_numpy(X), torch.from_numpy(y))],
    )
    assert "val_acc" in res.history and "train_acc" in res.history
    return model.state_dict(), res.step_loss


def test_same_seed_same_weights_and_global_rng_untouched():
    before = torch.get_rng_state()
    a, loss_a = _mlp_run(1)
    b, loss_b = _mlp_run(1)
    c, _ = _mlp_run(2)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(loss_a, loss_b)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_history_threads_and_long_table():
    torch.set_num_threads(1)
    model = _zero_linear()
    cfg = TrainConfig(
        max_steps=10,
        batch_size=8,
        lr=0.05,
        eval_every=4,
        threads=1,
        schedule="cosine",
        warmup_steps=2,
    )
    res = fit(model, _mse, array_batches(*_line(1.0), batch_size=8), config=cfg)
    np.testing.assert_array_equal(res.history["step"], [4, 8, 10])
    assert np.isnan(res.history["val_loss"]).all() and res.best_step == 10
    assert np.all(np.diff(res.history["cpu_s"]) >= 0)
    assert res.step_loss.shape == (10,)
    assert res.history["lr"][-1] < res.history["lr"][0]
    rows = res.long_table()
    assert {r["metric"] for r in rows} >= {"train_loss", "val_loss", "cpu_s", "lr"}
    assert torch.get_num_threads() == 1


def test_evaluate_weights_batches_by_items():
    model = _zero_linear()
    b1 = (torch.ones(1, 1), torch.full((1, 1), 2.0))  # loss 4, 1 item
    b2 = (torch.ones(3, 1), torch.zeros(3, 1))  # loss 0, 3 items
    assert evaluate(model, _mse, [b1, b2], torch.device("cpu"))["loss"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_epochs": None},
        {"lr": 0.0},
        {"optimizer": "adam"},
        {"schedule": "cosine"},
        {"clip_grad_norm": 0.0},
        {"patience": 0},
        {"batch_size": 0},
        {"eval_every": -1},
        {"momentum": 1.0},
        {"min_lr_ratio": 2.0},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="TrainConfig"):
        TrainConfig(**{"max_epochs": 1, **kwargs})


def test_fit_rejects_bad_calls():
    model = _zero_linear()
    cfg = TrainConfig(max_epochs=1, patience=2)
    with pytest.raises(ValueError, match="patience"):
        fit(model, _mse, array_batches(*_line(1.0), batch_size=8), config=cfg)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, _mse, lambda rng, epoch: [], config=TrainConfig(max_epochs=1))
    with pytest.raises(TypeError, match="loss_fn"):
        fit(
            model,
            lambda m, b: 1.0,
            array_batches(*_line(1.0), batch_size=8),
            config=TrainConfig(max_epochs=1),
        )
    with pytest.raises(ValueError, match="non-finite"):
        fit(
            model,
            lambda m, b: m(b[0]).sum() * float("nan"),
            array_batches(*_line(1.0), batch_size=8),
            config=TrainConfig(max_epochs=1),
        )
    with pytest.raises(ValueError, match="device"):
        fit(
            model,
            _mse,
            array_batches(*_line(1.0), batch_size=8),
            config=TrainConfig(max_epochs=1, device="nonsense"),
        )
    with pytest.raises(ValueError, match="length"):
        array_batches(np.zeros(3), np.zeros(4), batch_size=2)


def test_training_shows_a_bar_only_inside_show_progress(capsys):
    from qmml.supervised.progress import show_progress

    cfg = TrainConfig(max_steps=4, batch_size=16, lr=0.1, optimizer="sgd")
    fit(_zero_linear(), _mse, array_batches(*_line(1.0), batch_size=16), config=cfg)
    assert "training" not in capsys.readouterr().err
    with show_progress(True):
        fit(_zero_linear(), _mse, array_batches(*_line(1.0), batch_size=16), config=cfg)
    assert "training" in capsys.readouterr().err
