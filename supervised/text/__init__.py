"""Text for language models: tokenisers, contiguous corpus splits and window sampling, and
smoothed n-gram baselines. NumPy only (no torch)."""

from qmml.supervised.text.corpus import (
    CORPORA,
    CorpusSplit,
    WindowSampler,
    contiguous_split,
    load_corpus,
    sequential_batches,
    strip_gutenberg,
)
from qmml.supervised.text.ngram import NGramLM, OrderSelection, select_order
from qmml.supervised.text.tokenizer import CharTokenizer, WordTokenizer, load_tokenizer

__all__ = [
    "CORPORA",
    "CharTokenizer",
    "CorpusSplit",
    "NGramLM",
    "OrderSelection",
    "WindowSampler",
    "WordTokenizer",
    "contiguous_split",
    "load_corpus",
    "load_tokenizer",
    "select_order",
    "sequential_batches",
    "strip_gutenberg",
]
