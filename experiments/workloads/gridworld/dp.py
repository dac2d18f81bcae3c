"""Dynamic programming on gridworlds, the Gambler's problem and FrozenLake (Sutton & Barto
ch. 3-4): exact values and policies, and value iteration against policy iteration.

One trial solves one problem (the agent's ``env``) with one planner. Curves: ``residual``
(Bellman residual per sweep, or per improvement for policy iteration), ``policy_changes``,
``value`` and ``greedy_dirs``/``policy`` per state (step = state), ``value@sweepK`` snapshots
and the ``layout_*`` of the grid. Scalars: ``sweeps``, ``iterations``, ``start_value``,
``bellman_residual`` (of the returned values), ``n_states``, ``solve_wall_s``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from qmml.agents.mdp import MDPError, TabularMDP
from qmml.agents.planning import (
    Solution,
    bellman_residual,
    evaluate_policy,
    greedy_actions,
    greedy_policy,
    policy_evaluation,
    policy_iteration,
    q_values,
    value_iteration,
)
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
    ProblemSection,
    build_problem,
    dirs_bitmask,
    layout_curves,
)


class ValueIterationParams(StrictModel):
    """``value-iteration``: sweeps until the Bellman residual is below ``tol``."""

    tol: float = Field(default=1e-10, gt=0)
    max_sweeps: int = Field(default=100_000, ge=1)


class PolicyIterationParams(StrictModel):
    """``policy-iteration``: exact (linear solve) or iterative evaluation, then improvement."""

    evaluation: Literal["exact", "iterative"] = "exact"
    tol: float = Field(default=1e-10, gt=0)
    max_iterations: int = Field(default=1_000, ge=1)


class PolicyEvaluationParams(StrictModel):
    """``policy-evaluation`` of the equiprobable random policy: ``sync`` or ``in-place``
    sweeps, or ``exact`` (one linear solve)."""

    policy: Literal["random"] = "random"
    method: Literal["sync", "in-place", "exact"] = "sync"
    tol: float = Field(default=1e-10, gt=0)
    max_sweeps: int = Field(default=100_000, ge=1)


class DPBudgetSection(StrictModel):
    """The ``budget`` section: sweeps after which to store a copy of the values."""

    snapshots: list[int] = Field(default_factory=lambda: [1, 2, 3, 10, 32])


class GridworldDP(Workload):
    """Planners on tabular MDPs (see the module docstring for the tables)."""

    name = "gridworld-dp"
    description = "policy evaluation, policy iteration and value iteration (S&B ch. 3-4)"
    agent_types = {
        "value-iteration": ValueIterationParams,
        "policy-iteration": PolicyIterationParams,
        "policy-evaluation": PolicyEvaluationParams,
    }
    Env = ProblemSection
    Budget = DPBudgetSection

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        for a in agents:  # surface map, id and gamma=1 errors before anything runs
            cfg: ProblemSection = self.env_config(spec, a)
            mdp = build_problem(cfg).mdp
            if cfg.gamma < 1.0:
                continue
            try:
                if a.type == "policy-evaluation":
                    evaluate_policy(mdp, mdp.uniform_policy(), 1.0)
                elif mdp.termination().max() <= 0.0:
                    value_iteration(mdp, 1.0, max_sweeps=1)  # raises the episodic-task error
            except MDPError as err:
                raise SpecError(f"agents.{a.group}: {err}") from None

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        cfg: ProblemSection = self.env_config(spec, agent)
        budget: DPBudgetSection = self.budget_config(spec)
        (maze_seed,) = ctx.seeds(1)
        problem = build_problem(cfg, maze_seed)
        mdp, g = problem.mdp, cfg.gamma
        params = self.agent_types[agent.type](**agent.params)
        t0 = time.perf_counter()
        sol = _solve(agent.type, params, problem.mdp, g, budget.snapshots)
        wall = time.perf_counter() - t0
        n = mdp.n_states
        states = np.arange(n)
        curves: dict[str, np.ndarray] = {}
        steps: dict[str, np.ndarray] = {}

        def add(metric: str, values: np.ndarray, x: np.ndarray | None = None) -> None:
            curves[metric] = np.asarray(values, dtype=np.float64)
            steps[metric] = np.arange(1, len(values) + 1) if x is None else x

        add("residual", sol.residuals)
        if sol.iterations:
            add("policy_changes", sol.policy_changes)
        add("value", sol.values, states)
        if problem.layout is None:  # the Gambler's problem: the stake per capital
            add("policy", sol.policy, states)
        else:
            ties = greedy_actions(mdp, sol.values, g)
            add("greedy_dirs", dirs_bitmask(ties, problem.dirs), states)
        for metric, (x, values) in layout_curves(problem).items():
            add(metric, values, x)
        for k, v in sol.snapshots.items():
            add(f"value@sweep{k}", v, states)
        policy = None if agent.type != "policy-evaluation" else mdp.uniform_policy()
        scalars = {
            "sweeps": sol.sweeps,
            "iterations": sol.iterations,
            "n_states": n,
            "bellman_residual": bellman_residual(mdp, sol.values, g, policy),
            "solve_wall_s": wall,
        }
        if problem.initial is not None:
            scalars["start_value"] = float(problem.initial @ sol.values)
        return _tables(curves, steps, scalars, problem.label)

    def notes(self, ctx: PlotContext) -> list[str]:
        """Per planner: sweeps, the value at the start and the largest Bellman residual."""
        out = []
        s = ctx.scalars
        for name in ctx.agents:
            sub = s[s["agent"] == name].groupby("metric")["value"]
            if sub.ngroups == 0:
                continue
            m, hi = sub.mean(), sub.max()
            start = f", value at the start {m['start_value']:.4g}" if "start_value" in m else ""
            out.append(
                f"{name}: {m['n_states']:.0f} states, {m['sweeps']:.0f} sweep(s)"
                f"{start}; Bellman residual of the result ≤ "
                f"{hi['bellman_residual']:.1e}."
            )
        return out


def _solve(
    kind: str, params: StrictModel, mdp: TabularMDP, g: float, snapshots: list[int]
) -> Solution:
    if kind == "value-iteration":
        assert isinstance(params, ValueIterationParams)
        return value_iteration(
            mdp, g, tol=params.tol, max_sweeps=params.max_sweeps, snapshots=snapshots
        )
    if kind == "policy-iteration":
        assert isinstance(params, PolicyIterationParams)
        return policy_iteration(
            mdp,
            g,
            evaluation=params.evaluation,
            tol=params.tol,
            max_iterations=params.max_iterations,
        )
    assert isinstance(params, PolicyEvaluationParams)
    pi = mdp.uniform_policy()
    if params.method == "exact":
        v = evaluate_policy(mdp, pi, g)
        return Solution(
            values=v,
            policy=greedy_policy(mdp, v, g),
            q=q_values(mdp, v, g),
            residuals=np.zeros(0),
            sweeps=1,
        )
    return policy_evaluation(
        mdp,
        pi,
        g,
        in_place=params.method == "in-place",
        tol=params.tol,
        max_sweeps=params.max_sweeps,
        snapshots=snapshots,
    )


def _tables(
    curves: dict[str, np.ndarray],
    steps: dict[str, np.ndarray],
    scalars: Mapping[str, float | np.ndarray],
    label: str,
) -> TrialResult:
    parts = [
        TrialResult.from_arrays(curves={m: v}, steps=steps[m]).curves
        for m, v in curves.items()
        if len(v)
    ]
    res = TrialResult.from_arrays(scalars=dict(scalars), problem=label)
    if parts:
        res.curves = pd.concat(parts, ignore_index=True)
    return res


GridworldDP.plots = dict(PLOTS)
register(GridworldDP())
