"""Tabular TD control measured against the DP optimum: Q-learning, SARSA and Expected SARSA
with ε-greedy (constant or decaying) and softmax exploration (Sutton & Barto ch. 6).

Every trial first solves its problem with value iteration (V*), then trains the agent for
``budget.episodes`` episodes. Curves per episode: ``return`` (sum of rewards, Figure 6.4),
``discounted_return``, ``length``, ``exploration`` (ε or τ) and ``cumulative_regret``
(Σ V*(start) − discounted return). Every ``eval_every`` episodes the greedy policy of the
learnt Q is evaluated exactly: ``greedy_value`` (its value at the start), ``value_gap``
(‖V* − V^π‖∞) and ``nonterminating_states`` (with γ = 1: states from which the greedy policy
never ends an episode, where its value is −∞ and the gap is left out). At the end: the greedy
``path`` from the start, the learnt ``value`` (max_a Q) with ``greedy_dirs`` and the grid's
``layout_*``.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pandas as pd
from pydantic import Field

from qmml.agents.planning import evaluate_policy, value_iteration
from qmml.agents.tabular import TABULAR_AGENTS, TabularAgent
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
from qmml.experiments.workloads.gridworld.plots import PLOTS
from qmml.experiments.workloads.gridworld.problems import (
    Problem,
    ProblemSection,
    build_problem,
    dirs_bitmask,
    layout_curves,
    most_likely_path,
)


class ControlSection(ProblemSection):
    """The ``env`` section: the problem (see ProblemSection), γ, and the episode time limit."""

    max_episode_steps: int = Field(default=10_000, ge=1)


class ControlBudgetSection(StrictModel):
    """The ``budget`` section: episodes per trial, the evaluation period and the share of the
    last episodes that ``final_return`` averages."""

    episodes: int = Field(default=500, ge=1, le=10_000_000)
    eval_every: int = Field(default=25, ge=1)
    final_fraction: float = Field(default=0.1, gt=0, le=1)


class GridworldControl(Workload):
    """TD control agents on a tabular problem, compared with its DP optimum."""

    name = "gridworld-control"
    description = "Q-learning, SARSA, Expected SARSA against the DP optimum (S&B ch. 6)"
    agent_types = dict(TABULAR_AGENTS)
    Env = ControlSection
    Budget = ControlBudgetSection

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        for a in agents:
            for key, owner in (("seed", "the experiment's seed"), ("gamma", "env.gamma")):
                if key in a.params:
                    raise SpecError(
                        f"agents.{a.group}.params.{key}: set by {owner}; remove it "
                        "from the agent's params"
                    )
            cfg: ControlSection = self.env_config(spec, a)
            if cfg.problem == "gambler":
                raise SpecError(
                    "env.problem: 'gambler' has no Gymnasium env to learn on; use "
                    "gridworld or gymnasium here (the gambler is in gridworld-dp)"
                )
            problem = build_problem(cfg)
            if cfg.gamma == 1.0 and problem.mdp.termination().max() <= 0.0:
                raise SpecError(
                    f"env.gamma: 1 needs an episodic task but {problem.label!r} "
                    "never terminates; use gamma < 1"
                )

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        cfg: ControlSection = self.env_config(spec, agent)
        budget: ControlBudgetSection = self.budget_config(spec)
        maze_seed, agent_seed = ctx.seeds(2)
        problem = build_problem(cfg, maze_seed)
        mdp, g = problem.mdp, cfg.gamma
        v_star = value_iteration(mdp, g).values
        start = problem.initial
        assert start is not None and problem.env is not None
        opt = float(start @ v_star)
        env = gym.wrappers.TimeLimit(problem.env.unwrapped, cfg.max_episode_steps)
        learner: TabularAgent = self.agent_types[agent.type](
            **agent.params, gamma=g, seed=agent_seed
        )
        checks: dict[str, list[float]] = {
            "episode": [],
            "greedy_value": [],
            "value_gap": [],
            "nonterminating_states": [],
        }

        def evaluate(ep: int, a: TabularAgent) -> None:
            if (ep + 1) % budget.eval_every and ep + 1 != budget.episodes:
                return
            v = evaluate_policy(mdp, a.greedy_policy(), g, nonterminating="nan")
            bad = ~np.isfinite(v)
            checks["episode"].append(ep + 1)
            checks["nonterminating_states"].append(float(bad.sum()))
            checks["greedy_value"].append(
                float(start @ np.where(bad, 0.0, v)) if not (bad & (start > 0)).any() else np.nan
            )
            checks["value_gap"].append(float(np.max(v_star - v)) if not bad.any() else np.nan)

        t0 = time.perf_counter()
        learner.learn(env, budget.episodes, callback=evaluate)
        wall = time.perf_counter() - t0
        return _result(learner, problem, v_star, opt, checks, budget, wall)

    def notes(self, ctx: PlotContext) -> list[str]:
        """Agents whose greedy policy does not end episodes from every state (γ = 1)."""
        s = ctx.scalars
        bad = s[(s["metric"] == "nonterminating_states") & (s["value"] > 0)]
        if bad.empty:
            return []
        per = bad.groupby("agent")["seed"].nunique()
        return [
            f"{a}: in {n} seed(s) the final greedy policy never ends an episode from some "
            "state (value −∞ there with γ = 1), so value_gap is left out for those seeds."
            for a, n in per.items()
        ]


def _result(
    learner: TabularAgent,
    problem: Problem,
    v_star: np.ndarray,
    opt: float,
    checks: dict[str, list[float]],
    budget: ControlBudgetSection,
    wall: float,
) -> TrialResult:
    returns = learner.episode_returns_
    regret = np.cumsum(opt - learner.episode_discounted_returns_)
    tail = max(1, round(budget.episodes * budget.final_fraction))
    parts = [
        TrialResult.from_arrays(
            curves={
                "return": returns,
                "discounted_return": learner.episode_discounted_returns_,
                "length": learner.episode_lengths_,
                "exploration": learner.exploration_values_,
                "cumulative_regret": regret,
            }
        ).curves
    ]
    ep = np.asarray(checks["episode"], dtype=np.int64)
    for metric in ("greedy_value", "value_gap", "nonterminating_states"):
        y = np.asarray(checks[metric])
        ok = np.isfinite(y)
        parts.append(TrialResult.from_arrays(curves={metric: y[ok]}, steps=ep[ok]).curves)
    q = learner.q_table_
    states = np.arange(q.shape[0])
    ties = q >= q.max(axis=1, keepdims=True) - 1e-12
    per_state = {"value": q.max(axis=1), "greedy_dirs": dirs_bitmask(ties, problem.dirs)}
    for metric, values in per_state.items():
        parts.append(TrialResult.from_arrays(curves={metric: values}, steps=states).curves)
    for metric, (x, values) in layout_curves(problem).items():
        parts.append(TrialResult.from_arrays(curves={metric: values}, steps=x).curves)
    assert problem.initial is not None  # control problems all have a start distribution
    start = int(np.argmax(problem.initial))
    table = problem.env.unwrapped.P  # type: ignore[union-attr]
    path = most_likely_path(table, learner.greedy_policy(), start)
    parts.append(TrialResult.from_arrays(curves={"path": path}, steps=np.arange(path.size)).curves)
    scalars: dict[str, float | np.ndarray] = {
        "optimal_value": opt,
        "final_return": float(returns[-tail:].mean()),
        "mean_return": float(returns.mean()),
        "cumulative_regret": float(regret[-1]),
        "nonterminating_states": checks["nonterminating_states"][-1],
        "train_wall_s": wall,
    }
    for metric in ("greedy_value", "value_gap"):
        if np.isfinite(checks[metric][-1]):
            scalars[metric] = checks[metric][-1]
    if np.isfinite(checks["greedy_value"][-1]):
        scalars["start_gap"] = opt - checks["greedy_value"][-1]
    res = TrialResult.from_arrays(scalars=scalars, problem=problem.label, n_states=int(v_star.size))
    res.curves = pd.concat(parts, ignore_index=True)
    return res


GridworldControl.plots = dict(PLOTS)
register(GridworldControl())
