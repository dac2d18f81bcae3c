"""The torch side of ``sequence-basics``: window datasets, the MLP / RNN / LSTM forecasters,
training through the shared trainer, and direct and iterated predictions.

Imported only inside ``run_trial`` (it loads torch). Every network maps a window of the last
``W`` values, shape (B, W), to one output per horizon in ``heads`` (always including 1):
column ``j`` is the *direct* forecast ``x̂_{t+heads[j] | t}`` from true history; column 0, fed
back into the window, gives the *iterated* (free-running) forecasts.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qmml.experiments.workloads.supervised.sequences import NetConfig
from qmml.supervised.deep.batches import array_batches
from qmml.supervised.deep.trainer import TrainConfig, fit, torch_seed

__all__ = ["fit_net", "iterate", "windows"]


class _MLP(nn.Module):
    def __init__(self, window: int, n_out: int, hidden: int, layers: int):
        super().__init__()
        dims = [window] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*blocks, nn.Linear(dims[-1], n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, W) -> (B, n_out)


class _Recurrent(nn.Module):
    def __init__(self, cell: str, n_out: int, hidden: int, layers: int):
        super().__init__()
        kind = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = kind(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x[..., None])  # (B, W, 1) -> (B, W, H)
        return self.head(out[:, -1])  # last state -> (B, n_out)


def windows(
    z: np.ndarray, origins: np.ndarray, window: int, heads: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``z[t-W+1 .. t]`` (N, W) and targets ``z[t+h]`` for h in ``heads`` (N, K)."""
    x = z[origins[:, None] + np.arange(-window + 1, 1)]
    y = z[origins[:, None] + np.asarray(heads)]
    return x.astype(np.float32), y.astype(np.float32)


def fit_net(
    config: NetConfig,
    data: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    steps: int,
    eval_every: int,
    seed: int,
) -> tuple[nn.Module, dict[str, np.ndarray], float]:
    """Train a forecaster on window data with the shared trainer (best checkpoint on ``val``).

    Returns:
        The model (best validation weights), its history (``step``, ``train_loss``,
        ``val_loss``: MSE in standardised units) and the training CPU-seconds.
    """
    window, n_out = data[0].shape[1], data[1].shape[1]
    with torch_seed(seed):  # default initialisers draw from the (forked) global generator
        if config.cell == "mlp":
            model: nn.Module = _MLP(window, n_out, config.hidden, config.layers)
        else:
            model = _Recurrent(config.cell, n_out, config.hidden, config.layers)
    train = TrainConfig(
        max_steps=steps,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        clip_grad_norm=config.clip_grad_norm,
        eval_every=eval_every,
        seed=seed,
        threads=torch.get_num_threads(),
    )
    val_batches = [tuple(torch.from_numpy(a) for a in val)]

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        return F.mse_loss(m(x), y), x.shape[0]

    result = fit(
        model,
        loss_fn,
        array_batches(*data, batch_size=config.batch_size),
        val_batches=val_batches,
        config=train,
    )
    return model, result.history, result.cpu_s


@torch.no_grad()
def iterate(model: nn.Module, x: np.ndarray, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Direct forecasts of ``x`` (N, K) and iterated ones (N, n_steps): the one-step output
    fed back into the window ``n_steps`` times (free-running)."""
    model.eval()
    win = torch.from_numpy(x)
    direct = model(win)
    out = torch.empty(win.shape[0], n_steps)
    for k in range(n_steps):
        nxt = direct[:, 0] if k == 0 else model(win)[:, 0]
        out[:, k] = nxt
        win = torch.cat([win[:, 1:], nxt[:, None]], dim=1)
    return direct.numpy().astype(np.float64), out.numpy().astype(np.float64)
