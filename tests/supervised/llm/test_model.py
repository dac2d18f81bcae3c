"""The compact GPT: shapes, causal masking, parameter count, seeded weights, checkpoints,
held-out scoring; tokeniser round trips (char, byte-level BPE, bytes)."""

import numpy as np
import pytest
import torch

from qmml.supervised.deep.trainer import TrainConfig
from qmml.supervised.llm.bpe import BPETokenizer, ByteTokenizer
from qmml.supervised.llm.config import GPTConfig
from qmml.supervised.llm.model import GPT, nats_per_token, train_gpt
from qmml.supervised.text import CharTokenizer, load_corpus

CFG = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16, seed=3)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_shapes_and_parameter_count():
    model = GPT(CFG)
    x = torch.randint(0, 50, (3, 10), generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (3, 10, 50)
    assert sum(p.numel() for p in model.parameters()) == CFG.n_params
    assert model.lm_head.weight is model.wte.weight  # tied
    assert CFG.flops_per_token == 6 * CFG.n_params
    loss = model.loss(x[:, :-1], x[:, 1:]).detach()
    assert abs(float(loss) - np.log(50)) < 0.5  # near uniform at initialisation
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros((1, 17), dtype=torch.long))


def test_future_tokens_cannot_change_earlier_logits():
    model = GPT(CFG).eval()
    x = torch.randint(0, 50, (1, 12), generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[0, 7:] = (y[0, 7:] + 1) % 50
    a, b = model(x), model(y)
    assert torch.equal(a[0, :7], b[0, :7])
    assert not torch.allclose(a[0, 7:], b[0, 7:])


def test_seeded_weights_without_global_state():
    before = torch.random.get_rng_state()
    a, b, c = GPT(CFG), GPT(CFG), GPT(GPTConfig(**{**CFG.to_dict(), "seed": 4}))
    assert torch.equal(torch.random.get_rng_state(), before)
    for (n, p), (_, q), (_, r) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert torch.equal(p, q), n
        if p.dim() >= 2:
            assert not torch.equal(p, r), n


def test_config_errors():
    with pytest.raises(ValueError, match="divide"):
        GPTConfig(vocab_size=10, n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(vocab_size=10, dropout=1.0)


def test_checkpoint_round_trip(tmp_path):
    model = GPT(CFG).eval()
    folder = model.save_pretrained(tmp_path / "ckpt")
    again = GPT.from_pretrained(folder)
    x = torch.arange(10)[None] % 50
    assert torch.equal(model(x), again(x)) and again.lm_head.weight is again.wte.weight


def test_nats_per_token_matches_the_loss_on_one_window():
    model = GPT(CFG).eval()
    ids = np.arange(17) % 50
    x, y = torch.from_numpy(ids[:-1])[None], torch.from_numpy(ids[1:])[None]
    expected = float(model.loss(x, y).detach())
    assert nats_per_token(model, ids, stride=16) == pytest.approx(expected, 1e-5)
    long = np.arange(100) % 50
    assert np.isfinite(nats_per_token(model, long, history=long[:30]))


def test_training_is_seeded_and_lowers_the_loss():
    text = load_corpus("timemachine")[:4000]
    tok = CharTokenizer().fit(text)
    ids = tok.encode(text)
    cfg = GPTConfig(tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16, seed=0)
    train = TrainConfig(max_steps=30, batch_size=8, lr=3e-3, eval_every=15, seed=0)
    a = train_gpt(cfg, ids[:3000], ids[3000:], train=train, val_windows=4)
    b = train_gpt(cfg, ids[:3000], ids[3000:], train=train, val_windows=4)
    np.testing.assert_array_equal(a.result.step_loss, b.result.step_loss)
    assert a.result.step_loss[-5:].mean() < a.result.step_loss[:5].mean()


def test_tokenisers_round_trip(tmp_path):
    text = load_corpus("frankenstein")[:20000]
    bpe = BPETokenizer(vocab_size=300).fit(text)
    assert bpe.vocab_size <= 300
    for s in (text[:500], "Unseen: naïve café — 3½ ☃\n\t", ""):
        assert bpe.decode(bpe.encode(s)) == s
        assert ByteTokenizer().decode(ByteTokenizer().encode(s)) == s
    assert bpe.chars_per_token(text) > 1.3
    again = BPETokenizer.load(bpe.save(tmp_path / "bpe.json"))
    np.testing.assert_array_equal(again.encode(text[:300]), bpe.encode(text[:300]))
    char = CharTokenizer().fit(text)
    assert char.decode(char.encode(text[:300])) == text[:300]
    with pytest.raises(ValueError, match="257"):
        BPETokenizer(vocab_size=100)
