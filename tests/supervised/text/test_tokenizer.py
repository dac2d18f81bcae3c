"""Tokenisers: round trips, unknown tokens, vocabulary save/load."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmml.supervised.text import CharTokenizer, WordTokenizer, load_tokenizer

TEXT = "The Time Traveller (for so it will be convenient to speak of him)\nwas expounding."


@given(st.text(alphabet="abc de\nf.", max_size=50))
def test_char_round_trip_on_known_characters(s):
    tok = CharTokenizer().fit("abc de\nf.")
    assert tok.decode(tok.encode(s)) == s


def test_char_unknown_maps_to_id_zero_and_decodes_to_unk():
    tok = CharTokenizer().fit("aab")
    ids = tok.encode("abz")
    assert list(ids) == [tok.encode("a")[0], tok.encode("b")[0], 0]
    assert tok.decode(ids) == "ab\ufffd"
    assert tok.vocab_size == 3 and tok.tokens_[1] == "a"  # most frequent first


def test_min_freq_and_max_size():
    tok = CharTokenizer(min_freq=2).fit("aaabbc")
    assert tok.tokens_ == ["\ufffd", "a", "b"]
    assert CharTokenizer(max_size=2).fit("aaabbc").tokens_ == ["\ufffd", "a"]


def test_word_round_trip_normalises_whitespace_and_case():
    tok = WordTokenizer().fit(TEXT)
    ids = tok.encode(TEXT)
    assert (
        tok.decode(ids).split()
        == TEXT.lower().replace("(", " ( ").replace(")", " ) ").replace(".", " .").split()
    )
    assert list(tok.encode(tok.decode(ids))) == list(ids)
    assert tok.encode("martians")[0] == tok.unk_id
    assert list(tok.encode(tok.decode(tok.encode("the martians")))) == [tok.encode("the")[0], 0]


@pytest.mark.parametrize("kind", [CharTokenizer, WordTokenizer])
def test_save_load_round_trip(tmp_path, kind):
    tok = kind().fit(TEXT)
    path = tok.save(tmp_path / "vocab.json")
    for loaded in (load_tokenizer(path), kind.load(path)):
        assert type(loaded) is kind
        assert loaded.tokens_ == tok.tokens_
        assert list(loaded.encode(TEXT + " zebra")) == list(tok.encode(TEXT + " zebra"))


def test_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        CharTokenizer().encode("a")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        CharTokenizer().fit("ab").decode([7])
    with pytest.raises(ValueError, match="one character"):
        CharTokenizer(unk_token="<unk>")
    with pytest.raises(ValueError, match="min_freq"):
        WordTokenizer(min_freq=0)
    path = WordTokenizer().fit("a b").save(tmp_path / "w.json")
    with pytest.raises(ValueError, match="kind 'word'"):
        CharTokenizer.load(path)
    (tmp_path / "x.json").write_text('{"kind": "bpe", "tokens": []}')
    with pytest.raises(ValueError, match="unknown tokeniser kind"):
        load_tokenizer(tmp_path / "x.json")
