"""ONE model-agnostic PyTorch training loop, shared by the MLP, CNN, RNN, forecaster and GPT.

The loop knows nothing about images or tokens. The caller gives it

- a ``model`` (any ``nn.Module``);
- ``loss_fn(model, batch)`` returning the mean loss of the batch as a scalar tensor, or
  ``(loss, n_items)``, or ``(loss, n_items, {"metric": value, ...})`` (values per item, e.g.
  accuracy; tensors or floats). ``n_items`` weights the batch in epoch and validation means;
- ``train_batches(rng, epoch)`` yielding the batches of one epoch, every random choice drawn
  from ``rng`` (a NumPy generator the trainer seeds from ``config.seed`` and ``epoch``);
- optionally ``val_batches``: a re-iterable (list) or a zero-argument callable returning an
  iterable, evaluated every ``eval_every`` steps (or once per epoch) under ``torch.no_grad``.

It keeps the best-validation state dict and restores it at the end, stops early after
``patience`` evaluations without improvement (validation only: training loss never decides),
clips gradients (recording the pre-clip norm), pins the thread count, and returns its curves as
NumPy arrays. Dropout and other draws from torch's global generator happen inside
:func:`torch_seed`, which forks that generator: the caller's global state is left untouched and
the same seed gives the same weights.

Batches may be tensors or (nested) tuples, lists and dicts of them; they are moved to the
configured device. :func:`qmml.supervised.deep.batches.array_batches` builds
``train_batches`` for in-memory arrays. The evaluation and bookkeeping helpers (batch moves,
running means, checkpoints, history columns, :func:`evaluate`) live in
:mod:`qmml.supervised.deep.train_state`; ``evaluate`` and ``LossFn`` are re-exported here.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from qmml.supervised.deep.train_state import (
    Batch,
    LossFn,
    _columns,
    _Mean,
    _state_copy,
    _to_device,
    _unpack,
    evaluate,
)
from qmml.supervised.progress import progress_enabled

__all__ = [
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "fit",
    "resolve_device",
    "torch_seed",
]

BatchFn = Callable[[np.random.Generator, int], Iterable[Batch]]


@dataclass(frozen=True)
class TrainConfig:
    """How to train; validated on construction.

    Attributes:
        max_epochs: passes over ``train_batches``; ``None`` = limited by ``max_steps`` only.
        max_steps: optimiser steps in all; ``None`` = limited by ``max_epochs`` only. Set
            one or both (training stops at whichever comes first).
        batch_size: items per batch, read by batch builders such as :func:`array_batches`.
        lr: peak learning rate.
        optimizer: ``"adamw"`` or ``"sgd"`` (with ``momentum``).
        weight_decay: decoupled (AdamW) or L2 (SGD) decay, on tensors of dim >= 2 only
            (weights, not biases or norm gains), as in nanoGPT.
        momentum: SGD momentum.
        betas: AdamW betas.
        clip_grad_norm: clip the global gradient L2 norm to this; ``None`` = no clipping.
        schedule: ``"constant"`` or ``"cosine"`` (decay to ``min_lr_ratio * lr`` at
            ``max_steps``; needs ``max_steps``), after ``warmup_steps`` of linear warm-up.
        warmup_steps: linear warm-up from 0 to ``lr``.
        min_lr_ratio: floor of the cosine schedule as a fraction of ``lr``.
        eval_every: evaluate every this many steps; 0 = at the end of every epoch.
        patience: stop after this many evaluations without a new best validation loss;
            ``None`` = never stop early. Needs validation batches.
        restore_best: load the best-validation weights into the model at the end.
        seed: seeds batch order (NumPy) and torch's global draws (dropout) inside the loop.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"`` (cuda if available).
        threads: ``torch.set_num_threads`` for the run (restored afterwards).
        progress: a tqdm bar on stderr.
    """

    max_epochs: int | None = None
    max_steps: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: Literal["adamw", "sgd"] = "adamw"
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad_norm: float | None = None
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    eval_every: int = 0
    patience: int | None = None
    restore_best: bool = True
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    progress: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"TrainConfig.{name}={getattr(self, name)!r}; {allowed}")

        if self.max_epochs is None and self.max_steps is None:
            raise ValueError("TrainConfig needs max_epochs or max_steps; e.g. max_epochs=10")
        for name in ("max_epochs", "max_steps", "batch_size", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise bad(name, "must be a positive integer")
        if not self.lr > 0:
            raise bad("lr", "must be > 0, e.g. 1e-3")
        if self.optimizer not in ("adamw", "sgd"):
            raise bad("optimizer", "choose from adamw, sgd")
        if self.schedule not in ("constant", "cosine"):
            raise bad("schedule", "choose from constant, cosine")
        if self.schedule == "cosine" and self.max_steps is None:
            raise bad("schedule", "cosine decays to max_steps; set max_steps too")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError("TrainConfig: weight_decay must be >= 0 and momentum in [0, 1)")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise bad("clip_grad_norm", "must be > 0 or None")
        if self.eval_every < 0 or self.warmup_steps < 0:
            raise ValueError("TrainConfig: eval_every and warmup_steps must be >= 0")
        if self.patience is not None and self.patience < 1:
            raise bad("patience", "must be >= 1 or None")
        if not 0 <= self.min_lr_ratio <= 1:
            raise bad("min_lr_ratio", "must be in [0, 1]")


@dataclass
class TrainResult:
    """What :func:`fit` measured. Arrays, so results stay plain data.

    Attributes:
        history: one entry per evaluation, each an array: ``step``, ``epoch``, ``train_loss``
            (mean since the previous evaluation), ``val_loss`` (NaN without validation),
            ``val_<metric>`` and ``train_<metric>`` for every metric ``loss_fn`` reports,
            ``lr``, ``cpu_s`` (process CPU-seconds since the start of ``fit``).
        step_loss: training loss of every step, shape (steps,).
        grad_norm: pre-clip global gradient norm of every step (NaN when not clipping).
        best_step: step of the best validation loss (the last step without validation).
        best_val_loss: that loss (NaN without validation).
        stopped_early: the patience ran out.
        steps: optimiser steps taken.
        epochs: epochs started.
        cpu_s: process CPU-seconds of the whole run.
        config: the configuration it ran with.
    """

    history: dict[str, np.ndarray]
    step_loss: np.ndarray
    grad_norm: np.ndarray
    best_step: int
    best_val_loss: float
    stopped_early: bool
    steps: int
    epochs: int
    cpu_s: float
    config: TrainConfig = field(repr=False)

    def long_table(self) -> list[dict[str, Any]]:
        """History in long format: rows ``{"step", "epoch", "metric", "value"}``."""
        keys = [k for k in self.history if k not in ("step", "epoch")]
        return [
            {"step": int(s), "epoch": int(e), "metric": k, "value": float(self.history[k][i])}
            for i, (s, e) in enumerate(
                zip(self.history["step"], self.history["epoch"], strict=True)
            )
            for k in keys
        ]


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda if available else cpu; anything else as ``torch.device``.

    Raises:
        ValueError: an unparsable name, or cuda asked for where there is none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available; use cpu or auto")
    return dev


@contextlib.contextmanager
def torch_seed(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Seed torch's global generator(s) for the block only; the caller's state is restored.

    Use it around model construction (default initialisers draw from the global generator)
    and around training (dropout does): same seed, same weights, no global side effects.
    """
    dev = torch.device(device)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


def _lr_factor(config: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.schedule == "constant":
            return 1.0
        assert config.max_steps is not None  # checked by TrainConfig
        span = max(config.max_steps - config.warmup_steps, 1)
        progress = min((step - config.warmup_steps) / span, 1.0)
        floor = config.min_lr_ratio
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_batches: BatchFn,
    *,
    val_batches: Iterable[Batch] | Callable[[], Iterable[Batch]] | None = None,
    config: TrainConfig,
    val_loss_fn: LossFn | None = None,
) -> TrainResult:
    """Train ``model`` in place; see the module docstring for the protocol.

    Args:
        model: moved to ``config.device``; left in eval mode holding the best weights.
        loss_fn: ``loss_fn(model, batch)`` -> loss, ``(loss, n)`` or ``(loss, n, metrics)``.
        train_batches: ``train_batches(rng, epoch)`` -> iterable of batches.
        val_batches: validation batches (list, or callable returning an iterable).
        config: the :class:`TrainConfig`.
        val_loss_fn: a different function for validation (default ``loss_fn``).

    Returns:
        The :class:`TrainResult`.

    Raises:
        ValueError: ``patience`` without validation batches, an epoch with no batches, a
            non-finite training loss.
    """
    if config.patience is not None and val_batches is None:
        raise ValueError("patience (early stopping) needs val_batches; pass them or unset it")
    device = resolve_device(config.device)
    val_fn = val_loss_fn or loss_fn

    def get_val() -> Iterable[Batch]:
        assert val_batches is not None
        return val_batches() if callable(val_batches) else val_batches

    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    model.to(device)
    model.train()
    opt = _optimizer(model, config)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(config))
    params = [p for g in opt.param_groups for p in g["params"]]
    max_steps = config.max_steps if config.max_steps is not None else math.inf
    max_epochs = config.max_epochs if config.max_epochs is not None else math.inf
    bar = None
    if config.progress or progress_enabled():
        from tqdm.auto import tqdm

        bar = tqdm(total=config.max_steps, unit="step", leave=False, desc="training")

    rows: list[dict[str, float]] = []
    step_loss: list[torch.Tensor] = []
    grad_norm: list[float] = []
    best_loss, best_step = math.inf, 0
    best_state: dict[str, torch.Tensor] | None = None
    since_best, stopped_early, step, epoch = 0, False, 0, 0
    running = _Mean()
    t0 = time.process_time()

    def evaluation() -> bool:
        """Record one history row; True when early stopping says stop."""
        nonlocal since_best, running, best_loss, best_step, best_state
        row: dict[str, float] = {"step": step, "epoch": epoch}
        row.update({f"train_{k}": v for k, v in running.means().items()})
        running = _Mean()
        row["lr"] = opt.param_groups[0]["lr"]
        if val_batches is None:
            best_step = step
        else:
            val = evaluate(model, val_fn, get_val(), device)
            row.update({f"val_{k}": v for k, v in val.items()})
            if val["loss"] < best_loss:
                best_loss, best_step, best_state = val["loss"], step, _state_copy(model)
                since_best = 0
            else:
                since_best += 1
        row["cpu_s"] = time.process_time() - t0
        rows.append(row)
        return config.patience is not None and since_best >= config.patience

    try:
        with torch_seed(config.seed, device):
            while epoch < max_epochs and step < max_steps and not stopped_early:
                rng = np.random.default_rng([config.seed, epoch])
                n_batches = 0
                for batch in train_batches(rng, epoch):
                    n_batches += 1
                    loss, n, metrics = _unpack(loss_fn(model, _to_device(batch, device)))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if config.clip_grad_norm is not None:
                        norm = nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
                        grad_norm.append(float(norm))
                    opt.step()
                    sched.step()
                    step += 1
                    step_loss.append(loss.detach())
                    running.add(loss, n, metrics)
                    if bar is not None:
                        bar.update(1)
                    if config.eval_every and step % config.eval_every == 0 and evaluation():
                        stopped_early = True
                    if stopped_early or step >= max_steps:
                        break
                if n_batches == 0:
                    raise ValueError(f"train_batches yielded no batches in epoch {epoch}")
                epoch += 1
                if not config.eval_every and not stopped_early and evaluation():
                    stopped_early = True
            if not rows or rows[-1]["step"] != step:
                evaluation()  # the final weights are a candidate for the best checkpoint too
    finally:
        torch.set_num_threads(old_threads)
        if bar is not None:
            bar.close()

    losses = torch.stack(step_loss).float().cpu().numpy() if step_loss else np.zeros(0)
    if not np.all(np.isfinite(losses)):
        first = int(np.argmin(np.isfinite(losses)))
        raise ValueError(f"training loss became non-finite at step {first + 1}; lower lr")
    if config.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        history=_columns(rows),
        step_loss=losses,
        grad_norm=np.asarray(grad_norm) if grad_norm else np.full(step, np.nan),
        best_step=best_step,
        best_val_loss=best_loss if val_batches is not None else math.nan,
        stopped_early=stopped_early,
        steps=step,
        epochs=epoch,
        cpu_s=time.process_time() - t0,
        config=config,
    )
