"""Corpora: bundled texts, contiguous splits that never leak, window sampling."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmml.supervised.text import (
    WindowSampler,
    contiguous_split,
    load_corpus,
    sequential_batches,
    strip_gutenberg,
)


def test_bundled_corpora_load_without_markers():
    tm = load_corpus("timemachine")
    fr = load_corpus("frankenstein")
    assert tm.startswith("The Time Machine") and len(tm) > 170_000
    assert fr.startswith("Frankenstein;") and len(fr) > 400_000
    for text in (tm, fr):
        assert "PROJECT GUTENBERG" not in text and "\r" not in text
    assert load_corpus("timemachine", lowercase=True) == tm.lower()


def test_unknown_corpus_suggests_a_name():
    with pytest.raises(ValueError, match="did you mean 'frankenstein'"):
        load_corpus("frankenstien")


def test_strip_gutenberg():
    raw = (
        "header\n*** START OF THE PROJECT GUTENBERG EBOOK 1 ***\nbody\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK 1 ***\nlicence"
    )
    assert strip_gutenberg(raw) == "body\n"


@given(
    n=st.integers(60, 2000),
    val=st.floats(0.05, 0.4),
    test=st.sampled_from([0.0, 0.1, 0.2]),
)
def test_contiguous_split_never_leaks(n, val, test):
    tokens = np.arange(n)  # every token is its own position
    parts = contiguous_split(tokens, val_fraction=val, test_fraction=test)
    blocks = [parts.train, parts.val, parts.test]
    assert np.array_equal(np.concatenate(blocks), tokens)  # nothing lost, nothing reordered
    assert parts.train.max() < parts.val.min()  # validation strictly after training
    if parts.test.size:
        assert parts.val.max() < parts.test.min()
    # windows drawn from a block stay inside it
    sampler = WindowSampler(parts.train, seq_len=min(5, parts.train.size - 1), batch_size=8, seed=n)
    x, y = sampler.sample()
    assert y.max() <= parts.train.max() and x.min() >= 0
    assert np.array_equal(x[:, 1:], y[:, :-1])


def test_split_errors():
    with pytest.raises(ValueError, match="corpus is empty"):
        contiguous_split([])
    with pytest.raises(ValueError, match="too short"):
        contiguous_split([1, 2, 3], val_fraction=0.1)
    with pytest.raises(ValueError, match="val_fraction"):
        contiguous_split(np.arange(100), val_fraction=0.0)


def test_window_sampler_is_seeded_and_checks_length():
    data = np.arange(1000)
    a = WindowSampler(data, 16, 4, seed=1)
    b = WindowSampler(data, 16, 4, seed=1)
    c = WindowSampler(data, 16, 4, seed=2)
    xa, ya = a.sample()
    assert xa.shape == ya.shape == (4, 16)
    assert np.array_equal(xa, b.sample()[0]) and not np.array_equal(xa, c.sample()[0])
    assert np.array_equal(ya, xa + 1)
    with pytest.raises(ValueError, match="longer than the series"):
        WindowSampler(np.arange(10), seq_len=10, batch_size=1)
    with pytest.raises(ValueError, match="longer than the series"):
        next(sequential_batches(np.arange(10), seq_len=12, batch_size=1))


def test_sequential_batches_continue_each_stream():
    batches = list(sequential_batches(np.arange(101), seq_len=10, batch_size=4))
    assert len(batches) == 3  # 25 tokens per stream: 10 + 10 + 5
    (_, y0), (x1, _) = batches[0], batches[1]
    assert np.array_equal(x1[:, 0], y0[:, -1])  # row i of batch k+1 continues row i of batch k
    assert np.array_equal(np.concatenate([b[0] for b in batches], axis=1).ravel(), np.arange(100))
