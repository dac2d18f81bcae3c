"""Train and score a character-level recurrent LM through the shared trainer.

    parts = contiguous_split(tok.encode(text), val_fraction=0.1)
    run = train_char_lm(CharLMConfig(tok.vocab_size), parts.train, parts.val,
                        data=LMDataConfig(seq_len=64), train=TrainConfig(max_steps=2000))
    run.val_nats_per_token, run.result.history["val_loss"]

Training batches are either random windows (``sampling="random"``, state reset every batch)
or consecutive chunks of parallel streams (``"sequential"``: truncated BPTT, the detached
state carried from one batch to the next). Validation always runs the whole validation block
in order, carrying state, and is weighted per token: ``val_loss`` is held-out nats per
character, directly comparable with :meth:`qmml.supervised.text.NGramLM.nats_per_token`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from qmml.supervised.deep.rnn import CharLM, CharLMConfig, State, detach_state
from qmml.supervised.deep.trainer import TrainConfig, TrainResult, fit

__all__ = ["CharLMRun", "LMDataConfig", "lm_batches", "nats_per_token", "train_char_lm"]

Batch = tuple[torch.Tensor, torch.Tensor, bool]  # x (B, T), y (B, T), reset the state first


@dataclass(frozen=True)
class LMDataConfig:
    """How token blocks become batches.

    Attributes:
        seq_len: tokens per training window (the BPTT truncation length).
        sampling: ``"random"`` windows or ``"sequential"`` streams (truncated BPTT).
        batches_per_epoch: random windows: batches per epoch (sequential: one pass).
        val_streams: parallel streams when scoring the validation block during training.
        val_seq_len: chunk length when scoring (only speed; the state is carried).
    """

    seq_len: int = 64
    sampling: str = "random"
    batches_per_epoch: int = 100
    val_streams: int = 8
    val_seq_len: int = 256

    def __post_init__(self) -> None:
        if self.sampling not in ("random", "sequential"):
            raise ValueError(f"unknown sampling {self.sampling!r}: choose 'random' or 'sequential'")
        for name in ("seq_len", "batches_per_epoch", "val_streams", "val_seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"LMDataConfig.{name} must be >= 1, got {getattr(self, name)}")


def _streams(ids: np.ndarray, n_streams: int, seq_len: int, offset: int = 0) -> Iterator[Batch]:
    """Consecutive chunks of ``n_streams`` parallel streams; the first chunk resets the state."""
    ids = np.asarray(ids, dtype=np.int64)[offset:]
    length = (ids.size - 1) // n_streams
    if length < 1:
        raise ValueError(f"{ids.size} tokens cannot fill {n_streams} streams; use fewer streams")
    xs = torch.from_numpy(ids[: length * n_streams].reshape(n_streams, length))
    ys = torch.from_numpy(ids[1 : length * n_streams + 1].reshape(n_streams, length))
    for k, start in enumerate(range(0, length, seq_len)):
        yield xs[:, start : start + seq_len], ys[:, start : start + seq_len], k == 0


def lm_batches(train_ids: np.ndarray, data: LMDataConfig, batch_size: int):
    """``train_batches(rng, epoch)`` for :func:`~qmml.supervised.deep.trainer.fit`.

    Raises:
        ValueError: a window longer than the training block.
    """
    ids = np.asarray(train_ids, dtype=np.int64)
    if data.seq_len + 1 > ids.size:
        raise ValueError(
            f"window of {data.seq_len} tokens (+1 target) is longer than the training block of "
            f"{ids.size} tokens; use seq_len <= {ids.size - 1}"
        )
    t_ids = torch.from_numpy(ids)
    offsets = torch.arange(data.seq_len + 1)

    def batches(rng: np.random.Generator, epoch: int) -> Iterator[Batch]:
        if data.sampling == "sequential":
            # a fresh random offset each epoch, so chunk borders move
            yield from _streams(ids, batch_size, data.seq_len, int(rng.integers(data.seq_len)))
            return
        for _ in range(data.batches_per_epoch):
            starts = torch.from_numpy(rng.integers(0, ids.size - data.seq_len, size=batch_size))
            win = t_ids[starts[:, None] + offsets]  # (B, T + 1)
            yield win[:, :-1], win[:, 1:], True

    return batches


def _stateful_loss():
    """``loss_fn(model, batch)`` that carries the detached state between batches."""
    held: dict[str, State | None] = {"state": None}

    def loss_fn(model: CharLM, batch: Batch) -> tuple[torch.Tensor, int]:
        x, y, reset = batch
        loss, state = model.loss(x, y, None if reset else held["state"])
        held["state"] = detach_state(state)
        return loss, x.numel()

    return loss_fn


@torch.no_grad()
def nats_per_token(
    model: CharLM, ids: np.ndarray, *, history: np.ndarray | None = None, seq_len: int = 256
) -> float:
    """Held-out cross-entropy (nats per token) of one stream, state carried throughout.

    Args:
        ids: the block to score, shape (n,); the first token is scored given ``history``.
        history: tokens just before ``ids`` (e.g. the last few hundred of training), run
            through the model first to warm up its state.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = np.asarray(ids, dtype=np.int64)
    hist = np.asarray(history if history is not None else [], dtype=np.int64)
    full = torch.from_numpy(np.concatenate([hist, ids])).to(device)[None]  # (1, n_all)
    n_hist = hist.size
    if ids.size < 1 or full.shape[1] < 2:
        raise ValueError("need at least two tokens (with history) to score")
    state: State | None = None
    total, count = 0.0, 0
    for start in range(0, full.shape[1] - 1, seq_len):
        x = full[:, start : start + seq_len]
        y = full[:, start + 1 : start + seq_len + 1]
        x = x[:, : y.shape[1]]
        logits, state = model(x, state)
        nll = torch.nn.functional.cross_entropy(logits[0], y[0], reduction="none")  # (T,)
        keep = torch.arange(start + 1, start + 1 + y.shape[1], device=device) >= max(n_hist, 1)
        total += float(nll[keep].sum())
        count += int(keep.sum())
    model.train(was_training)
    return total / count


@dataclass
class CharLMRun:
    """A trained char LM and how it got there.

    Attributes:
        model: the LM holding the best-validation weights.
        result: the trainer's :class:`TrainResult` (curves; ``val_loss`` in nats/char).
        val_nats_per_token: the validation block scored as one stream after training.
    """

    model: CharLM = field(repr=False)
    result: TrainResult
    val_nats_per_token: float


def train_char_lm(
    model_config: CharLMConfig,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    *,
    data: LMDataConfig = LMDataConfig(),
    train: TrainConfig | None = None,
) -> CharLMRun:
    """Build a :class:`CharLM`, train it on ``train_ids`` with the shared trainer, choose the
    checkpoint on ``val_ids`` and score ``val_ids`` (with the end of training as history).

    ``train`` defaults to 1000 AdamW steps, gradient norm clipped to 1, evaluated every 200.
    """
    if train is None:
        train = TrainConfig(max_steps=1000, clip_grad_norm=1.0, eval_every=200)
    val = np.asarray(val_ids, dtype=np.int64)
    if val.size < 2 * data.val_streams:
        raise ValueError(
            f"validation block of {val.size} tokens is too short for {data.val_streams} streams"
        )
    model = CharLM(model_config)

    def val_batches() -> Iterator[Batch]:
        return _streams(val, data.val_streams, data.val_seq_len)

    result = fit(
        model,
        _stateful_loss(),
        lm_batches(train_ids, data, train.batch_size),
        val_batches=val_batches,
        config=train,
        val_loss_fn=_stateful_loss(),
    )
    hist = np.asarray(train_ids, dtype=np.int64)[-data.val_seq_len :]
    return CharLMRun(model, result, nats_per_token(model, val, history=hist))
