"""N-gram LMs: normalised distributions, sensible cross-entropies, order selection."""

import numpy as np
import pytest

from qmml.supervised.text import CharTokenizer, NGramLM, contiguous_split, load_corpus, select_order


@pytest.fixture(scope="module")
def tm():
    text = load_corpus("timemachine")[:60_000]
    tok = CharTokenizer().fit(text[:54_000])
    return tok, contiguous_split(tok.encode(text), val_fraction=0.1)


@pytest.mark.parametrize("method", ["kneser-ney", "witten-bell"])
@pytest.mark.parametrize("order", [1, 2, 4, 6])
def test_next_token_probabilities_sum_to_one(tm, method, order):
    tok, parts = tm
    lm = NGramLM(order, method).fit(parts.train, tok.vocab_size)
    for ctx in ([], parts.val[:10], tok.encode("the t"), [0, 0, 0, 0, 0], tok.encode("qqqqq")):
        p = lm.next_token_probs(ctx)
        assert p.shape == (tok.vocab_size,)
        assert np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-9)


def test_log_prob_matches_the_distribution(tm):
    tok, parts = tm
    lm = NGramLM(3).fit(parts.train, tok.vocab_size)
    ids = parts.val[:20]
    lp = lm.log_prob(ids, history=parts.train)
    ctx = np.concatenate([parts.train[-2:], ids])
    for i in (0, 1, 7):
        assert lp[i] == pytest.approx(np.log(lm.next_token_probs(ctx[i : i + 2])[ids[i]]))


def test_unigram_is_close_to_frequencies():
    ids = np.array([0] * 70 + [1] * 20 + [2] * 10)
    p = NGramLM(1).fit(ids, vocab_size=4).next_token_probs([])
    assert p.argmax() == 0 and p[3] > 0 and p[0] == pytest.approx(0.7, abs=0.02)


def test_higher_orders_help_and_selection_picks_the_best(tm):
    tok, parts = tm
    sel = select_order(parts.train, parts.val, tok.vocab_size, orders=range(1, 5))
    nats = sel.nats_per_token
    assert nats[1] > nats[2] > nats[3]
    assert 2.5 < nats[1] < 3.5  # unigram entropy of English characters, about 3 nats
    assert sel.best_order == min(nats, key=nats.get)
    assert sel.model.order == sel.best_order


def test_generate_is_seeded(tm):
    tok, parts = tm
    lm = NGramLM(4).fit(parts.train, tok.vocab_size)
    a = lm.generate(30, np.random.default_rng(0), list(tok.encode("the ")))
    b = lm.generate(30, np.random.default_rng(0), list(tok.encode("the ")))
    c = lm.generate(30, np.random.default_rng(1), list(tok.encode("the ")))
    assert a == b and a != c


def test_ngram_errors():
    with pytest.raises(ValueError, match="order must be"):
        NGramLM(0).fit(np.arange(5), 5)
    with pytest.raises(ValueError, match="unknown smoothing method"):
        NGramLM(2, "laplace").fit(np.arange(5), 5)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        NGramLM(2).fit(np.arange(5), 3)
    with pytest.raises(ValueError, match="not fitted"):
        NGramLM(2).nats_per_token(np.arange(3))
    with pytest.raises(ValueError, match="too high"):
        NGramLM(6).fit(np.arange(10), 100_000)
