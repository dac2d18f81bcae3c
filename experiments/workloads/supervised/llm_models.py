"""What the ``llm-finetune`` and ``llm-prompting`` workloads share: which model a trial uses
(SmolLM2 from its wheel, a random tiny Llama, or a random tiny GPT) and the task section.

SmolLM2 takes ~35 CPU-seconds to load, so the loaded model is kept once per process and every
trial gets a deep copy (a fine-tune never leaks into the next trial). Nothing here imports
torch at module level.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import Field, field_validator

from qmml.experiments.spec import did_you_mean
from qmml.experiments.workload import StrictModel
from qmml.supervised.llm.tasks import TASKS

__all__ = ["MODELS", "TaskSection", "load_base"]

MODELS = ("smollm2", "tiny-llama", "tiny-gpt")


class TaskSection(StrictModel):
    """``env``: the model and the task.

    Attributes:
        model: ``smollm2`` (SmolLM2-135M-Instruct, ~35 CPU-s to load), ``tiny-llama`` (a
            random 2-layer Llama, ~115k parameters) or ``tiny-gpt`` (a random 2-layer GPT on
            bytes).
        task: the task trained and/or asked (``date``, ``units``, ``reverse``).
        control_task: a task never trained on, to measure forgetting.
        n_train: training questions; ``n_test``: held-out questions (disjoint by hash).
        system: put the task's instruction in a system prompt.
        max_new_tokens: generation length limit (greedy decoding).
    """

    model: str = "smollm2"
    task: str = "date"
    control_task: str = "units"
    n_train: int = Field(default=200, ge=1)
    n_test: int = Field(default=20, ge=1)
    system: bool = True
    max_new_tokens: int = Field(default=16, ge=1)

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v not in MODELS:
            raise ValueError(
                f"unknown model {v!r}; choose from {list(MODELS)}" + did_you_mean(v, MODELS)
            )
        return v

    @field_validator("task", "control_task")
    @classmethod
    def _task(cls, v: str) -> str:
        if v not in TASKS:
            raise ValueError(
                f"unknown task {v!r}; choose from {sorted(TASKS)}" + did_you_mean(v, TASKS)
            )
        return v


@functools.lru_cache(maxsize=1)
def _smollm2() -> tuple[Any, Any]:
    from qmml.supervised.llm.load import load_smollm2

    lm = load_smollm2()
    return lm.model, lm.tokenizer


def load_base(name: str, seed: int) -> tuple[Any, Any]:
    """A fresh (model, tokenizer) for one trial: weights of SmolLM2, or random tiny weights
    from ``seed``."""
    if name == "smollm2":
        model, tok = _smollm2()
        return copy.deepcopy(model), tok
    if name == "tiny-llama":
        from qmml.supervised.llm.load import tiny_llama

        lm = tiny_llama(seed)
        return lm.model, lm.tokenizer
    from qmml.supervised.llm.bpe import ByteTokenizer
    from qmml.supervised.llm.config import GPTConfig
    from qmml.supervised.llm.model import GPT

    config = GPTConfig(vocab_size=257, block_size=512, n_layer=2, n_head=4, n_embd=64, seed=seed)
    return GPT(config).eval(), ByteTokenizer()
