"""Chat messages for tasks: zero- or few-shot, with or without a system prompt, rendered with
the tokeniser's chat template.

    msgs = task_messages(task, item, shots=train_items[:3], system=True)
    ids = render_chat(tokenizer, msgs, add_generation_prompt=True)        # prompt ids
    ids, n_prompt = render_answer(tokenizer, msgs, item.answer)          # for training

Few-shot examples are earlier user/assistant turns (the chat form of in-context examples).
Tokenisers without a chat template (the byte tokeniser of the tiny GPT) get a plain one:
``<|system|>…\\n<|user|>…\\n<|assistant|>…`` followed by the end-of-sequence token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qmml.supervised.llm.tasks import Item, Task

__all__ = ["Message", "render_answer", "render_chat", "stop_ids", "task_messages"]

Message = dict[str, str]


def task_messages(
    task: Task, item: Item, *, shots: Sequence[Item] = (), system: bool = True
) -> list[Message]:
    """The conversation that asks ``item``: optional system prompt, then each shot as a
    user/assistant pair, then the question."""
    msgs: list[Message] = []
    if system:
        msgs.append({"role": "system", "content": task.instruction})
    for shot in shots:
        msgs.append({"role": "user", "content": shot.prompt})
        msgs.append({"role": "assistant", "content": shot.answer})
    msgs.append({"role": "user", "content": item.prompt})
    return msgs


def _has_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None)) and hasattr(
        tokenizer, "apply_chat_template"
    )


def _plain(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    text = "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
    return text + ("<|assistant|>" if add_generation_prompt else "")


def _ids(out: Any) -> list[int]:
    if isinstance(out, dict) or hasattr(out, "keys"):  # BatchEncoding
        out = out["input_ids"]
    return [int(i) for i in out]


def render_chat(
    tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = True
) -> list[int]:
    """Token ids of ``messages`` in the tokeniser's chat template (or the plain one)."""
    if _has_template(tokenizer):
        out = tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=add_generation_prompt, tokenize=True
        )
        return _ids(out)
    return list(tokenizer.encode(_plain(messages, add_generation_prompt)))


def render_answer(
    tokenizer: Any, messages: Sequence[Message], answer: str
) -> tuple[list[int], int]:
    """Ids of the conversation with ``answer`` as the assistant's turn, and the number of
    prompt tokens before the answer (the loss is taken on the rest: answer + end of turn)."""
    prompt = render_chat(tokenizer, messages, add_generation_prompt=True)
    if _has_template(tokenizer):
        full = render_chat(
            tokenizer,
            [*messages, {"role": "assistant", "content": answer}],
            add_generation_prompt=False,
        )
        if full[: len(prompt)] != prompt:  # a template that rewrites earlier turns
            full = prompt + list(tokenizer.encode(answer, add_special_tokens=False))
            full.append(int(tokenizer.eos_token_id))
    else:
        full = prompt + list(tokenizer.encode(answer)) + [int(tokenizer.eos_token_id)]
    return full, len(prompt)


def stop_ids(tokenizer: Any) -> tuple[int, ...]:
    """Token ids that end an assistant turn (end of sequence, ``<|im_end|>`` if present)."""
    ids = set()
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    convert = getattr(tokenizer, "convert_tokens_to_ids", None)
    if convert is not None:
        for tok in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            i = convert(tok)
            if isinstance(i, int) and i >= 0 and i != getattr(tokenizer, "unk_token_id", None):
                ids.add(i)
    return tuple(sorted(ids))
