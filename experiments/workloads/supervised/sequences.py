"""Sequence basics (Lecture 11): autoregressive forecasting of a noisy synthetic series with
persistence, the generator's own optimal forecast (the noise floor), ridge AR, an MLP on
lagged values, an RNN and an LSTM.

The series (one per seed, the same for every agent of the seed) is a sum of sines plus AR(1)
noise::

    x_t = sum_k a_k sin(2 pi t / P_k + phi_k) + e_t,   e_t = rho e_{t-1} + sigma eps_t

with phases ``phi_k ~ U(0, 2 pi)`` and ``eps_t ~ N(0, 1)`` drawn from the trial's seed (``e_0``
from the stationary law). Knowing the generator, the best h-step forecast is
``s_{t+h} + rho^h e_t``, with mean squared error ``sigma^2 (1 - rho^(2h)) / (1 - rho^2)``:
the noise floor no model can beat on average (the ``oracle`` agent measures it).

Blocks in time order: train | validation (checkpoint choice) | test. Every model reads the
last ``window`` true values at an origin t and is scored on the test block, at the same
origins for every horizon: ``mse_h{h}`` is the *direct* (teacher-forced) h-step forecast from
true history (a head per horizon), ``mse_free_h{h}`` the *free-running* one, the one-step
forecast fed back h - 1 times. At h = 1 the two agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator
from scipy.signal import lfilter

from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.stats import bootstrap_mean
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.experiments.workloads.supervised.sequence_plots import SEQUENCE_PLOTS

__all__ = ["NetConfig", "SequenceBasics", "SeriesSection", "make_series", "noise_floor"]


class SeriesSection(StrictModel):
    """``env``: the generator, the blocks and the forecasting task.

    Attributes:
        n_steps: length of the series.
        periods: P_k of the sines (steps); ``amplitudes``: a_k, one per period.
        ar_coef: rho of the AR(1) noise, in (-1, 1).
        noise_std: sigma, the innovation standard deviation.
        test_fraction: share of the series held out at its end.
        val_fraction: share of the rest (its end) used to choose checkpoints.
        window: true values a model reads at an origin.
        horizons: steps ahead scored (each >= 1).
    """

    n_steps: int = Field(default=4000, ge=50)
    periods: list[float] = Field(default_factory=lambda: [50.0, 120.0])
    amplitudes: list[float] = Field(default_factory=lambda: [1.0, 0.5])
    ar_coef: float = Field(default=0.8, gt=-1, lt=1)
    noise_std: float = Field(default=0.3, gt=0)
    test_fraction: float = Field(default=0.3, gt=0, lt=1)
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    window: int = Field(default=32, ge=1)
    horizons: list[int] = Field(default_factory=lambda: [1, 4, 16, 64], min_length=1)

    @field_validator("horizons")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        bad = [h for h in v if h <= 0]
        if bad:
            raise ValueError(f"horizons must be >= 1 step ahead, got {bad}")
        return sorted(set(v))

    @model_validator(mode="after")
    def _fits(self) -> SeriesSection:
        if len(self.periods) != len(self.amplitudes) or any(p <= 0 for p in self.periods):
            raise ValueError("give one amplitude per period, and periods > 0")
        train_end, val_end, n = self.blocks()
        H, W = max(self.horizons), self.window
        sizes = {
            "train": train_end - W - H + 1,
            "validation": val_end - train_end - H + 1,
            "test": n - val_end - H + 1,
        }  # forecast origins per block
        short = [k for k, v in sizes.items() if v < 1]
        if short:
            raise ValueError(
                f"window {W} + horizon {H} is longer than the {short[0]} block of the series "
                f"(train/validation/test end at steps {train_end}/{val_end}/{n}); use a longer "
                "series, a shorter window or shorter horizons"
            )
        return self

    def blocks(self) -> tuple[int, int, int]:
        """Ends of the train, validation and test blocks."""
        val_end = round(self.n_steps * (1 - self.test_fraction))
        return round(val_end * (1 - self.val_fraction)), val_end, self.n_steps


class SequenceBudgetSection(StrictModel):
    """``budget``: optimiser steps of every network, and how often to validate."""

    steps: int = Field(default=1500, ge=1)
    eval_every: int = Field(default=100, ge=1)


def make_series(env: SeriesSection, seed: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
    """The series ``x`` and its deterministic part ``s`` (both (n_steps,))."""
    rng = np.random.default_rng(seed)
    t = np.arange(env.n_steps)
    phases = rng.uniform(0, 2 * np.pi, len(env.periods))
    s = sum(
        a * np.sin(2 * np.pi * t / p + ph)
        for a, p, ph in zip(env.amplitudes, env.periods, phases, strict=True)
    )
    eps = env.noise_std * rng.standard_normal(env.n_steps)
    eps[0] /= math.sqrt(1 - env.ar_coef**2)  # e_0 from the stationary law
    e = lfilter([1.0], [1.0, -env.ar_coef], eps)  # e_t = rho e_{t-1} + eps_t
    return np.asarray(s + e), np.asarray(s, dtype=np.float64)


def noise_floor(env: SeriesSection, h: int) -> float:
    """MSE of the generator's optimal h-step forecast: sigma^2 (1 - rho^2h) / (1 - rho^2)."""
    r2 = env.ar_coef**2
    return env.noise_std**2 * (1 - r2**h) / (1 - r2)


@dataclass(frozen=True)
class Baseline:
    """A forecaster with nothing to fit: ``persistence`` (last value) or ``oracle``."""

    kind: str


@dataclass(frozen=True)
class Ridge:
    """Linear AR on the window, one ridge regression per horizon (closed form)."""

    alpha: float

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")


def persistence() -> Baseline:
    """Forecast the last observed value at every horizon."""
    return Baseline("persistence")


def oracle() -> Baseline:
    """The generator's optimal forecast ``s_{t+h} + rho^h e_t`` (the noise floor)."""
    return Baseline("oracle")


def ar(alpha: float = 1e-3) -> Ridge:
    """Ridge AR(window) with L2 penalty ``alpha`` (intercept not penalised)."""
    return Ridge(alpha)


def _net(cell: str):
    def factory(
        hidden: int = 32,
        layers: int = 1,
        lr: float = 3e-3,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        clip_grad_norm: float = 1.0,
    ) -> NetConfig:
        return NetConfig(cell, hidden, layers, lr, batch_size, weight_decay, clip_grad_norm)

    factory.__doc__ = f"A {cell} forecaster trained through the shared trainer."
    return factory


@dataclass(frozen=True)
class NetConfig:
    """A torch forecaster (see ``sequence_nets``): cell, sizes and optimiser settings."""

    cell: str
    hidden: int = 32
    layers: int = 1
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.weight_decay < 0 or not self.clip_grad_norm > 0:
            raise ValueError("lr and clip_grad_norm must be > 0 and weight_decay >= 0")


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    X = np.column_stack([x, np.ones(len(x))])
    pen = alpha * np.eye(X.shape[1])
    pen[-1, -1] = 0.0
    return np.linalg.solve(X.T @ X + pen, X.T @ y)  # (W + 1, K)


def _ridge_forecasts(coef: np.ndarray, x: np.ndarray, n_steps: int):
    def predict(win: np.ndarray) -> np.ndarray:
        return win @ coef[:-1] + coef[-1]

    direct, win = predict(x), x.copy()
    free = np.empty((len(x), n_steps))
    for k in range(n_steps):
        free[:, k] = direct[:, 0] if k == 0 else predict(win)[:, 0]
        win = np.column_stack([win[:, 1:], free[:, k]])
    return direct, free


class SequenceBasics(Workload):
    """One forecaster, one seed. Scalars: ``mse_h{h}`` (direct) and ``mse_free_h{h}``
    (iterated) on the test block in the series' units, ``n_params`` and ``fit_cpu_s`` for
    fitted models. Curves: ``mse`` and ``mse_free`` against the horizon (``mse_free`` at every
    horizon 1..max), ``train_loss``/``val_loss`` against the step for networks."""

    name = "sequence-basics"
    description = "Forecast a noisy sum of sines: persistence vs ridge AR vs MLP vs RNN vs LSTM"
    agent_types = {
        "persistence": persistence,
        "oracle": oracle,
        "ar": ar,
        "mlp": _net("mlp"),
        "rnn": _net("rnn"),
        "lstm": _net("lstm"),
    }
    Env, Budget = SeriesSection, SequenceBudgetSection
    plots = SEQUENCE_PLOTS

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env: SeriesSection = self.env_config(spec, agent)
        budget: SequenceBudgetSection = self.budget_config(spec)
        model = self.agent_types[agent.type](**agent.params)
        data_seed, model_seed = ctx.seeds(2)  # data seed: shared by a seed's agents
        x, s = make_series(env, data_seed)
        train_end, val_end, n = env.blocks()
        mu, sd = x[:train_end].mean(), x[:train_end].std()
        z = (x - mu) / sd
        H, W = max(env.horizons), env.window
        heads = sorted({1, *env.horizons})
        test_t = np.arange(val_end - 1, n - H)
        truth = x[test_t[:, None] + np.arange(1, H + 1)]  # (N, H)
        scalars: dict[str, float] = {}
        curves: dict[str, np.ndarray] = {}
        steps: dict[str, np.ndarray] = {}
        if isinstance(model, Baseline):
            last = x[test_t][:, None]
            if model.kind == "persistence":
                free = np.repeat(last, H, axis=1)
            else:
                rho = env.ar_coef ** np.arange(1, H + 1)
                free = s[test_t[:, None] + np.arange(1, H + 1)] + rho * (last - s[test_t][:, None])
            direct = free[:, np.asarray(heads) - 1]
        else:
            from qmml.experiments.workloads.supervised.sequence_nets import windows

            train = windows(z, np.arange(W - 1, train_end - H), W, heads)
            test_x, _ = windows(z, test_t, W, heads)
            if isinstance(model, Ridge):
                import time

                t0 = time.process_time()
                coef = _ridge(train[0].astype(np.float64), train[1], model.alpha)
                scalars["fit_cpu_s"] = time.process_time() - t0
                direct, free = _ridge_forecasts(coef, test_x.astype(np.float64), H)
                scalars["n_params"] = float(coef.size)
            else:
                direct, free = self._net_forecasts(
                    model, z, train, test_x, env, budget, ctx, model_seed, scalars, curves, steps
                )
            direct, free = direct * sd + mu, free * sd + mu
        cols = {h: i for i, h in enumerate(heads)}
        for h in env.horizons:
            scalars[f"mse_h{h}"] = float(np.mean((direct[:, cols[h]] - truth[:, h - 1]) ** 2))
            scalars[f"mse_free_h{h}"] = float(np.mean((free[:, h - 1] - truth[:, h - 1]) ** 2))
        curves["mse"] = np.array([scalars[f"mse_h{h}"] for h in env.horizons])
        steps["mse"] = np.asarray(env.horizons)
        curves["mse_free"] = np.mean((free - truth) ** 2, axis=0)
        return trial_result(scalars, curves, steps)

    @staticmethod
    def _net_forecasts(model, z, train, test_x, env, budget, ctx, seed, scalars, curves, steps):
        import torch

        from qmml.experiments.workloads.supervised.sequence_nets import fit_net, iterate, windows

        torch.set_num_threads(ctx.threads)
        train_end, val_end, _ = env.blocks()
        H, heads = max(env.horizons), sorted({1, *env.horizons})
        val = windows(z, np.arange(train_end - 1, val_end - H), env.window, heads)
        net, hist, cpu_s = fit_net(
            model,
            train,
            val,
            steps=budget.steps,
            eval_every=budget.eval_every,
            seed=int(seed.generate_state(1)[0]),
        )
        scalars["fit_cpu_s"] = cpu_s
        scalars["n_params"] = float(sum(p.numel() for p in net.parameters()))
        for key in ("train_loss", "val_loss"):
            curves[key], steps[key] = hist[key], hist["step"]
        return iterate(net, test_x, H)

    def notes(self, ctx: PlotContext) -> list[str]:
        env = SeriesSection.model_validate(ctx.spec.env)
        floors = ", ".join(f"h={h}: {noise_floor(env, h):.4g}" for h in env.horizons)
        out = [
            f"Series: sum of sines (periods {env.periods}, amplitudes {env.amplitudes}) plus "
            f"AR(1) noise (rho={env.ar_coef:g}, sigma={env.noise_std:g}), {env.n_steps} steps, "
            "new phases and noise per seed. MSE on the last "
            f"{env.test_fraction:.0%} of the series in its own units; noise floor (the "
            f"generator's optimal forecast) {floors}.",
            "mse_h{h}: direct forecast from true history (teacher-forced); mse_free_h{h}: the "
            "one-step forecast fed back h-1 times (free-running). Persistence forecasts the "
            "last value. 'Beats' below means the 95% bootstrap CI over seeds of the paired "
            "difference (persistence minus model, same series per seed) lies above zero.",
        ]
        ref = [n for n, a in ctx.agents.items() if a.type == "persistence"]
        if not ref or ctx.spec.seeds < 2:
            return [*out, "Fewer than two seeds: no claim against persistence is made."]
        base = ctx.scalars[ctx.scalars["agent"] == ref[0]].set_index(["metric", "seed"])["value"]
        for name, a in ctx.agents.items():
            if a.type in ("persistence", "oracle"):
                continue
            mine = ctx.scalars[ctx.scalars["agent"] == name].set_index(["metric", "seed"])["value"]
            parts = []
            for mode, key in (("teacher-forced", "mse_h"), ("free-running", "mse_free_h")):
                wins: list[str] = []
                ties: list[str] = []
                for h in env.horizons:
                    m = f"{key}{h}"
                    diff = (base.xs(m) - mine.xs(m)).dropna() if m in mine.index else pd.Series()
                    ci = bootstrap_mean(diff.to_numpy())
                    (wins if ci.n >= 2 and ci.low > 0 else ties).append(str(h))
                parts.append(
                    f"{mode}: beats persistence at h={','.join(wins)}"
                    if wins
                    else f"{mode}: beats persistence at no horizon"
                )
            out.append(f"{name} — " + "; ".join(parts) + ".")
        return out

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        env = SeriesSection.model_validate(ctx.spec.env)
        rows = []
        for name in ctx.agents:
            row: dict[str, str] = {"agent": name}
            for key, label in (("mse_h", "direct"), ("mse_free_h", "free")):
                for h in env.horizons:
                    ci = bootstrap_mean(ctx.scalar_values(f"{key}{h}", name))
                    row[f"h={h} {label}"] = f"{ci.estimate:.4g} [{ci.low:.3g}, {ci.high:.3g}]"
            rows.append(row)
        floor = {"agent": "noise floor (theory)"}
        for label in ("direct", "free"):
            floor |= {f"h={h} {label}": f"{noise_floor(env, h):.4g}" for h in env.horizons}
        rows.append(floor)
        return [("Held-out MSE by horizon: mean over seeds [95% CI]", pd.DataFrame(rows))]


register(SequenceBasics())
