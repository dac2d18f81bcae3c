"""Serving throughput of ``qmml serve`` against a bare ``model.generate`` loop, one thread.

- (a) ``served``: chat completions end to end through the official ``openai`` client, over
  HTTP on 127.0.0.1, to :func:`qmml.supervised.llm.serve.create_app` running in this process
  (so ``time.process_time`` counts the client, the HTTP server and the model together).
- (b) ``bare``: ``model.generate(ids, max_new_tokens=N, do_sample=False)`` on the same
  prompts, formatted by the same chat template (the peer a transformers user would write).

Both decode greedily, so they produce the same tokens. Reported: completion tokens per
CPU-second (median over ``--repeats``; target with SmolLM2: >= 8, and served >= 90% of bare),
CPU-seconds to the first token of a streamed answer (target <= 5), then a bounded load test:
``--clients`` threads each sending ``--requests`` requests at once, with failures (target 0),
p50/p95 latency and the resident memory before and after (target: flat).

    nice -n 10 .venv/bin/python benchmarks/llm_serving.py --model smollm2
    .venv/bin/python benchmarks/llm_serving.py --model tiny
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy and torch imports

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.supervised.llm.generate import encode_prompt  # noqa: E402
from qmml.supervised.llm.load import load_model  # noqa: E402
from qmml.supervised.llm.serve import create_app, server_in_thread  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

QUESTIONS = [
    "What is the capital of France?",
    "Explain what a neural network is in two sentences.",
    "Give three tips for writing clear Python code.",
    "Why is the sky blue?",
]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def throughput(lm, client, max_tokens: int, repeats: int) -> tuple[list[float], list[float]]:
    chats = [[{"role": "user", "content": q}] for q in QUESTIONS]
    served, bare = [], []
    for _ in range(repeats):
        tokens, start = 0, time.process_time()
        for messages in chats:
            r = client.chat.completions.create(
                model=lm.name, messages=messages, max_tokens=max_tokens, temperature=0
            )
            tokens += r.usage.completion_tokens
        served.append(tokens / (time.process_time() - start))
        tokens, start = 0, time.process_time()
        with torch.inference_mode():
            for messages in chats:
                ids = torch.tensor([encode_prompt(lm, messages)])
                out = lm.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    pad_token_id=lm.tokenizer.pad_token_id or lm.tokenizer.eos_token_id,
                )
                tokens += out.shape[1] - ids.shape[1]
        bare.append(tokens / (time.process_time() - start))
    return served, bare


def first_token(lm, client, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        messages = [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]
        start = time.process_time()
        chunks = client.chat.completions.create(
            model=lm.name, messages=messages, max_tokens=32, temperature=0, stream=True
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.process_time() - start)
                break
        chunks.close()
    return times


def load_test(lm, url: str, clients: int, requests: int, max_tokens: int) -> dict[str, float]:
    import openai

    def one_client(k: int) -> list[float | None]:
        c = openai.OpenAI(base_url=url, api_key="x", timeout=600, max_retries=0)
        out: list[float | None] = []
        for j in range(requests):
            messages = [{"role": "user", "content": QUESTIONS[(k + j) % len(QUESTIONS)]}]
            start = time.perf_counter()
            try:
                c.chat.completions.create(
                    model=lm.name, messages=messages, max_tokens=max_tokens, temperature=0
                )
                out.append(time.perf_counter() - start)
            except openai.APIError as err:
                print(f"  request failed: {err}", file=sys.stderr)
                out.append(None)
        return out

    with ThreadPoolExecutor(clients) as pool:
        results = [x for r in pool.map(one_client, range(clients)) for x in r]
    ok = [x for x in results if x is not None]
    return {
        "requests": len(results),
        "failed": len(results) - len(ok),
        "p50_s": _pct(ok, 0.5),
        "p95_s": _pct(ok, 0.95),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2", help="smollm2, tiny or a checkpoint folder")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=5, help="requests per client in the load test")
    p.add_argument("--load-max-tokens", type=int, default=8)
    args = p.parse_args()

    import openai

    start = time.process_time()
    lm = load_model(args.model)
    n_params = sum(q.numel() for q in lm.model.parameters())
    print(
        f"model {args.model}: {n_params / 1e6:.1f}M parameters, loaded in "
        f"{time.process_time() - start:.1f} CPU-s; torch threads {torch.get_num_threads()}"
    )
    app = create_app(lm, max_queue=args.clients)
    with server_in_thread(app) as url:
        client = openai.OpenAI(base_url=url, api_key="x", timeout=600, max_retries=0)
        throughput(lm, client, 4, 1)  # warm-up
        served, bare = throughput(lm, client, args.max_tokens, args.repeats)
        ms, mb = statistics.median(served), statistics.median(bare)
        print(
            f"\ncompletion tokens per CPU-second (median of {args.repeats}, "
            f"{len(QUESTIONS)} prompts x max_tokens={args.max_tokens}, greedy):"
        )
        print(
            f"  (a) served via openai client  {ms:8.1f}   runs: "
            + " ".join(f"{x:.1f}" for x in served)
        )
        print(
            f"  (b) bare model.generate       {mb:8.1f}   runs: "
            + " ".join(f"{x:.1f}" for x in bare)
        )
        print(f"  served / bare = {ms / mb:.1%}  (target >= 90%; >= 8 tok/CPU-s with SmolLM2)")
        ttft = first_token(lm, client, max(3, args.repeats))
        print(
            f"\nfirst streamed token: median {statistics.median(ttft):.3f} CPU-s "
            f"(max {max(ttft):.3f}; target <= 5)"
        )
        rss_before = _rss_mb()
        wall = time.perf_counter()
        stats = load_test(lm, url, args.clients, args.requests, args.load_max_tokens)
        wall = time.perf_counter() - wall
        rss_after = _rss_mb()
    print(
        f"\nload test: {args.clients} clients x {args.requests} requests "
        f"(max_tokens={args.load_max_tokens}) in {wall:.1f} s wall"
    )
    print(
        f"  failed {stats['failed']} of {stats['requests']}; latency p50 {stats['p50_s']:.2f} s,"
        f" p95 {stats['p95_s']:.2f} s (requests wait their turn: one runs at a time)"
    )
    print(
        f"  RSS before {rss_before:.0f} MB, after {rss_after:.0f} MB "
        f"({rss_after - rss_before:+.0f} MB)"
    )


if __name__ == "__main__":
    main()
