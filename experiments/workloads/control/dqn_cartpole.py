"""``dqn-cartpole``: the lecture's DQN exercise on CartPole-v1, with seeds and intervals.

The lecture trained one DQN on one seed and asked for an average reward of at least 450 over
100 episodes. Here SB3's DQN (and PPO for comparison) train on ``CartPole-v1`` for a fixed
number of environment steps per seed; afterwards the final policy plays ``eval_episodes``
greedy episodes on separately seeded environments.

Curves (step = environment steps, in ``curve_points`` bins): ``episode_return`` (mean of the
training episodes ending in the bin) and ``avg100_return`` (the mean of the last 100 training
episodes at the end of the bin: the lecture's criterion). Scalars: ``eval_avg_return`` (greedy
evaluation), ``final_avg100_return``, ``target_met`` (1 if the evaluation average reaches the
target) and ``steps_to_target`` (first step at which the training average of 100 episodes
reached the target; missing if never).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from pydantic import Field
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

from qmml.agents.sb3 import SB3_AGENTS
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

__all__ = ["CartPoleBudgetSection", "CartPoleSection", "DQNCartPole"]


class CartPoleSection(StrictModel):
    """The ``env`` section."""

    id: str = "CartPole-v1"
    n_envs: int = Field(default=1, ge=1, le=256)


class CartPoleBudgetSection(StrictModel):
    """The ``budget`` section."""

    timesteps: int = Field(default=50_000, ge=1, le=100_000_000)
    eval_episodes: int = Field(default=100, ge=1, le=100_000)
    target: float = 450.0
    window: int = Field(default=100, ge=1)
    curve_points: int = Field(default=50, ge=2, le=10_000)


class DQNCartPole(Workload):
    """SB3 agents on a Gymnasium control task, learning curves over seeds."""

    name = "dqn-cartpole"
    description = "the lecture's DQN on CartPole-v1 (and PPO), target: average >= 450 over 100"
    agent_types = {k: SB3_AGENTS[k] for k in ("dqn", "ppo")}
    Env = CartPoleSection
    Budget = CartPoleBudgetSection

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        torch.set_num_threads(ctx.threads)
        cfg, budget = self.env_config(spec, agent), self.budget_config(spec)
        train_seed, eval_seed = ctx.int_seeds(2, high=2**31)
        model = self.agent_types[agent.type](**agent.params).set_params(seed=train_seed)
        env = DummyVecEnv([lambda: gym.make(cfg.id)] * cfg.n_envs)
        env.seed(train_seed)
        model.learn(env, budget.timesteps, progress=ctx.progress)
        steps, returns = model.train_timesteps_, model.train_returns_
        # greedy evaluation on its own environments (never the training ones)
        n_eval = min(10, budget.eval_episodes)
        eval_env = DummyVecEnv([lambda: gym.make(cfg.id)] * n_eval)
        eval_env.seed(eval_seed)
        ep_returns, _ = evaluate_policy(
            model.model_,
            eval_env,
            n_eval_episodes=budget.eval_episodes,
            deterministic=True,
            return_episode_rewards=True,
            warn=False,
        )
        eval_avg = float(np.mean(ep_returns))
        avg = pd.Series(returns).rolling(budget.window, min_periods=1).mean().to_numpy()
        full = pd.Series(returns).rolling(budget.window).mean().to_numpy()
        reached = np.flatnonzero(full >= budget.target)
        total = max(budget.timesteps, model.trained_timesteps_)  # rollouts may overshoot
        edges = np.linspace(0, total, budget.curve_points + 1).astype(np.int64)
        which = np.clip(np.searchsorted(edges, steps, side="left"), 1, budget.curve_points)
        bins = np.unique(which)
        ep_curve = np.array([returns[which == b].mean() for b in bins])
        # the 100-episode average as it stands at every bin edge (also where no episode ended)
        done = np.searchsorted(steps, edges[1:], side="right")  # episodes finished by then
        have = np.flatnonzero(done > 0) + 1
        avg_curve = avg[done[have - 1] - 1]
        res = TrialResult.from_arrays(curves={"episode_return": ep_curve}, steps=edges[bins])
        res.curves = pd.concat(
            [
                res.curves,
                TrialResult.from_arrays(
                    curves={"avg100_return": avg_curve}, steps=edges[have]
                ).curves,
            ],
            ignore_index=True,
        )
        scalars = {
            "eval_avg_return": eval_avg,
            "final_avg100_return": float(avg[-1]) if len(avg) else np.nan,
            "target_met": float(eval_avg >= budget.target),
            "episodes": float(len(returns)),
        }
        if reached.size:
            scalars["steps_to_target"] = float(steps[reached[0]])
        res.scalars = TrialResult.from_arrays(scalars=scalars).scalars
        return res

    def notes(self, ctx: PlotContext) -> list[str]:
        """Whether each agent met the lecture's target, in plain words."""
        budget = self.budget_config(ctx.spec)
        s = ctx.scalars
        out = []
        for name in ctx.agents:
            ev = s[(s["agent"] == name) & (s["metric"] == "eval_avg_return")]
            if ev.empty:
                continue
            per_seed = ev.groupby("seed")["value"].mean().to_numpy()
            ci = bootstrap_mean(per_seed)
            met = int((per_seed >= budget.target).sum())
            verdict = "met" if ci.estimate >= budget.target else "missed"
            train = s[(s["agent"] == name) & (s["metric"] == "final_avg100_return")]
            during = (
                f" Its last {budget.window} training episodes (still exploring) averaged "
                f"{train['value'].mean():.1f}."
                if not train.empty
                else ""
            )
            out.append(
                f"{name}: the lecture's target (average reward >= {budget.target:g} over "
                f"{budget.eval_episodes} greedy episodes) is {verdict} on average after "
                f"{budget.timesteps:,} steps: mean {ci.estimate:.1f} [95% CI {ci.low:.1f}, "
                f"{ci.high:.1f}]; reached by {met} of {len(per_seed)} seed(s).{during}"
            )
        return out


register(DQNCartPole())
