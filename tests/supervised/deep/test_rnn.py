"""Recurrent cells against torch, the char LM, sampling, truncated BPTT, gradient flow."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from qmml.supervised.deep.char_lm import LMDataConfig, lm_batches, nats_per_token, train_char_lm
from qmml.supervised.deep.gradflow import GradFlowConfig, gradient_flow
from qmml.supervised.deep.rnn import (
    CharLM,
    CharLMConfig,
    LSTMCell,
    RNNCell,
    ScratchRNN,
    copy_weights,
    detach_state,
    sample,
)
from qmml.supervised.deep.trainer import TrainConfig


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("ours", "theirs"), [(RNNCell, nn.RNNCell), (LSTMCell, nn.LSTMCell)])
def test_cells_equal_torch_cells(ours, theirs):
    cell = ours(3, 5)
    cell.reset_parameters(_gen())
    ref = theirs(3, 5, device="meta").to_empty(device="cpu")  # no global-RNG init
    ref.load_state_dict(cell.state_dict())  # same names and shapes
    x, h = torch.randn(4, 3, generator=_gen(1)), torch.randn(4, 5, generator=_gen(2))
    if ours is LSTMCell:
        c = torch.randn(4, 5, generator=_gen(3))
        for a, b in zip(cell(x, (h, c)), ref(x, (h, c)), strict=True):
            torch.testing.assert_close(a, b)
    else:
        torch.testing.assert_close(cell(x, h), ref(x, h))


@pytest.mark.parametrize(("mode", "theirs"), [("rnn", nn.RNN), ("lstm", nn.LSTM)])
def test_unrolled_stack_equals_torch_forward_and_backward(mode, theirs):
    ours = ScratchRNN(mode, 3, 6, num_layers=2)
    for cell in ours.cells:
        cell.reset_parameters(_gen())
    ref = theirs(3, 6, 2, batch_first=True, device="meta").to_empty(device="cpu")
    copy_weights(ours, ref)
    x = torch.randn(4, 9, 3, generator=_gen(5))
    out_a, state_a = ours(x)
    out_b, state_b = ref(x)
    torch.testing.assert_close(out_a, out_b)
    for a, b in zip(
        state_a if mode == "lstm" else (state_a,),
        state_b if mode == "lstm" else (state_b,),
        strict=True,
    ):
        torch.testing.assert_close(a, b)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for k, p in ours.state_dict_torch().items():
        torch.testing.assert_close(
            p.grad, dict(ref.named_parameters())[k].grad, rtol=1e-4, atol=1e-5
        )


def test_copy_weights_checks_shapes():
    with pytest.raises(ValueError, match="cannot go into"):
        copy_weights(ScratchRNN("lstm", 3, 6), nn.LSTM(3, 7, batch_first=True, device="meta"))


def test_char_lm_backends_agree_and_init_is_seeded():
    cfg = dict(vocab_size=11, embed_dim=8, hidden_size=16, num_layers=2)
    fast = CharLM(CharLMConfig(backend="torch", **cfg))
    slow = CharLM(CharLMConfig(backend="scratch", **cfg))
    again = CharLM(CharLMConfig(backend="torch", **cfg))
    for a, b in zip(fast.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    # same seed, same draws: identical weights under both backends
    x = torch.randint(0, 11, (3, 12), generator=_gen())
    torch.testing.assert_close(fast(x)[0], slow(x)[0])
    assert not torch.equal(CharLM(CharLMConfig(seed=1, **cfg))(x)[0], fast(x)[0])


def test_carried_state_equals_one_long_pass():
    lm = CharLM(CharLMConfig(vocab_size=7, hidden_size=12))
    x = torch.randint(0, 7, (2, 20), generator=_gen())
    full, _ = lm(x)
    first, state = lm(x[:, :8])
    second, _ = lm(x[:, 8:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    assert detach_state(None) is None


def test_sampling_is_seeded():
    lm = CharLM(CharLMConfig(vocab_size=20, hidden_size=16, backend="scratch"))
    a = sample(lm, [1, 2], 40, generator=_gen(0), temperature=1.5)
    b = sample(lm, [1, 2], 40, generator=_gen(0), temperature=1.5)
    c = sample(lm, [1, 2], 40, generator=_gen(1), temperature=1.5)
    assert a == b and a != c and all(0 <= t < 20 for t in a)
    top1 = sample(lm, [1, 2], 10, generator=_gen(0), top_k=1)
    assert top1 == sample(lm, [1, 2], 10, generator=_gen(9), top_k=1)  # greedy: no randomness left


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: CharLMConfig(vocab_size=5, cell="lstn"), "did you mean 'lstm'"),
        (lambda: CharLMConfig(vocab_size=5, backend="cuda"), "unknown backend"),
        (lambda: CharLMConfig(vocab_size=5, cell="gru", backend="scratch"), "backend='torch'"),
        (lambda: LMDataConfig(sampling="shuffled"), "unknown sampling"),
        (
            lambda: lm_batches(np.arange(10), LMDataConfig(seq_len=10), 2),
            "longer than the training",
        ),
        (lambda: sample(CharLM(CharLMConfig(vocab_size=5)), [], 3, generator=_gen()), "non-empty"),
        (lambda: GradFlowConfig(cells=("gru",)), "cells must be"),
    ],
)
def test_errors_are_one_line(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_train_char_lm_learns_and_is_deterministic():
    rng = np.random.default_rng(0)
    ids = np.tile(np.arange(5), 400)
    ids = np.where(rng.random(ids.size) < 0.05, 5, ids)  # a little noise
    cfg = CharLMConfig(vocab_size=6, embed_dim=8, hidden_size=16)
    train = TrainConfig(max_steps=60, batch_size=8, lr=1e-2, clip_grad_norm=1.0, eval_every=30)
    data = LMDataConfig(seq_len=16, sampling="sequential", val_streams=2)
    run = train_char_lm(cfg, ids[:1600], ids[1600:], data=data, train=train)
    again = train_char_lm(cfg, ids[:1600], ids[1600:], data=data, train=train)
    assert run.val_nats_per_token < 0.6 * math.log(6)
    assert run.val_nats_per_token == again.val_nats_per_token
    assert np.all(run.result.grad_norm >= 0)
    assert nats_per_token(run.model, ids[1600:]) == pytest.approx(run.val_nats_per_token, abs=0.05)


def test_clipping_caps_the_update_norm():
    lm = CharLM(CharLMConfig(vocab_size=6, hidden_size=8))
    x = torch.randint(0, 6, (4, 10), generator=_gen())
    loss, _ = lm.loss(x, x)
    (loss * 1e3).backward()
    params = list(lm.parameters())
    before = nn.utils.clip_grad_norm_(params, 0.5)
    after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    assert before > 0.5 and after == pytest.approx(0.5, rel=1e-4)


def test_gradient_flow_vanishes_for_rnn_and_clipping_caps_steps():
    cfg = GradFlowConfig(
        seq_len=30, hidden_size=16, batch_size=8, train_steps=20, recurrent_scale=1.0
    )
    out = gradient_flow(cfg)
    init = out["stage"] == "init"
    rnn = out["grad_norm"][init & (out["cell"] == "rnn")]
    lstm = out["grad_norm"][init & (out["cell"] == "lstm")]
    assert rnn.shape == lstm.shape == (30,)
    assert rnn[-1] < 1e-3 * rnn[0]  # vanishing over 29 steps
    assert lstm[-1] / lstm[0] > rnn[-1] / rnn[0]  # the cell path keeps more
    assert set(k for k in out if k.startswith("step_grad_norm")) == {
        "step_grad_norm_rnn_none",
        "step_grad_norm_rnn_0.5",
        "step_grad_norm_lstm_none",
        "step_grad_norm_lstm_0.5",
    }
    assert out["step_grad_norm_rnn_none"].shape == (20,)
