"""Training throughput of our LSTM char LM (through the shared trainer) against a bare PyTorch
``nn.LSTM`` loop on the same batches, one thread, in tokens per CPU-second.

- (a) ``qmml``: :class:`qmml.supervised.deep.rnn.CharLM` (``backend="torch"``) trained by
  :func:`qmml.supervised.deep.trainer.fit` with gradient clipping, via the same loss function
  :func:`qmml.supervised.deep.char_lm.train_char_lm` uses (state carried, detached).
- (b) bare: ``nn.Embedding`` -> ``nn.LSTM`` -> ``nn.Linear``, AdamW, clipping, written as
  a plain loop over the same precomputed batches (the peer a PyTorch user would write).
- (c) optional ``--scratch``: our hand-written LSTM cells (the lesson; slow by design).

Both see the same batches (random windows of The Time Machine). No validation runs inside the
timed loop. Time is ``time.process_time`` per run; the median over ``--repeats`` runs is
reported with the ratio bare / ours of tokens per CPU-second (target: ours within 1.2x).

    PYTHONPATH=. .venv/bin/python benchmarks/lstm_lm_speed.py --steps 60 --repeats 5
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy and torch imports

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.supervised.deep.char_lm import _stateful_loss  # noqa: E402
from qmml.supervised.deep.rnn import CharLM, CharLMConfig  # noqa: E402
from qmml.supervised.deep.trainer import TrainConfig, fit  # noqa: E402
from qmml.supervised.text import CharTokenizer, WindowSampler, load_corpus  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def make_batches(steps: int, batch: int, seq_len: int) -> tuple[list, int]:
    text = load_corpus("timemachine")
    tok = CharTokenizer().fit(text)
    sampler = WindowSampler(tok.encode(text), seq_len, batch, seed=0)
    batches = [tuple(torch.from_numpy(a) for a in sampler.sample()) for _ in range(steps)]
    return batches, tok.vocab_size


def run_ours(batches: list, V: int, hidden: int, embed: int, backend: str) -> float:
    model = CharLM(CharLMConfig(V, backend=backend, embed_dim=embed, hidden_size=hidden))
    cfg = TrainConfig(max_steps=len(batches), lr=2e-3, clip_grad_norm=1.0, restore_best=False)

    def train_batches(rng: np.random.Generator, epoch: int):
        for x, y in batches:
            yield x, y, True

    t0 = time.process_time()
    fit(model, _stateful_loss(), train_batches, config=cfg)
    return time.process_time() - t0


def run_bare(batches: list, V: int, hidden: int, embed: int) -> float:
    emb, lstm, head = (
        nn.Embedding(V, embed),
        nn.LSTM(embed, hidden, batch_first=True),
        nn.Linear(hidden, V),
    )
    params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)
    t0 = time.process_time()
    for x, y in batches:
        out, _ = lstm(emb(x))
        loss = F.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scratch", action="store_true", help="also time our hand-written cells")
    args = ap.parse_args()
    torch.manual_seed(0)  # the bare peer uses torch default initialisers (a script, not library)
    batches, V = make_batches(args.steps, args.batch, args.seq_len)
    tokens = args.steps * args.batch * args.seq_len
    runs = {
        "(a) qmml CharLM + trainer": lambda: run_ours(batches, V, args.hidden, args.embed, "torch"),
        "(b) bare nn.LSTM loop": lambda: run_bare(batches, V, args.hidden, args.embed),
    }
    if args.scratch:
        runs["(c) qmml scratch LSTM cells"] = lambda: run_ours(
            batches, V, args.hidden, args.embed, "scratch"
        )
    runs[next(iter(runs))]()  # warm-up (allocator, first-call dispatch)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():  # interleaved, so drift on a shared machine hits both
            times[name].append(fn())
    print(
        f"{args.steps} steps x batch {args.batch} x seq {args.seq_len} = {tokens} tokens; "
        f"LSTM hidden {args.hidden}, embed {args.embed}, vocab {V}; 1 thread; "
        f"median of {args.repeats}"
    )
    rate = {k: tokens / statistics.median(v) for k, v in times.items()}
    bare = rate["(b) bare nn.LSTM loop"]
    for name, r in rate.items():
        print(
            f"{name:30s} {r:10.0f} tokens/CPU-s   median {statistics.median(times[name]):.3f} s"
            f"   bare/this = {bare / r:.3f}"
        )


if __name__ == "__main__":
    main()
