"""Character and word tokenisers with a JSON vocabulary and an explicit unknown token.

A tokeniser is fitted on training text only (``fit``), maps text to integer ids (``encode``)
and back (``decode``). Id 0 is always the unknown token: anything not seen in training (or
rarer than ``min_freq``) encodes to it, so a validation split can never grow the vocabulary.

    tok = CharTokenizer().fit(train_text)
    ids = tok.encode(val_text)            # np.ndarray of int64, shape (n_chars,)
    tok.save("vocab.json"); tok2 = load_tokenizer("vocab.json")
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["CharTokenizer", "WordTokenizer", "load_tokenizer"]

_WORD_RE = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks; spaces dropped


class _Tokenizer:
    """Shared vocabulary handling: id 0 is ``unk_token``, the rest sorted by frequency."""

    kind: ClassVar[str] = ""
    default_unk: ClassVar[str] = "<unk>"

    def __init__(self, *, min_freq: int = 1, max_size: int | None = None, unk_token: str = ""):
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise ValueError(
                f"max_size must be >= 2 (the unknown token and one more), got {max_size}"
            )
        self.min_freq = min_freq
        self.max_size = max_size
        self.unk_token = unk_token or self.default_unk
        self.tokens_: list[str] = []
        self._index: dict[str, int] = {}

    # -- subclasses define how text splits into pieces and joins back
    def _split(self, text: str) -> list[str]:
        raise NotImplementedError

    def _join(self, pieces: list[str]) -> str:
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        return {}

    def fit(self, text: str) -> _Tokenizer:
        """Build the vocabulary from ``text`` (training text only). Returns ``self``."""
        if not isinstance(text, str):
            raise TypeError(f"fit expects a str, got {type(text).__name__}")
        counts = Counter(self._split(text))
        counts.pop(self.unk_token, None)
        kept = [(tok, c) for tok, c in counts.items() if c >= self.min_freq]
        kept.sort(key=lambda tc: (-tc[1], tc[0]))  # frequent first; ties by text, deterministic
        if self.max_size is not None:
            kept = kept[: self.max_size - 1]
        self._set_tokens([self.unk_token] + [tok for tok, _ in kept])
        return self

    def _set_tokens(self, tokens: list[str]) -> None:
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.tokens_ = list(tokens)
        self._index = {tok: i for i, tok in enumerate(self.tokens_)}

    def _check_fitted(self) -> None:
        if not self.tokens_:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(text) or load(path)")

    @property
    def vocab_size(self) -> int:
        """Number of tokens, the unknown token included."""
        self._check_fitted()
        return len(self.tokens_)

    @property
    def unk_id(self) -> int:
        """Id of the unknown token (always 0)."""
        return 0

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``, unknown pieces mapped to :attr:`unk_id`; shape (n_pieces,)."""
        self._check_fitted()
        get = self._index.get
        return np.fromiter((get(p, 0) for p in self._split(text)), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; the unknown id decodes to :attr:`unk_token`."""
        self._check_fitted()
        n = len(self.tokens_)
        pieces = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary [0, {n})")
            pieces.append(self.tokens_[i])
        return self._join(pieces)

    def to_dict(self) -> dict[str, Any]:
        """The vocabulary and options as plain JSON-able data."""
        self._check_fitted()
        return {
            "kind": self.kind,
            "unk_token": self.unk_token,
            "min_freq": self.min_freq,
            "max_size": self.max_size,
            **self._options(),
            "tokens": self.tokens_,
        }

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as UTF-8 JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Tokenizer:
        """Rebuild a tokeniser saved by :meth:`to_dict`."""
        if data.get("kind") != cls.kind:
            raise ValueError(f"vocabulary is of kind {data.get('kind')!r}, expected {cls.kind!r}")
        opts = {k: v for k, v in data.items() if k not in ("kind", "tokens")}
        tok = cls(**opts)
        tokens = list(data["tokens"])
        if not tokens or tokens[0] != tok.unk_token:
            raise ValueError("saved vocabulary must start with its unknown token")
        tok._set_tokens(tokens)
        return tok

    @classmethod
    def load(cls, path: str | Path) -> _Tokenizer:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class CharTokenizer(_Tokenizer):
    """One token per character; ``decode(encode(s)) == s`` for text made of known characters.

    Args:
        min_freq: characters seen fewer times in training become unknown.
        max_size: keep at most this many tokens (the unknown token included).
        unk_token: the unknown token; one character, default U+FFFD (the replacement character).
    """

    kind = "char"
    default_unk = "\ufffd"

    def __init__(self, *, min_freq: int = 1, max_size: int | None = None, unk_token: str = ""):
        super().__init__(min_freq=min_freq, max_size=max_size, unk_token=unk_token)
        if len(self.unk_token) != 1:
            raise ValueError(
                f"a character tokeniser's unk_token must be one character, got {self.unk_token!r}"
            )

    def _split(self, text: str) -> list[str]:
        return list(text)

    def _join(self, pieces: list[str]) -> str:
        return "".join(pieces)


class WordTokenizer(_Tokenizer):
    """Words and punctuation marks (regex ``\\w+|[^\\w\\s]``); whitespace is not kept.

    ``decode`` joins tokens with single spaces, so ``encode(decode(ids)) == ids``, and
    ``decode(encode(s))`` equals ``s`` with whitespace normalised (and lower-cased if asked).

    Args:
        lowercase: lower-case text before splitting.
        min_freq: words seen fewer times in training become unknown.
        max_size: keep the most frequent ``max_size - 1`` words plus the unknown token.
        unk_token: the unknown token, default ``<unk>``.
    """

    kind = "word"

    def __init__(
        self,
        *,
        lowercase: bool = True,
        min_freq: int = 1,
        max_size: int | None = None,
        unk_token: str = "",
    ):
        super().__init__(min_freq=min_freq, max_size=max_size, unk_token=unk_token)
        self.lowercase = lowercase

    def _split(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return _WORD_RE.findall(text) if self.unk_token not in text else self._split_unk(text)

    def _split_unk(self, text: str) -> list[str]:
        # keep a literal unknown token (e.g. "<unk>" in decoded text) as one piece
        out: list[str] = []
        for i, part in enumerate(text.split(self.unk_token)):
            if i:
                out.append(self.unk_token)
            out.extend(_WORD_RE.findall(part))
        return out

    def _join(self, pieces: list[str]) -> str:
        return " ".join(pieces)

    def _options(self) -> dict[str, Any]:
        return {"lowercase": self.lowercase}


_KINDS: dict[str, type[_Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer}


def load_tokenizer(path: str | Path) -> CharTokenizer | WordTokenizer:
    """Load any tokeniser saved with ``save``; its kind is read from the file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ValueError(
            f"unknown tokeniser kind {kind!r} in {path}; expected one of {sorted(_KINDS)}"
        )
    return _KINDS[kind].from_dict(data)  # type: ignore[return-value]
