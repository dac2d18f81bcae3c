"""Talking to an OpenAI-compatible server with the official clients.

The same code runs against ``qmml serve`` on this machine and against a hosted provider:
only ``base_url`` and the API key change. Start a local server first::

    qmml serve smollm2 --port 8000            # or: qmml serve tiny (a random test model)

With the ``openai`` client (``timeout`` in seconds per request; ``max_retries`` retries
connection errors, 429 and 5xx answers with exponential back-off, honouring ``Retry-After``)::

    from openai import OpenAI

    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused-locally",
                    timeout=60.0, max_retries=2)
    reply = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=32, temperature=0,
    )
    print(reply.choices[0].message.content, reply.usage.completion_tokens)

    for chunk in client.chat.completions.create(model="smollm2", messages=[...], stream=True):
        if chunk.choices:
            print(chunk.choices[0].delta.content or "", end="", flush=True)

With ``huggingface_hub``::

    from huggingface_hub import InferenceClient

    hf = InferenceClient(base_url="http://127.0.0.1:8000/v1", api_key="unused", timeout=60)
    out = hf.chat_completion([{"role": "user", "content": "Hi!"}], model="smollm2", max_tokens=32)
    print(out.choices[0].message.content)

A hosted provider is the same call with its URL and key, e.g.
``OpenAI(base_url="https://api.openai.com/v1", api_key=os.environ["OPENAI_API_KEY"])`` and
its model names. The helpers below wrap exactly these calls (and are what the tests run).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["chat", "hf_chat", "hf_client", "openai_client", "stream_chat"]

Messages = Sequence[dict[str, str]]


def openai_client(
    base_url: str = "http://127.0.0.1:8000/v1",
    api_key: str = "unused-locally",
    *,
    timeout: float = 60.0,
    max_retries: int = 2,
) -> Any:
    """An ``openai.OpenAI`` client for ``base_url``.

    Args:
        base_url: the server's ``/v1`` URL (``qmml serve`` prints it).
        api_key: the server's key (``--api-key``); any string when it has none.
        timeout: seconds before a request is abandoned (``openai.APITimeoutError``).
        max_retries: retries of connection errors, 408/409/429 and 5xx answers.
    """
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)


def chat(client: Any, model: str, messages: Messages, **options: Any) -> tuple[str, Any]:
    """One chat answer: its text and its ``usage`` (prompt/completion token counts).

    Args:
        client: from :func:`openai_client` (or any ``openai.OpenAI``).
        model: the served model's id (``client.models.list()``).
        messages: ``[{"role": "user", "content": "..."}]``.
        options: ``max_tokens``, ``temperature``, ``stop``, ``seed``, ...

    Raises:
        openai.APIStatusError: the server refused the request (``.status_code``, ``.body``).
    """
    reply = client.chat.completions.create(model=model, messages=list(messages), **options)
    return reply.choices[0].message.content or "", reply.usage


def stream_chat(client: Any, model: str, messages: Messages, **options: Any) -> Iterator[str]:
    """A chat answer as text deltas while it is generated (server-sent events).

    The last chunk the server sends (``stream_options={"include_usage": True}``) has no
    choices, only ``usage``; it is skipped here.
    """
    chunks = client.chat.completions.create(
        model=model, messages=list(messages), stream=True, **options
    )
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


def hf_client(
    base_url: str = "http://127.0.0.1:8000/v1", api_key: str = "unused-locally", timeout: float = 60
) -> Any:
    """A ``huggingface_hub.InferenceClient`` for an OpenAI-compatible ``base_url``."""
    from huggingface_hub import InferenceClient

    return InferenceClient(base_url=base_url, api_key=api_key, timeout=timeout)


def hf_chat(client: Any, model: str, messages: Messages, **options: Any) -> str:
    """One chat answer through ``InferenceClient.chat_completion`` (options: ``max_tokens``,
    ``temperature``, ``stop``, ``seed``, ``stream``...)."""
    out = client.chat_completion(list(messages), model=model, **options)
    return out.choices[0].message.content or ""
