"""Forecasting daily stock returns (Lectures 11-12, the lecture-12 LSTM study done right):
zero-return, train mean, sign persistence, ridge AR(p), gradient-boosted trees, MLP, LSTM and
GRU on walk-forward folds of the bundled daily prices, scored out of sample against the
zero-return forecast, then traded through the backtester with costs beside buy-and-hold.

Prices come through :func:`qmml.envs.market.sources.load_market`, folds through
:func:`qmml.envs.market.splits.walk_forward` (rolling or expanding; test blocks tile the data
and never overlap training or validation); scalers are fitted on each training block alone
(:mod:`forecast_data`). Every model sees the same lag window. Networks keep their best
checkpoint on the validation block; nothing else looks at it. Fitting and scoring live in
:mod:`forecast_fit` (``evaluate`` is re-exported here).

``leaky: true`` (or a subset in ``leaks``) reproduces the notebook's three mistakes: the
scaler fitted on all data (``scaler``), scoring on the training rows (``in-sample``), and
price *levels* instead of returns (``levels``). ``apparent_r2`` is the R² the notebook
printed (in its target's units, around the mean of the scored targets); every other metric
is in return units, the level forecasts turned into the implied return ``log(P̂/P_t)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from qmml.envs.market.data import DataError, Market
from qmml.envs.market.sources import load_market
from qmml.experiments.results import ymd
from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.supervised import forecast_report as fr
from qmml.experiments.workloads.supervised.common import trial_result
from qmml.experiments.workloads.supervised.forecast_data import LEAKS
from qmml.experiments.workloads.supervised.forecast_fit import evaluate, folds_for, forecasts
from qmml.experiments.workloads.trading.section import MarketSection

__all__ = ["ForecastBudgetSection", "ForecastSection", "LstmForecast", "Model", "evaluate"]


class ForecastSection(MarketSection):
    """``env``: the data (one ``data:`` key, see :class:`MarketSection`), folds and task.

    Attributes:
        horizon: k, the target is the k-day log return ``log C[t+k] - log C[t]`` (>= 1).
        window: lags every model reads (p of AR(p)).
        train_days, val_days, test_days: walk-forward block lengths (trading days).
        expanding: expanding training windows (anchored at the first day) instead of rolling.
        max_folds: keep only the most recent folds (``None``: all).
        position: forecast -> position rule (``sign``, ``linear``, ``vol-target``).
        short: allow short positions (else long or flat).
        leaky: make all of the notebook's mistakes; ``leaks``: a chosen subset.
    """

    data: str = "sp500"
    horizon: int = 1
    window: int = Field(default=20, ge=1)
    train_days: int = Field(default=2520, ge=2)
    val_days: int = Field(default=252, ge=2)
    test_days: int = Field(default=252, ge=2)
    expanding: bool = False
    max_folds: int | None = Field(default=None, ge=1)
    position: Literal["sign", "linear", "vol-target"] = "sign"
    short: bool = True
    leaky: bool = False
    leaks: list[Literal["scaler", "in-sample", "levels"]] = Field(default_factory=list)

    @field_validator("horizon")
    @classmethod
    def _ahead(cls, v: int) -> int:
        if v <= 0:
            raise ValueError(f"horizon must be >= 1 day ahead, got {v}")
        return v

    def leak_set(self) -> frozenset[str]:
        """The mistakes this section makes (all three when ``leaky``)."""
        return frozenset(LEAKS) if self.leaky else frozenset(self.leaks)


class ForecastBudgetSection(StrictModel):
    """``budget``: optimiser steps per fold of every network, and how often to validate."""

    steps: int = Field(default=600, ge=1)
    eval_every: int = Field(default=50, ge=1)


@dataclass(frozen=True)
class Model:
    """An agent: its kind and parameters (networks: :class:`ForecastNetConfig` fields)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def _fixed(kind: str, doc: str):
    def factory() -> Model:
        return Model(kind)

    factory.__doc__ = doc
    return factory


def ridge(alpha: float = 1.0) -> Model:
    """Ridge AR(window) on standardised lags (closed form; intercept not penalised)."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return Model("ridge", {"alpha": alpha})


def gbt(
    max_iter: int = 200,
    learning_rate: float = 0.05,
    max_leaf_nodes: int = 15,
    min_samples_leaf: int = 100,
    l2_regularization: float = 1.0,
) -> Model:
    """Gradient-boosted trees on the lags (sklearn HistGradientBoostingRegressor)."""
    if max_iter < 1 or not learning_rate > 0 or max_leaf_nodes < 2 or min_samples_leaf < 1:
        raise ValueError("max_iter >= 1, learning_rate > 0, max_leaf_nodes >= 2 are required")
    return Model("gbt", dict(locals()))


def _net(cell: str):
    def factory(
        hidden: int = 32,
        layers: int = 1,
        dropout: float = 0.0,
        lr: float = 1e-3,
        batch_size: int = 128,
        weight_decay: float = 0.0,
        clip_grad_norm: float = 1.0,
    ) -> Model:
        params = {k: v for k, v in locals().items() if k != "cell"}
        if min(hidden, layers, batch_size) < 1 or not 0 <= dropout < 1:
            raise ValueError("hidden, layers, batch_size must be >= 1 and dropout in [0, 1)")
        if not lr > 0 or weight_decay < 0 or not clip_grad_norm > 0:
            raise ValueError("lr and clip_grad_norm must be > 0 and weight_decay >= 0")
        return Model(cell, params)

    factory.__doc__ = f"A {cell.upper()} forecaster trained through the shared trainer."
    return factory


@lru_cache(maxsize=8)
def _market(data: str, tickers: tuple[str, ...] | None, start: str | None, end: str | None):
    return load_market(data, tickers=list(tickers) if tickers else None, start=start, end=end)


def market_of(env: ForecastSection) -> Market:
    """The section's prices (cached per process)."""
    return _market(env.data, tuple(env.tickers) if env.tickers else None, env.start, env.end)


class LstmForecast(Workload):
    """One model, one seed: walk-forward forecasts, out-of-sample scores and a backtest.

    Scalars: ``mse_ratio``, ``oos_r2`` (vs zero), ``apparent_r2``, ``dir_acc``, ``up_rate``,
    ``dir_edge``, ``dm_stat``/``dm_p`` (vs zero), ``pt_stat``/``pt_p``, the backtest's
    ``sharpe*``, ``fit_cpu_s``, ``n_params``. Curves: ``equity`` and ``equity_bh`` by date,
    ``val_loss`` (networks, last fold)."""

    name = "lstm-forecast"
    description = (
        "Next-day stock returns: zero, mean, persistence, ridge AR, trees, MLP, LSTM, GRU on "
        "walk-forward folds; DM/PT tests and a backtest with costs (leaky: the notebook's way)"
    )
    question = (
        "Does any model forecast next-day returns better than zero, and does trading on it "
        "beat buy-and-hold after costs?"
    )
    agent_types = {
        "zero": _fixed("zero", "Forecast a zero return (the random walk)."),
        "mean": _fixed("mean", "Forecast the training block's mean return."),
        "persistence": _fixed(
            "persistence", "Forecast the sign of the last return, with its mean size."
        ),
        "ridge": ridge,
        "gbt": gbt,
        "mlp": _net("mlp"),
        "lstm": _net("lstm"),
        "gru": _net("gru"),
    }
    Env, Budget = ForecastSection, ForecastBudgetSection
    plots = fr.PLOTS

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        """The data loads and holds at least one fold for every agent's section."""
        for a in agents:
            env: ForecastSection = self.env_config(spec, a)
            try:
                market = market_of(env)
                folds = folds_for(env, market)
            except DataError as err:
                raise SpecError(f"env ({a.name}): {err}") from None
            if env.window + env.horizon >= env.val_days or env.window >= env.train_days:
                raise SpecError(
                    f"env ({a.name}): window {env.window} + horizon {env.horizon} is longer "
                    f"than the validation block ({env.val_days} days); use a shorter window "
                    "or horizon, or a longer val_days"
                )
            if env.horizon >= env.test_days:
                raise SpecError(f"env ({a.name}): horizon must be shorter than test_days")
            if not folds:
                raise SpecError(f"env ({a.name}): no walk-forward fold fits the data")

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env: ForecastSection = self.env_config(spec, agent)
        budget: ForecastBudgetSection = self.budget_config(spec)
        model: Model = self.agent_types[agent.type](**agent.params)
        market = market_of(env)
        from threadpoolctl import threadpool_limits  # sklearn's OpenMP trees: pinned too

        with threadpool_limits(ctx.threads):
            seed = ctx.int_seeds(1, high=2**31)[0]
            out = forecasts(model, env, budget, market, seed, ctx.threads)
        scalars = evaluate(out, env.horizon)
        scalars["fit_cpu_s"] = out["fit_cpu_s"]
        if np.isfinite(out["n_params"]):
            scalars["n_params"] = out["n_params"]
        curves: dict[str, np.ndarray] = {}
        steps: dict[str, np.ndarray] = {}
        if out["trade_origins"].size and model.kind != "zero":  # zero: flat, nothing to trade
            from qmml.experiments.workloads.supervised.forecast_trading import trade

            t_s, eq = trade(
                market,
                out["trade_origins"],
                out["f_trade"],
                rule=env.position,
                short=env.short,
                cost_bps=env.cost_bps,
            )
            scalars |= t_s
            o = out["trade_origins"]
            days = ymd(market.dates[np.append(o, o[-1] + 1)])
            for key, values in eq.items():
                curves[key], steps[key] = values, days
        for key in ("val_loss",):
            if key in out["history"]:
                curves[key], steps[key] = out["history"][key], out["history"]["step"]
        return trial_result(scalars, curves, steps)

    def notes(self, ctx: PlotContext) -> list[str]:
        return fr.notes(ctx)

    def findings(self, ctx: PlotContext) -> list[str]:
        return fr.findings(ctx)

    def baselines(self, ctx: PlotContext) -> list[str]:
        return [n for n, a in ctx.agents.items() if a.type == "zero"][:1]

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        return fr.tables(ctx)


register(LstmForecast())
