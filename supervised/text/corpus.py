"""Token corpora for language models: bundled texts, contiguous splits, window sampling.

A language-model split must be *contiguous*: the validation text is one block that follows
the training text, never characters shuffled across the boundary (a shuffled split would put
near-copies of every validation window into training). Windows are then drawn from inside
each block only.

    text = load_corpus("timemachine")
    tok = CharTokenizer().fit(text[: int(0.9 * len(text))])
    parts = contiguous_split(tok.encode(text), val_fraction=0.1)
    for x, y in WindowSampler(parts.train, seq_len=64, batch_size=32, seed=0).batches(100):
        ...  # x, y: int64 (32, 64); y is x shifted by one token
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from qmml.supervised.dataset import did_you_mean

__all__ = [
    "CORPORA",
    "CorpusSplit",
    "WindowSampler",
    "contiguous_split",
    "load_corpus",
    "sequential_batches",
    "strip_gutenberg",
]

#: Bundled corpora (Project Gutenberg, public domain): name -> file in ``supervised/data``.
CORPORA: dict[str, str] = {"timemachine": "timemachine.txt", "frankenstein": "frankenstein.txt"}

_START, _END = "*** START OF THE PROJECT GUTENBERG EBOOK", "*** END OF THE PROJECT GUTENBERG EBOOK"


def strip_gutenberg(text: str) -> str:
    """Drop Project Gutenberg's header and licence: keep what lies between the start and end
    marker lines (text without markers is returned unchanged, stripped of outer blank lines)."""
    start = text.find(_START)
    if start >= 0:
        eol = text.find("\n", start)
        text = text[eol + 1 :] if eol >= 0 else ""
    end = text.find(_END)
    if end >= 0:
        text = text[:end]
    return text.strip("\n") + "\n"


def load_corpus(name: str, *, lowercase: bool = False) -> str:
    """A bundled text by name (``timemachine``, ``frankenstein``), newlines normalised to
    ``\\n`` and Gutenberg markers stripped.

    Args:
        name: one of :data:`CORPORA`.
        lowercase: lower-case the text (smaller vocabulary).
    """
    if name not in CORPORA:
        hint = did_you_mean(name, CORPORA)
        raise ValueError(f"unknown corpus {name!r}: choose one of {sorted(CORPORA)}{hint}")
    path = Path(str(resources.files("qmml.supervised") / "data" / CORPORA[name]))
    text = path.read_text(encoding="utf-8")  # universal newlines: CRLF -> \n
    text = strip_gutenberg(text)
    return text.lower() if lowercase else text


@dataclass(frozen=True)
class CorpusSplit:
    """Contiguous blocks of one token sequence: ``train`` then ``val`` then ``test``.

    Attributes:
        train, val, test: int64 token ids, shape (n_block,); ``test`` may be empty.
        bounds: (start, stop) of each block in the original sequence.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    bounds: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def contiguous_split(
    tokens: np.ndarray | list[int],
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    min_block: int = 2,
) -> CorpusSplit:
    """Cut a token sequence into train | val | test blocks in order, without shuffling.

    Args:
        tokens: token ids, shape (n,).
        val_fraction: share of tokens in the validation block (after training).
        test_fraction: share in the test block (at the end); 0 for none.
        min_block: every non-empty requested block must hold at least this many tokens
            (two: one input and its next-token target).

    Raises:
        ValueError: empty or too-short sequence, or fractions outside [0, 1).
    """
    arr = np.asarray(tokens, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"tokens must be one-dimensional, got shape {arr.shape}")
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"need 0 < val_fraction, 0 <= test_fraction and their sum < 1; "
            f"got val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    n = arr.size
    if n == 0:
        raise ValueError("corpus is empty: nothing to split")
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    n_train = n - n_val - n_test
    blocks = [n_train, n_val] + ([n_test] if test_fraction > 0 else [])
    if min(blocks) < min_block:
        need = int(
            np.ceil(
                min_block / min(val_fraction, test_fraction or 1, 1 - val_fraction - test_fraction)
            )
        )
        raise ValueError(
            f"corpus of {n} tokens is too short for this split (blocks {blocks}, each needs "
            f">= {min_block}); use about {need} tokens or more"
        )
    b_train, b_val = (0, n_train), (n_train, n_train + n_val)
    b_test = (n_train + n_val, n)
    return CorpusSplit(
        train=arr[slice(*b_train)],
        val=arr[slice(*b_val)],
        test=arr[slice(*b_test)],
        bounds=(b_train, b_val, b_test),
    )


def _check_window(data: np.ndarray, seq_len: int, batch_size: int) -> np.ndarray:
    arr = np.asarray(data, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"data must be one-dimensional token ids, got shape {arr.shape}")
    if seq_len < 1 or batch_size < 1:
        raise ValueError(f"seq_len and batch_size must be >= 1, got {seq_len} and {batch_size}")
    if seq_len + 1 > arr.size:
        raise ValueError(
            f"window of {seq_len} tokens (+1 target) is longer than the series of {arr.size} "
            f"tokens; use seq_len <= {arr.size - 1}"
        )
    return arr


class WindowSampler:
    """Seeded random (x, y) windows from one block: y is x shifted by one token.

    Windows start anywhere in ``[0, n - seq_len - 1]``, so every window (with its target)
    lies inside the block it was given. Same seed, same windows.

    Args:
        data: token ids of one block, shape (n,).
        seq_len: tokens per window.
        batch_size: windows per batch.
        seed: seed of this sampler's ``numpy.random.Generator``.
    """

    def __init__(self, data: np.ndarray, seq_len: int, batch_size: int, seed: int = 0):
        self.data = _check_window(data, seq_len, batch_size)
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self._offsets = np.arange(seq_len + 1)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One batch ``(x, y)``, both int64 of shape (batch_size, seq_len)."""
        starts = self.rng.integers(0, self.data.size - self.seq_len, size=self.batch_size)
        win = self.data[starts[:, None] + self._offsets]  # (B, T + 1)
        return win[:, :-1], win[:, 1:]

    def batches(self, n_batches: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``n_batches`` successive batches from :meth:`sample`."""
        for _ in range(n_batches):
            yield self.sample()


def sequential_batches(
    data: np.ndarray, seq_len: int, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches for truncated back-propagation through time: the block is cut into
    ``batch_size`` parallel streams, and batch k holds chunk k of every stream, so row i of
    batch k+1 continues row i of batch k (carry the detached hidden state across batches).

    Yields:
        (x, y): int64 arrays of shape (batch_size, seq_len) (the last chunk may be shorter).
    """
    arr = _check_window(data, seq_len, 1)
    stream = (arr.size - 1) // batch_size
    if stream < 1:
        raise ValueError(f"{arr.size} tokens cannot fill {batch_size} streams; lower batch_size")
    xs = arr[: stream * batch_size].reshape(batch_size, stream)
    ys = arr[1 : stream * batch_size + 1].reshape(batch_size, stream)
    for start in range(0, stream, seq_len):
        yield xs[:, start : start + seq_len], ys[:, start : start + seq_len]
