"""The model behind the server: one worker thread, a bounded queue of waiting requests, and
the :class:`APIError` every refusal is raised as (see :mod:`qmml.supervised.llm.serve`).

Generation is serialised: torch already spreads one forward pass over the CPU threads, and
one request at a time keeps memory flat whatever the load. A request is admitted only when
one of ``1 + max_queue`` slots is free; otherwise it is refused at once (429) instead of
waiting without bound. The worker frees the slot however the request ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.responses import JSONResponse

from qmml.supervised.llm.api_types import error_body
from qmml.supervised.llm.generate import (
    Completion,
    PromptTooLongError,
    SamplingParams,
    TextStream,
    encode_prompt,
)
from qmml.supervised.llm.load import LanguageModel

__all__ = ["APIError", "Backend"]

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
_TYPES |= {413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error"}
_CHARS_PER_TOKEN = 16  # a prompt this many times longer than the context is refused untokenised


class APIError(Exception):
    """A failure answered as an OpenAI error object with an HTTP status."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> JSONResponse:
        """The JSON response (429 carries ``Retry-After``, which the openai client honours)."""
        body = error_body(self.message, _TYPES.get(self.status, "api_error"), self.param, self.code)
        headers = {"Retry-After": "1"} if self.status == 429 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


class Backend:
    """The model, its worker thread and the bounded queue in front of it.

    Args:
        lm: the model to serve.
        max_queue: requests that may wait while one runs; more are refused (429).
        model_id: the name clients put in ``model`` (default: ``lm.name``).
    """

    def __init__(self, lm: LanguageModel, max_queue: int = 16, model_id: str | None = None):
        if max_queue < 0:
            raise ValueError(f"max_queue={max_queue}: use 0 or more")
        self.lm, self.model_id, self.max_queue = lm, model_id or lm.name, max_queue
        self.slots = threading.BoundedSemaphore(1 + max_queue)  # running + waiting
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qmml-generate")
        self.created = int(time.time())
        self._live: set[TextStream] = set()

    def prepare(self, prompt: Any, params: SamplingParams) -> TextStream:
        """Tokenise and admit a request.

        Raises:
            APIError: 413 (prompt too long) or 429 (queue full).
        """
        size = len(prompt) if isinstance(prompt, str) else sum(len(m["content"]) for m in prompt)
        if size > _CHARS_PER_TOKEN * self.lm.max_context:
            raise _too_long(f"the prompt is {size} characters, far beyond the context")
        try:
            steps = TextStream(self.lm, encode_prompt(self.lm, prompt), params)
        except PromptTooLongError as err:
            raise _too_long(str(err)) from None
        if not self.slots.acquire(blocking=False):
            raise APIError(
                429,
                f"the server is busy: {1 + self.max_queue} requests are running or queued; "
                "retry shortly",
                code="rate_limit_exceeded",
            )
        return steps

    def _work(self, steps: TextStream, emit: Callable[[str, Any], None] | None) -> Completion:
        self._live.add(steps)
        try:
            for delta in steps:
                if emit is not None:
                    emit("delta", delta)
            assert steps.completion is not None
            return steps.completion
        finally:
            self._live.discard(steps)
            self.slots.release()

    async def complete(self, steps: TextStream) -> Completion:
        """Run an admitted request to the end in the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._work, steps, None)

    def stream(self, steps: TextStream) -> AsyncIterator[str]:
        """Start an admitted request in the worker thread now; its text deltas arrive through
        the returned iterator. Closing the iterator (client gone) stops the generation; the
        queue slot is freed by the worker however the consumer ends."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def emit(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the event loop is gone (shutdown): stop generating
                steps.cancel.set()

        def work() -> None:
            try:
                emit("done", self._work(steps, emit))
            except Exception as err:
                emit("error", err)

        loop.run_in_executor(self.executor, work)

        async def deltas() -> AsyncIterator[str]:
            try:
                while True:
                    kind, value = await queue.get()
                    if kind == "delta":
                        yield value
                    elif kind == "error":
                        raise value
                    else:
                        return
            finally:
                steps.cancel.set()

        return deltas()

    def close(self) -> None:
        """Stop running generations, drop waiting ones and end the worker thread."""
        for steps in list(self._live):
            steps.cancel.set()
        self.executor.shutdown(wait=True, cancel_futures=True)


def _too_long(message: str) -> APIError:
    return APIError(413, message, param="messages", code="context_length_exceeded")
