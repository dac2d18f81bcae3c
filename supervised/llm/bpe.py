"""A byte-level BPE tokeniser trained offline with Hugging Face ``tokenizers``.

    tok = BPETokenizer(vocab_size=512).fit(train_text)   # training text only
    ids = tok.encode(text)            # np.ndarray int64, shape (n_tokens,)
    tok.decode(ids) == text           # byte-level: every string round-trips
    tok.chars_per_token(text)         # converts nats/token to nats/char

Byte-level means the 256 byte symbols are always in the vocabulary, so nothing is unknown
and ``decode(encode(s)) == s`` for any string. Merges are learned from the training block
only, so validation and test text never shape the vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BPETokenizer", "ByteTokenizer"]


class BPETokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenisation, no added prefix space).

    Args:
        vocab_size: target vocabulary size (>= 257: the bytes plus at least one merge).
        min_frequency: merges seen fewer times are not learned.
    """

    kind = "bpe"

    def __init__(self, vocab_size: int = 512, min_frequency: int = 2):
        if vocab_size < 257:
            raise ValueError(f"vocab_size must be >= 257 (256 bytes + merges), got {vocab_size}")
        self.vocab_size_target = vocab_size
        self.min_frequency = min_frequency
        self._tok: Any = None

    def fit(self, text: str) -> BPETokenizer:
        """Learn merges from ``text``; returns ``self``."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=self.vocab_size_target,
            min_frequency=self.min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(_chunks(text), trainer=trainer)
        self._tok = tok
        return self

    def _check(self) -> Any:
        if self._tok is None:
            raise ValueError("BPETokenizer is not fitted: call fit(text) or load(path)")
        return self._tok

    @property
    def vocab_size(self) -> int:
        """Tokens in the learned vocabulary."""
        return int(self._check().get_vocab_size())

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, shape (n_tokens,)."""
        return np.asarray(self._check().encode(text).ids, dtype=np.int64)

    def decode(self, ids: Any) -> str:
        """Text of ``ids``."""
        return str(self._check().decode([int(i) for i in ids], skip_special_tokens=False))

    def chars_per_token(self, text: str) -> float:
        """Characters of ``text`` per token of its encoding."""
        return len(text) / max(len(self.encode(text)), 1)

    def save(self, path: str | Path) -> Path:
        """Write the tokeniser as ``tokenizers`` JSON; returns the path."""
        path = Path(path)
        self._check().save(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokeniser written by :meth:`save`."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        out = cls(vocab_size=max(tok.get_vocab_size(), 257))
        out._tok = tok
        return out


def _chunks(text: str, size: int = 10_000):
    for i in range(0, len(text), size):
        yield text[i : i + size]


class ByteTokenizer:
    """UTF-8 bytes as tokens 0..255, plus ``eos_token_id`` 256 (vocabulary 257).

    The tokeniser of the tiny GPT in fine-tuning and prompting: no training, nothing unknown,
    and a plain chat template (see :func:`qmml.supervised.llm.prompts.render_chat`).
    """

    kind = "byte"
    eos_token_id = 256
    pad_token_id = 256
    vocab_size = 257
    chat_template = None

    def encode(self, text: str) -> list[int]:
        """UTF-8 bytes of ``text``."""
        return list(text.encode("utf-8"))

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text of byte ids; the end-of-sequence id is dropped."""
        data = bytes(int(i) for i in ids if int(i) < 256)
        return data.decode("utf-8", errors="replace")
