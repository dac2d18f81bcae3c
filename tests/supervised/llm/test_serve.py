"""The OpenAI-compatible server, driven over 127.0.0.1 by the real openai and huggingface_hub
clients (and raw httpx where the wire format itself is the contract)."""

import json
import logging
import re

import httpx
import openai
import pytest

from qmml.supervised.llm.client import chat, hf_chat, hf_client, openai_client, stream_chat
from qmml.supervised.llm.generate import generate
from qmml.supervised.llm.load import tiny_llama
from qmml.supervised.llm.serve import create_app, server_in_thread

MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def lm():
    return tiny_llama()


@pytest.fixture(scope="module")
def served(lm):
    app = create_app(lm, max_queue=2)
    with server_in_thread(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def client(served):
    return openai_client(served[1], timeout=20, max_retries=0)


def _sse_lines(url: str, body: dict, headers: dict | None = None) -> list[str]:
    with httpx.stream("POST", f"{url}/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return [line for line in r.iter_lines() if line]


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list()] == ["tiny"]


def test_chat_completion_matches_in_process_generation(client, lm):
    opts = {"max_tokens": 15, "temperature": 1.0, "seed": 11}
    reply = client.chat.completions.create(model="tiny", messages=MSG, **opts)
    again = client.chat.completions.create(model="tiny", messages=MSG, **opts)
    local = generate(lm, MSG, **opts)
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == again.choices[0].message.content == local.text
    assert reply.choices[0].finish_reason == "length"
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (local.prompt_tokens, 15)
    assert usage.total_tokens == usage.prompt_tokens + 15


def test_stop_strings_over_http(client, lm):
    full = generate(lm, MSG, max_tokens=30, temperature=1.0, seed=5).text
    stop = next(c for i, c in enumerate(full) if i > 2 and c.isascii() and c.isalnum())
    text, _ = chat(client, "tiny", MSG, max_tokens=30, temperature=1.0, seed=5, stop=[stop])
    assert text == full[: full.find(stop)]


def test_stream_wire_format_ends_in_done_with_usage(served, lm):
    body = {"model": "tiny", "messages": MSG, "max_tokens": 8, "temperature": 0}
    usage = {"stream": True, "stream_options": {"include_usage": True}}
    lines = _sse_lines(served[1], body | usage)
    assert lines[-1] == "data: [DONE]" and all(x.startswith("data: ") for x in lines)
    chunks = [json.loads(x[6:]) for x in lines[:-1]]
    local = generate(lm, MSG, max_tokens=8, temperature=0)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == local.completion_tokens
    assert chunks[-2]["choices"][0]["finish_reason"] == local.finish_reason
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert text == local.text
    plain = _sse_lines(served[1], body | {"stream": True})
    assert plain[-1] == "data: [DONE]" and "usage" not in plain[-2]


def test_stream_with_the_openai_client(client, lm):
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=MSG,
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    local = generate(lm, MSG, max_tokens=10, temperature=0)
    assert chunks[-1].choices == [] and chunks[-1].usage == chunks[-1].usage.__class__(
        prompt_tokens=local.prompt_tokens,
        completion_tokens=local.completion_tokens,
        total_tokens=local.total_tokens,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == local.text
    assert "".join(stream_chat(client, "tiny", MSG, max_tokens=10, temperature=0)) == text


def test_completions_endpoint(client, lm):
    opts = {"model": "tiny", "prompt": "abc", "temperature": 1.0, "seed": 2}
    out = client.completions.create(max_tokens=6, **opts)
    local = generate(lm, "abc", max_tokens=6, temperature=1.0, seed=2)
    assert out.object == "text_completion" and out.choices[0].text == local.text
    assert out.usage.prompt_tokens == 3 and out.usage.completion_tokens == 6
    default = client.completions.create(**opts)
    assert default.usage.completion_tokens == 16  # OpenAI's default for this endpoint
    parts = list(client.completions.create(max_tokens=6, stream=True, **opts))
    assert "".join(p.choices[0].text for p in parts) == local.text
    assert parts[-1].choices[0].finish_reason == "length"


def test_huggingface_inference_client(served, lm):
    hf = hf_client(served[1])
    want = generate(lm, MSG, max_tokens=6, temperature=0).text
    assert hf_chat(hf, "tiny", MSG, max_tokens=6, temperature=0) == want
    parts = hf.chat_completion(MSG, model="tiny", max_tokens=6, temperature=0, stream=True)
    assert "".join(p.choices[0].delta.content or "" for p in parts if p.choices) == want


def _error(excinfo) -> dict:
    err = excinfo.value
    assert isinstance(err.body, dict) and set(err.body) == {"message", "type", "param", "code"}
    return err.body


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"model": "gpt-4o"}, "model"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 2}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"extra_body": {"max_token": 5}}, "max_token"),
        ({"stream_options": {"include_usage": True}}, None),
    ],
)
def test_bad_requests_are_400_in_openai_form(client, options, param):
    kwargs = {"model": "tiny", "messages": MSG, "max_tokens": 2} | options
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.chat.completions.create(**kwargs)
    body = _error(excinfo)
    assert excinfo.value.status_code == 400 and body["type"] == "invalid_request_error"
    assert body["param"] == param
    if param == "max_token":
        assert "unrecognized request argument" in body["message"]


def test_malformed_json_and_unknown_path(served):
    r = httpx.post(f"{served[1]}/chat/completions", content=b"{not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(f"{served[1]}/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_prompt_too_long_is_413(client):
    long = [{"role": "user", "content": "x" * 600}]  # tiny's context is 512 tokens
    with pytest.raises(openai.APIStatusError) as excinfo:
        client.chat.completions.create(model="tiny", messages=long, max_tokens=2)
    assert excinfo.value.status_code == 413
    assert _error(excinfo)["code"] == "context_length_exceeded"
    with pytest.raises(openai.APIStatusError) as excinfo:
        client.completions.create(model="tiny", prompt="y" * 20_000, max_tokens=2)
    assert excinfo.value.status_code == 413


def test_full_queue_is_429_then_recovers(served, client):
    backend = served[0].state.backend
    taken = 0
    while backend.slots.acquire(blocking=False):  # occupy the running slot and the queue
        taken += 1
    assert taken == 3  # 1 running + max_queue=2
    try:
        with pytest.raises(openai.RateLimitError) as excinfo:
            client.chat.completions.create(model="tiny", messages=MSG, max_tokens=2)
        assert excinfo.value.response.headers["retry-after"] == "1"
        assert _error(excinfo)["type"] == "rate_limit_error"
    finally:
        for _ in range(taken):
            backend.slots.release()
    assert chat(client, "tiny", MSG, max_tokens=2)[1].completion_tokens == 2


def test_client_leaving_a_stream_frees_its_slot(served):
    backend = served[0].state.backend
    body = {"model": "tiny", "messages": MSG, "max_tokens": 400, "stream": True}
    with httpx.stream("POST", f"{served[1]}/chat/completions", json=body) as r:
        next(r.iter_lines())
    backend.executor.submit(lambda: None).result(timeout=30)  # the worker finished the stream
    taken = 0
    while backend.slots.acquire(blocking=False):
        taken += 1
    for _ in range(taken):
        backend.slots.release()
    assert taken == 3


def test_api_key_is_required_when_set(lm):
    with server_in_thread(create_app(lm, api_key="s3cret")) as url:
        for key in ("wrong", ""):
            with pytest.raises(openai.AuthenticationError) as excinfo:
                openai_client(url, api_key=key or "x", max_retries=0).models.list()
            assert _error(excinfo)["code"] == "invalid_api_key"
        r = httpx.post(f"{url}/chat/completions", json={"model": "tiny", "messages": MSG})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        good = openai_client(url, api_key="s3cret", max_retries=0)
        assert chat(good, "tiny", MSG, max_tokens=3)[1].completion_tokens == 3
        assert httpx.get(url.removesuffix("/v1") + "/health").status_code == 200


def test_requests_are_logged_without_prompts(lm, caplog):
    secret = [{"role": "user", "content": "my password is hunter2"}]
    with caplog.at_level(logging.INFO, logger="qmml.serve"):
        with server_in_thread(create_app(lm)) as url:
            chat(openai_client(url, max_retries=0), "tiny", secret, max_tokens=3)
        quiet = caplog.text
        caplog.clear()
        with server_in_thread(create_app(lm, log_prompts=True)) as url:
            chat(openai_client(url, max_retries=0), "tiny", secret, max_tokens=3)
    # prompt+completion tokens (a random model may end early at its end-of-text token)
    assert re.search(r"POST /v1/chat/completions 200 tokens=\d+\+[123] latency_ms=", quiet)
    assert "hunter2" not in quiet and "hunter2" in caplog.text


def test_bad_max_queue():
    with pytest.raises(ValueError, match="max_queue"):
        create_app(tiny_llama(), max_queue=-1)
