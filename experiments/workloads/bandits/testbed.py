"""The k-armed bandit testbed of Sutton & Barto (2nd ed.), chapter 2, batched."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from qmml.agents.bandits import AGENTS, simulate
from qmml.envs.bandit import BanditBatch
from qmml.experiments.spec import ExperimentSpec
from qmml.experiments.workload import (
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)


class TestbedSection(StrictModel):
    """The ``env`` section: the bandit problems each trial draws."""

    arms: Literal["gaussian", "bernoulli"] = "gaussian"
    k: int = Field(default=10, ge=2, le=10_000)
    mean_offset: float = 0.0
    mean_std: float = Field(default=1.0, ge=0)
    noise_std: float = Field(default=1.0, ge=0)
    walk_std: float = Field(default=0.0, ge=0)
    equal_start: bool = False


class TestbedBudgetSection(StrictModel):
    """The ``budget`` section: steps per run and independent runs per trial."""

    steps: int = Field(default=1000, ge=1, le=10_000_000)
    runs: int = Field(default=200, ge=1, le=1_000_000)
    final_fraction: float = Field(default=0.1, gt=0, le=1)


class BanditTestbed(Workload):
    """Many independent bandit problems per trial, stepped as arrays.

    Curves: ``reward`` (mean over runs) and ``pct_optimal`` per step. Scalars: ``mean_reward``
    (over all steps, the book's Figure 2.6 metric), ``final_reward`` and ``final_pct_optimal``
    (over the last ``final_fraction`` of steps).
    """

    name = "bandit-testbed"
    description = "k-armed bandit testbed (Sutton & Barto ch. 2), batched over many runs"
    agent_types = dict(AGENTS)
    Env = TestbedSection
    Budget = TestbedBudgetSection

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env = self.env_config(spec, agent)
        budget = self.budget_config(spec)
        env_seed, agent_seed = ctx.seeds(2)  # env draws are shared by all agents of a seed
        env_rng = np.random.default_rng(env_seed)
        if env.arms == "gaussian":
            bandit = BanditBatch.gaussian(
                budget.runs,
                env.k,
                rng=env_rng,
                mean_offset=env.mean_offset,
                mean_std=env.mean_std,
                noise_std=env.noise_std,
                walk_std=env.walk_std,
                equal_start=env.equal_start,
            )
        else:
            bandit = BanditBatch.bernoulli(budget.runs, env.k, rng=env_rng)
        trace = simulate(
            AGENTS[agent.type](**agent.params),
            bandit,
            budget.steps,
            rng=np.random.default_rng(agent_seed),
        )
        tail = max(1, round(budget.steps * budget.final_fraction))
        return TrialResult.from_arrays(
            curves={"reward": trace.mean_reward, "pct_optimal": trace.pct_optimal},
            scalars={
                "mean_reward": trace.mean_reward.mean(),
                "final_reward": trace.mean_reward[-tail:].mean(),
                "final_pct_optimal": trace.pct_optimal[-tail:].mean(),
            },
            runs=budget.runs,
        )


register(BanditTestbed())
