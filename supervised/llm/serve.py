"""An OpenAI-compatible HTTP server for one local model (FastAPI + uvicorn).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/completions``,
each answer whole or streamed as server-sent events (``data: {chunk}`` lines ending in
``data: [DONE]``; ``stream_options.include_usage`` adds a last chunk with ``choices: []`` and
the token counts). Any OpenAI client works by pointing its ``base_url`` at
``http://127.0.0.1:PORT/v1`` (see :mod:`qmml.supervised.llm.client`).

One worker thread runs the model, one request at a time; up to ``max_queue`` more wait their
turn and any beyond that are refused at once with 429 (clients retry). Failures are OpenAI
error objects (``{"error": {"message", "type", "param", "code"}}``): 400 for a bad field or an
unknown model, 401 for a missing or wrong API key (when one is set), 404 for an unknown path,
413 for a prompt longer than the context, 429 for a full queue. Each request is logged on the
``qmml.serve`` logger (method, path, status, tokens, latency); prompts only with
``log_prompts=True``.

    app = create_app(tiny_llama(), api_key="secret")
    uvicorn.run(app, host="127.0.0.1", port=8000)        # or: qmml serve tiny
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from qmml.supervised.llm.api_types import ChatCompletionRequest, CompletionRequest, error_body
from qmml.supervised.llm.backend import APIError, Backend
from qmml.supervised.llm.generate import (
    Completion,
    SamplingParams,
    TextStream,
)
from qmml.supervised.llm.load import LanguageModel

__all__ = ["APIError", "Backend", "bind", "create_app", "run_server", "server_in_thread"]

log = logging.getLogger("qmml.serve")


def _usage(c: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.total_tokens,
    }


def _sse(obj: dict[str, Any] | str) -> str:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n"


def _params(body: ChatCompletionRequest | CompletionRequest, default_max: int) -> SamplingParams:
    return SamplingParams(
        max_tokens=body.token_limit or default_max,
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        top_k=body.top_k or 0,
        stop=body.stops,
        seed=body.seed,
    )


class _AccessMiddleware:
    """Pure ASGI middleware: the API-key check and one log line per request."""

    def __init__(self, app: Any, api_key: str | None) -> None:
        self.app, self.api_key = app, api_key

    def _authorised(self, scope: dict[str, Any]) -> bool:
        if not self.api_key or not scope["path"].startswith("/v1"):
            return True
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.api_key)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [0]

        async def logged_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if self._authorised(scope):
                await self.app(scope, receive, logged_send)
            else:
                msg = "missing or wrong API key: send the header 'Authorization: Bearer KEY'"
                err = APIError(401, msg, code="invalid_api_key").response()
                await err(scope, receive, logged_send)
        finally:
            usage = (scope.get("state") or {}).get("usage")
            tokens = f"{usage.prompt_tokens}+{usage.completion_tokens}" if usage else "-"
            log.info(
                "%s %s %s tokens=%s latency_ms=%.1f",
                scope["method"],
                scope["path"],
                status[0] or "disconnected",
                tokens,
                1000 * (time.perf_counter() - start),
            )


def create_app(
    lm: LanguageModel,
    *,
    api_key: str | None = None,
    max_queue: int = 16,
    log_prompts: bool = False,
    default_max_tokens: int = 256,
    model_id: str | None = None,
) -> FastAPI:
    """The FastAPI application serving ``lm``.

    Args:
        lm: the model (:func:`~qmml.supervised.llm.load.load_model`).
        api_key: when set, every ``/v1`` request needs ``Authorization: Bearer <api_key>``.
        max_queue: requests that may wait while one runs (more get 429).
        log_prompts: also log each prompt (off by default: prompts may be private).
        default_max_tokens: completion length for chat requests without ``max_tokens``
            (``/v1/completions`` defaults to 16, as OpenAI's).
        model_id: the model's name in the API (default: ``lm.name``).

    The backend is ``app.state.backend``; it is closed when the server shuts down.
    """
    backend = Backend(lm, max_queue=max_queue, model_id=model_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        backend.close()

    app = FastAPI(title="qmml LLM server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.backend = backend
    app.add_middleware(_AccessMiddleware, api_key=api_key)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, err: APIError) -> JSONResponse:
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        if first.get("type") == "extra_forbidden":
            message = f"unrecognized request argument supplied: {param}"
        return APIError(400, message, param=param, code=first.get("type")).response()

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException) -> JSONResponse:
        return APIError(err.status_code, str(err.detail)).response()

    @app.exception_handler(Exception)
    async def _crash(request: Request, err: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        return APIError(500, f"internal error: {type(err).__name__}: {err}").response()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": backend.model_id, "object": "model", "created": backend.created}
        return {"object": "list", "data": [card | {"owned_by": "qmml"}]}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def check_model(name: str) -> None:
        if name != backend.model_id:
            raise APIError(
                400,
                f"model {name!r} is not served here; this server serves {backend.model_id!r}",
                param="model",
                code="model_not_found",
            )

    async def answer(
        request: Request,
        prompt: Any,
        body: ChatCompletionRequest | CompletionRequest,
        default_max: int,
        shape: Callable[[str, str | None], dict[str, Any]],
        whole: Callable[[Completion], dict[str, Any]],
    ) -> Any:
        check_model(body.model)
        if log_prompts:
            log.info("prompt %s: %r", request.url.path, prompt)
        steps = backend.prepare(prompt, _params(body, default_max))
        if not body.stream:
            done = await backend.complete(steps)
            request.state.usage = done
            return whole(done)
        deltas = backend.stream(steps)
        events = _events(request, steps, deltas, body.include_usage, shape)
        return StreamingResponse(events, media_type="text/event-stream")

    async def _events(
        request: Request,
        steps: TextStream,
        deltas: AsyncIterator[str],
        include_usage: bool,
        shape: Callable[[str, str | None], dict[str, Any]],
    ) -> AsyncIterator[str]:
        usage_null = {"usage": None} if include_usage else {}
        yield _sse(shape("", None) | usage_null)
        try:
            async for delta in deltas:
                yield _sse(shape(delta, None) | usage_null)
        except Exception as err:  # headers are sent: report in the stream, as OpenAI does
            log.exception("generation failed")
            yield _sse(error_body(f"generation failed: {err}", "server_error"))
            yield _sse("[DONE]")
            return
        done = steps.completion
        assert done is not None
        request.state.usage = done
        yield _sse(shape("", done.finish_reason) | usage_null)
        if include_usage:
            yield _sse(shape("", None) | {"choices": [], "usage": _usage(done)})
        yield _sse("[DONE]")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request, body: ChatCompletionRequest) -> Any:
        rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": rid, "created": created, "model": backend.model_id}
        messages = [{"role": m.role, "content": m.text} for m in body.messages]
        first = [True]

        def shape(delta: str, finish: str | None) -> dict[str, Any]:
            d: dict[str, Any] = {} if finish else {"content": delta}
            if first[0]:
                d, first[0] = {"role": "assistant", "content": ""}, False
            choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
            return head | {"object": "chat.completion.chunk", "choices": [choice]}

        def whole(c: Completion) -> dict[str, Any]:
            message = {"role": "assistant", "content": c.text}
            choice = {"index": 0, "message": message, "logprobs": None}
            choice["finish_reason"] = c.finish_reason
            return head | {"object": "chat.completion", "choices": [choice], "usage": _usage(c)}

        return await answer(request, messages, body, default_max_tokens, shape, whole)

    @app.post("/v1/completions")
    async def completions(request: Request, body: CompletionRequest) -> Any:
        rid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": rid, "created": created, "model": backend.model_id}

        def choice(text: str, finish: str | None) -> dict[str, Any]:
            return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}

        def shape(delta: str, finish: str | None) -> dict[str, Any]:
            return head | {"object": "text_completion", "choices": [choice(delta, finish)]}

        def whole(c: Completion) -> dict[str, Any]:
            out = shape(c.text, c.finish_reason)
            return out | {"usage": _usage(c)}

        return await answer(request, body.text, body, 16, shape, whole)

    return app


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket (``port=0``: a free port, see ``getsockname()[1]``).

    Clients may connect as soon as it exists: the kernel queues their connections until the
    server accepts them, so nobody needs to wait for (or poll) the server's start.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _server(app: FastAPI, **config: Any) -> Any:
    import uvicorn

    settings: dict[str, Any] = {"log_level": "warning", "timeout_graceful_shutdown": 5}
    settings |= config
    return uvicorn.Server(uvicorn.Config(app, **settings))


def run_server(app: FastAPI, sock: socket.socket, **config: Any) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM (uvicorn finishes open requests, then
    the lifespan closes the backend). ``config``: extra ``uvicorn.Config`` settings."""
    _server(app, **config).run(sockets=[sock])


@contextmanager
def server_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a background thread for the ``with`` block; yields the base URL
    (``http://127.0.0.1:PORT/v1``) to give an OpenAI client. For tests and notebooks."""

    sock = bind(host, port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
