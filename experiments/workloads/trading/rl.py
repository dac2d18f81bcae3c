"""``trading-rl``: deep RL agents against rule-based strategies, walk-forward, after costs.

Each trial is one agent and one seed. For every walk-forward fold the agent is trained on the
fold's training period (the vectorised market env, random one-year episodes), its best
checkpoint is chosen on the validation period only, and it then trades the test period once,
deterministically, in the step-by-step :class:`~envs.market.env.StockTradingEnv`. The test
periods are stitched into one out-of-sample equity curve per trial. Rule-based strategies
trade the same test periods (they learn nothing).

Curves (step = YYYYMMDD): ``equity`` (starts at 1), ``drawdown_pct``, ``exposure`` (net
weight held), ``price`` (the traded asset, or the equal-weight basket, relative to its first
out-of-sample close). Training curves (step = environment steps within a fold, averaged over
folds): ``val_return`` (sum of validation rewards at each evaluation) and ``train_return``
(training episode returns). Scalars: Sharpe, Sortino, CAGR, max drawdown, turnover, total
return, volatility, exposure of the stitched curve. The trial's info (run log) records the
TensorBoard/checkpoint folder and the training speed.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from gymnasium import spaces
from pydantic import Field, model_validator

from qmml.agents.sb3 import SB3_AGENTS  # torch-free: SB3 and torch load in run_trial
from qmml.agents.strategies import STRATEGIES
from qmml.envs.market.data import DataError, GapError
from qmml.envs.market.env import StockTradingEnv
from qmml.envs.market.features import FEATURES
from qmml.envs.market.splits import WalkForwardWindow
from qmml.experiments.spec import ExperimentSpec, SpecError, spec_hash
from qmml.experiments.workload import (
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.trading import rl_report as report
from qmml.experiments.workloads.trading.section import (
    DEFAULT_SLIPPAGE_BPS,
    MarketSection,
    data_provenance,
)
from qmml.experiments.workloads.trading.walk_forward import (
    FoldPath,
    check_periods,
    env_kwargs,
    evaluate,
    market_of,
    price_index,
    stitch,
    summary_metrics,
    walk_forward_folds,
)

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

    from qmml.agents.sb3 import SB3Agent

__all__ = [
    "RL_AGENTS",
    "TradingRL",
    "TradingRLBudgetSection",
    "TradingRLSection",
    "walk_forward_folds",
]

RL_AGENTS = {k: SB3_AGENTS[k] for k in ("ppo-lstm", "ppo-mlp", "recurrent-ppo", "dqn")}


class TradingRLSection(MarketSection):
    """The ``env`` section: data, costs, observation and the walk-forward folds. ``start`` is
    where the first fold starts (default: laid out back from the last day); ``end``, like
    ``data_end``, cuts the data; ``data_start`` drops older history."""

    data: str = "sp500-ohlcv"
    data_start: str | None = None
    data_end: str | None = None
    window: int = Field(default=30, ge=1, le=1000)
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    slippage_bps: float = Field(default=DEFAULT_SLIPPAGE_BPS, ge=0, lt=1000)
    allow_short: bool = True
    max_leverage: float = Field(default=1.0, gt=0, le=10)
    reward: Literal["log_return", "differential_sharpe", "risk_adjusted"] = "log_return"
    action_mode: Literal["discrete", "continuous"] = "discrete"
    episode_length: int = Field(default=252, ge=2)
    n_envs: int = Field(default=8, ge=1, le=1024)
    train_days: int = Field(default=1260, ge=2)
    val_days: int = Field(default=252, ge=2)
    test_days: int = Field(default=504, ge=2)
    step_days: int | None = Field(default=None, ge=1)
    anchored: bool = False
    max_folds: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _known_features(self) -> TradingRLSection:
        bad = [f for f in self.features if f not in FEATURES]
        if bad or not self.features:
            raise ValueError(f"features {bad or '[]'}: choose from {', '.join(FEATURES)}")
        return self


class TradingRLBudgetSection(StrictModel):
    """The ``budget`` section: training per fold, validation and where logs go."""

    timesteps: int = Field(default=10_000, ge=1, le=100_000_000)
    eval_freq: int = Field(default=2_000, ge=0)
    checkpoint_freq: int = Field(default=0, ge=0)
    log_dir: str | None = None


def _trial_dir(
    spec: ExperimentSpec, budget: TradingRLBudgetSection, agent: str, ctx: TrialContext
) -> Path:
    """TensorBoard logs and checkpoints: ``budget.log_dir`` if set, else the trial's artifacts
    folder (under the runner), else the system temp folder."""
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", agent).strip("_")
    name = f"{safe}__seed{ctx.seed_index:03d}"
    if budget.log_dir:
        return Path(budget.log_dir) / spec.name / spec_hash(spec) / name
    if ctx.artifacts_dir is not None:
        return ctx.artifacts_dir
    return Path(tempfile.gettempdir()) / "qmml-trading-rl" / spec.name / spec_hash(spec) / name


class TradingRL(Workload):
    """Walk-forward training and out-of-sample evaluation of RL agents and rule-based
    strategies on the bundled (or a user's) market data, with costs."""

    name = "trading-rl"
    description = (
        "RL traders (LSTM-feature PPO, MLP PPO, RecurrentPPO, DQN) against rule-based "
        "strategies, walk-forward out of sample, after costs"
    )
    agent_types = {**RL_AGENTS, **STRATEGIES}
    Env = TradingRLSection
    Budget = TradingRLBudgetSection
    plots = report.PLOTS

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        seen: set[str] = set()
        for a in agents:
            cfg = self.env_config(spec, a)
            if a.type == "dqn" and cfg.action_mode == "continuous" and a.env.get("action_mode"):
                raise SpecError(
                    f"agents.{a.group}.env.action_mode: DQN needs discrete "
                    "actions; remove action_mode or use a PPO agent"
                )
            key = cfg.model_dump_json()
            if key in seen:
                continue
            seen.add(key)
            try:
                market_of(cfg)  # cached: check_periods below reuses it
            except GapError as err:  # the Python hint (fill='ffill') has no spec key here
                raise SpecError(
                    f"env.data: {err.problem}; trading-rl does not fill gaps: choose tickers "
                    "that trade on the same days (env.tickers), a period without the gap "
                    "(env.data_start, env.end), or fill the gaps in the file"
                ) from None
            except DataError:
                pass  # check_periods words it
            check_periods(cfg, a)

    def provenance(self, spec: ExperimentSpec) -> list[tuple[str, str]]:
        return data_provenance(TradingRLSection.model_validate(spec.env).data)

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        import torch  # here, not at import: a report never loads torch or SB3

        from qmml.agents.sb3 import SB3Agent

        torch.set_num_threads(ctx.threads)
        cfg, budget = self.env_config(spec, agent), self.budget_config(spec)
        market = market_of(cfg)
        folds = walk_forward_folds(cfg)
        fold_seeds = ctx.int_seeds(len(folds))
        trial_dir = _trial_dir(spec, budget, agent.name, ctx)
        paths: list[FoldPath] = []
        val_rows: list[tuple[int, float]] = []  # (timestep, validation return)
        train_rows: list[tuple[int, float]] = []  # (timestep, mean training return)
        fps: list[float] = []  # training environment steps per second, per fold
        for fold, fseed in zip(folds, fold_seeds, strict=True):
            model = self.agent_types[agent.type](**agent.params)
            if agent.type == "random" and "seed" not in agent.params:
                model = STRATEGIES["random"](**{**agent.params, "seed": fseed})
            kw = env_kwargs(cfg, agent.type, model)
            test_env = StockTradingEnv(market, start=fold.test[0], end=fold.test[1], **kw)
            flat_nvec = None
            if isinstance(model, SB3Agent):
                flat_nvec = self._train(
                    model,
                    cfg,
                    budget,
                    market,
                    fold,
                    fseed,
                    kw,
                    trial_dir / f"fold{fold.index:02d}",
                    val_rows,
                    train_rows,
                    fps,
                    ctx.progress,
                )
            else:
                model.learn(test_env)  # strategies only read the observation layout
            paths.append(evaluate(model, test_env, flat_nvec=flat_nvec))
        return self._result(cfg, market, paths, val_rows, train_rows, fps, trial_dir, folds)

    @staticmethod
    def _train(
        model: SB3Agent,
        cfg: TradingRLSection,
        budget: TradingRLBudgetSection,
        market: Any,
        fold: WalkForwardWindow,
        fseed: int,
        kw: dict[str, Any],
        log_dir: Path,
        val_rows: list[tuple[int, float]],
        train_rows: list[tuple[int, float]],
        fps: list[float],
        progress: bool = False,
    ) -> np.ndarray | None:
        from qmml.envs.market.vec_env import FlatDiscrete, MarketVecEnv

        probe = StockTradingEnv(market, start=fold.train[0], end=fold.train[1], **kw)
        n_decisions = probe.last_bar - probe.first_decision
        train: VecEnv = MarketVecEnv(
            cfg.n_envs,
            market,
            seed=fseed,
            start=fold.train[0],
            end=fold.train[1],
            random_start=True,
            episode_length=min(cfg.episode_length, n_decisions),
            **kw,
        )
        val: VecEnv = MarketVecEnv(1, market, start=fold.val[0], end=fold.val[1], **kw)
        flat_nvec = None
        if model.algo == "dqn" and market.n_assets > 1:  # DQN needs one Discrete action
            space = train.action_space
            assert isinstance(space, spaces.MultiDiscrete)  # discrete levels, several assets
            flat_nvec = np.asarray(space.nvec)
            train, val = FlatDiscrete(train), FlatDiscrete(val)
        model.set_params(
            seed=fseed,
            log_dir=str(log_dir),
            eval_freq=budget.eval_freq,
            checkpoint_freq=budget.checkpoint_freq,
        )
        t0 = time.perf_counter()
        model.learn(train, budget.timesteps, eval_env=val, progress=progress)
        fps.append(model.trained_timesteps_ / (time.perf_counter() - t0))
        val_rows.extend(
            zip(model.eval_timesteps_.tolist(), model.eval_returns_.tolist(), strict=True)
        )
        # training returns binned into 20 stretches of the budget (episodes end at any step)
        edges = np.linspace(0, max(budget.timesteps, model.trained_timesteps_), 21)
        which = np.clip(np.searchsorted(edges, model.train_timesteps_, side="left"), 1, 20)
        for b in np.unique(which):
            train_rows.append((int(edges[b]), float(model.train_returns_[which == b].mean())))
        return flat_nvec

    @staticmethod
    def _result(
        cfg: TradingRLSection,
        market: Any,
        paths: list[FoldPath],
        val_rows: list[tuple[int, float]],
        train_rows: list[tuple[int, float]],
        fps: list[float],
        trial_dir: Path,
        folds: list[WalkForwardWindow],
    ) -> TrialResult:
        oos = stitch(paths)
        res = TrialResult.from_arrays(
            curves={
                "equity": oos.equity,
                "drawdown_pct": 100.0 * (oos.equity / np.maximum.accumulate(oos.equity) - 1.0),
                "exposure": oos.exposure,
                "price": price_index(market, oos.dates),
            },
            scalars=summary_metrics(oos),
            steps=oos.dates,
            log_dir=str(trial_dir) if fps else None,
            # timing goes to the log, not the tables: results stay byte-identical across runs
            train_steps_per_s=round(float(np.mean(fps)), 1) if fps else None,
            folds=[(f.train[0], f.test[1]) for f in folds],
        )
        extra = [res.curves]
        for metric, rows in (("val_return", val_rows), ("train_return", train_rows)):
            if rows:
                a = np.asarray(rows, dtype=np.float64)
                extra.append(
                    TrialResult.from_arrays(
                        curves={metric: a[:, 1]}, steps=a[:, 0].astype(np.int64)
                    ).curves
                )
        res.curves = pd.concat(extra, ignore_index=True)
        return res

    def notes(self, ctx: Any) -> list[str]:
        return report.notes(ctx)

    def tables(self, ctx: Any) -> list[tuple[str, Any]]:
        return report.tables(ctx)


register(TradingRL())
