"""Text generation: chat formatting, sampling, stop strings, streaming and token counts.

One decoding loop serves everything (the HTTP server, the evaluations, a notebook): the prompt
is run once to fill the key/value cache, then one token at a time is picked (greedy at
``temperature=0``, else sampled after temperature, top-k and top-p from a *local* generator, so
the same seed gives the same text) and decoded incrementally. :func:`stream` yields text deltas
as they become final; :func:`generate` collects them into a :class:`Completion`.

    lm = tiny_llama()                      # or load_smollm2()
    out = generate(lm, [{"role": "user", "content": "Hi!"}], max_tokens=20, temperature=0)
    out.text, out.finish_reason, out.prompt_tokens, out.completion_tokens

A completion ends with ``finish_reason="stop"`` at an end-of-sequence token or a ``stop``
string (neither is part of the text), and ``"length"`` after ``max_tokens`` tokens or at the
end of the model's context.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qmml.supervised.llm.load import LanguageModel

__all__ = [
    "Completion",
    "PromptTooLongError",
    "SamplingParams",
    "TextStream",
    "encode_prompt",
    "format_chat",
    "generate",
    "stream",
]

Prompt = str | Sequence[dict[str, Any]]


class PromptTooLongError(ValueError):
    """The prompt leaves no room for a completion in the model's context."""

    def __init__(self, prompt_tokens: int, max_context: int) -> None:
        super().__init__(
            f"the prompt is {prompt_tokens} tokens, but the model's context is {max_context} "
            "tokens (prompt plus completion); shorten the prompt"
        )
        self.prompt_tokens = prompt_tokens
        self.max_context = max_context


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens and when to stop.

    Attributes:
        max_tokens: most tokens to generate (the completion may stop earlier).
        temperature: 0 picks the most likely token (greedy); higher values flatten the
            distribution before sampling.
        top_p: sample from the smallest set of tokens whose probability reaches ``top_p``.
        top_k: sample from the ``top_k`` most likely tokens (0: all).
        stop: strings that end the completion; the first one found is cut off with the rest.
        seed: seed of the local sampling generator (``None``: a fresh random one).
    """

    max_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}: ask for at least 1 token")
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature={self.temperature}: use a value from 0 to 2")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: use a value above 0, at most 1")
        if self.top_k < 0:
            raise ValueError(f"top_k={self.top_k}: use 0 (all tokens) or a positive count")
        if isinstance(self.stop, str) or any(not s for s in self.stop):
            raise ValueError(f"stop={self.stop!r}: give a tuple of non-empty strings")


@dataclass
class Completion:
    """A finished completion with its token counts (the ``usage`` of the OpenAI API)."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def format_chat(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> str:
    """The prompt text for chat ``messages`` (``{"role", "content"}`` dicts) through the
    tokenizer's chat template, ending where the assistant's answer begins.

    Raises:
        ValueError: the tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("this tokenizer has no chat_template; send a plain text prompt instead")
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return str(text)


def encode_prompt(lm: LanguageModel, prompt: Prompt) -> list[int]:
    """Token ids of a text prompt, or of chat messages formatted by :func:`format_chat`."""
    if isinstance(prompt, str):
        return list(lm.tokenizer(prompt)["input_ids"])
    text = format_chat(lm.tokenizer, prompt)  # the template already holds the special tokens
    return list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])


def _pick(logits: Any, params: SamplingParams, gen: Any) -> int:
    """One token id from the next-token ``logits`` (shape ``(vocab,)``)."""
    import torch

    if params.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits.float() / params.temperature
    if params.top_k and params.top_k < logits.numel():
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1:
        sorted_p, order = torch.sort(probs, descending=True)
        outside = torch.cumsum(sorted_p, dim=-1) - sorted_p >= params.top_p  # keeps >= 1 token
        probs = probs.scatter(0, order[outside], 0.0)
    return int(torch.multinomial(probs, 1, generator=gen))


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """Characters at the end of ``text`` that are not final yet: an incomplete UTF-8 character
    (decoded as U+FFFD) or the beginning of a stop string."""
    end = len(text.rstrip("\ufffd"))
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, end), 0, -1):
            if text.endswith(s[:k], 0, end):
                hold = max(hold, k)
                break
    return len(text) - end + hold


@dataclass(eq=False)  # compared (and hashed) by identity
class TextStream(Iterator[str]):
    """Iterate to receive text deltas; once exhausted, :attr:`completion` holds the result.

    Attributes:
        lm: the model.
        prompt_ids: the encoded prompt.
        params: sampling settings.
        cancel: set it (from another thread) to stop after the current token.
    """

    lm: LanguageModel
    prompt_ids: list[int]
    params: SamplingParams
    cancel: threading.Event = field(default_factory=threading.Event)
    completion: Completion | None = None

    def __post_init__(self) -> None:
        room = self.lm.max_context - len(self.prompt_ids)
        if room < 1 or not self.prompt_ids:
            raise PromptTooLongError(len(self.prompt_ids), self.lm.max_context)
        self._limit = min(self.params.max_tokens, room)
        self._steps = self._run()

    def __next__(self) -> str:
        return next(self._steps)

    def _run(self) -> Iterator[str]:
        import torch

        lm, params = self.lm, self.params
        device = lm.device
        gen = torch.Generator(device=device)
        gen.manual_seed(params.seed if params.seed is not None else secrets.randbits(63))
        eos, stops = lm.eos_token_ids, params.stop
        longest = max((len(s) for s in stops), default=0)
        new_ids: list[int] = []
        text, emitted, finish = "", 0, "length"
        inputs = torch.tensor([self.prompt_ids], device=device)
        cache = None
        with torch.inference_mode():
            while len(new_ids) < self._limit and not self.cancel.is_set():
                out = lm.model(input_ids=inputs, cache=cache, use_cache=True, logits_to_keep=1)
                cache = out.cache  # the key/value cache (``past_key_values`` before v5.24)
                token = _pick(out.logits[0, -1], params, gen)
                new_ids.append(token)
                if token in eos:
                    finish = "stop"
                    break
                inputs = torch.tensor([[token]], device=device)
                text = lm.tokenizer.decode(new_ids, skip_special_tokens=True)
                if stops:
                    start = max(0, emitted - longest)
                    hits = [i for i in (text.find(s, start) for s in stops) if i >= 0]
                    if hits:
                        text, finish = text[: min(hits)], "stop"
                        break
                final = len(text) - _held_back(text, stops)
                if final > emitted:
                    yield text[emitted:final]
                    emitted = final
        if len(text) > emitted:
            yield text[emitted:]
        self.completion = Completion(text, finish, len(self.prompt_ids), len(new_ids))


def stream(
    lm: LanguageModel, prompt: Prompt, params: SamplingParams | None = None, **overrides: Any
) -> TextStream:
    """Generate from a text prompt or chat messages, as an iterator of text deltas.

    Args:
        lm: the model (see :mod:`qmml.supervised.llm.load`).
        prompt: text, or chat messages (``[{"role": "user", "content": "..."}]``).
        params: sampling settings; keyword ``overrides`` replace single fields
            (``max_tokens=20, temperature=0``).

    Raises:
        PromptTooLongError: the prompt fills the model's context.
        ValueError: a sampling setting out of range.
    """
    params = replace(params or SamplingParams(), **overrides)
    if isinstance(params.stop, list):
        params = replace(params, stop=tuple(params.stop))
    return TextStream(lm, encode_prompt(lm, prompt), params)


def generate(
    lm: LanguageModel, prompt: Prompt, params: SamplingParams | None = None, **overrides: Any
) -> Completion:
    """Generate a whole completion; arguments as for :func:`stream`."""
    steps = stream(lm, prompt, params, **overrides)
    for _ in steps:
        pass
    assert steps.completion is not None
    return steps.completion
