"""What a workload is, and the registry of workloads (the ``kind`` of an experiment spec).

A workload turns one trial (an agent's settings and a seed) into plain result tables. The
runner knows nothing else about it: bandits, gridworld planners, trading agents and supervised
models all plug in here. To add one, subclass :class:`Workload` and call :func:`register`.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from qmml.experiments.spec import ExperimentSpec, SpecError

__all__ = [
    "PlotContext",
    "ResolvedAgent",
    "TrialResult",
    "Workload",
    "check_params",
    "get_workload",
    "register",
    "run_artifacts_dir",
    "workloads",
]


@dataclass(frozen=True)
class ResolvedAgent:
    """An agent after sweep expansion: the unit a trial runs.

    Attributes:
        name: unique label, e.g. ``eps-greedy[epsilon=0.1]``.
        type: registered agent type.
        params: constructor arguments.
        env: environment overrides for this agent.
        group: family label for parameter studies (the spec name before expansion).
        swept: the swept parameter and its value, if any.
    """

    name: str
    type: str
    params: dict[str, Any]
    env: dict[str, Any]
    group: str
    swept: tuple[str, Any] | None = None


@dataclass
class TrialResult:
    """What one trial returns: tidy tables, no agent objects.

    Attributes:
        curves: columns ``step`` (int), ``metric`` (str), ``value`` (float).
        scalars: columns ``metric`` (str), ``value`` (float). A metric may repeat within a
            trial: its rows are then a sample (e.g. the final wealth of many random pickers).
        info: small JSON-able extras recorded in the run log.
    """

    curves: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "step": pd.Series(dtype="int64"),
                "metric": pd.Series(dtype="str"),
                "value": pd.Series(dtype="float64"),
            }
        )
    )
    scalars: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"metric": pd.Series(dtype="str"), "value": pd.Series(dtype="float64")}
        )
    )
    info: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_arrays(
        curves: dict[str, np.ndarray] | None = None,
        scalars: dict[str, float | np.ndarray] | None = None,
        steps: np.ndarray | None = None,
        **info: Any,
    ) -> TrialResult:
        """Build tables from ``{metric: array}`` curves (one value per step) and scalars."""
        parts = []
        for metric, values in (curves or {}).items():
            values = np.asarray(values, dtype=np.float64)
            x = np.arange(1, len(values) + 1) if steps is None else np.asarray(steps)
            parts.append(
                pd.DataFrame({"step": x.astype(np.int64), "metric": metric, "value": values})
            )
        res = TrialResult(info=info)
        if parts:
            res.curves = pd.concat(parts, ignore_index=True)
        rows = [
            (m, float(v))
            for m, vals in (scalars or {}).items()
            for v in np.atleast_1d(np.asarray(vals, dtype=np.float64))
        ]
        if rows:
            res.scalars = pd.DataFrame(rows, columns=["metric", "value"])
        return res


@dataclass
class PlotContext:
    """Everything a plot function may draw from: stored results only, never a re-run.

    Attributes:
        spec: the resolved spec of the run (for ``compare``: of the first run).
        curves: columns trial, agent, seed, step, metric, value.
        scalars: columns trial, agent, seed, metric, value.
        agents: resolved agents by name, in spec order.
    """

    spec: ExperimentSpec
    curves: pd.DataFrame
    scalars: pd.DataFrame
    agents: dict[str, ResolvedAgent]


PlotFn = Callable[..., Any]

RUN_DIR_ENV = "QMML_RUN_DIR"


def run_artifacts_dir() -> Path | None:
    """Where a trial may write artifacts that are not results (TensorBoard logs, checkpoints):
    ``<run folder>/artifacts`` while the runner runs it, None outside the runner.

    The runner exports the run folder in ``QMML_RUN_DIR`` (inherited by process-pool and
    local Ray workers); result tables still travel back through :class:`TrialResult`.
    """
    root = os.environ.get(RUN_DIR_ENV)
    return Path(root) / "artifacts" if root else None


class Workload:
    """Base class of workloads. Subclasses set ``name``, ``agent_types``, the optional pydantic
    models ``Env``/``Budget`` for the spec's ``env`` and ``budget`` sections, and implement
    :meth:`run_trial`. ``plots`` maps extra plot kinds to functions ``f(ctx, plot_spec)``
    returning a matplotlib Figure.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    agent_types: ClassVar[dict[str, Callable[..., Any]]] = {}
    Env: ClassVar[type[BaseModel] | None] = None
    Budget: ClassVar[type[BaseModel] | None] = None
    plots: ClassVar[dict[str, PlotFn]] = {}

    # -- validation -------------------------------------------------------------------------
    def env_config(self, spec: ExperimentSpec, agent: ResolvedAgent | None = None) -> Any:
        """The spec's ``env`` section (with the agent's overrides) validated by ``Env``."""
        data = {**spec.env, **(agent.env if agent else {})}
        return _validate(self.Env, data, "env")

    def budget_config(self, spec: ExperimentSpec) -> Any:
        """The spec's ``budget`` section validated by ``Budget``."""
        return _validate(self.Budget, spec.budget, "budget")

    def validate(self, spec: ExperimentSpec) -> list[ResolvedAgent]:
        """Check everything about ``spec`` that can be checked before running anything.

        Returns:
            The resolved (sweep-expanded) agents.

        Raises:
            SpecError: one line naming the problem.
        """
        agents = expand_agents(spec)
        self.budget_config(spec)
        for a in agents:
            if a.type not in self.agent_types:
                raise SpecError(
                    _unknown("agent type", a.type, self.agent_types, f"agents.{a.group}.type")
                )
            check_params(self.agent_types[a.type], a.params, f"agents.{a.group}.params")
            self.env_config(spec, a)
        self.check(spec, agents)
        names = {a.name for a in agents}
        for p in spec.report.plots:
            for n in p.agents or []:
                if n not in names and n not in {a.group for a in agents}:
                    raise SpecError(_unknown("agent", n, names, "report.plots.agents"))
        self._check_plots(spec)
        return agents

    def _check_plots(self, spec: ExperimentSpec) -> None:
        """Plot kinds and typed options, before any trial runs (not after hours of work)."""
        from qmml.experiments.figures import PLOTS, check_options  # matplotlib: only when needed

        kinds = {**PLOTS, **self.plots}
        for i, p in enumerate(spec.report.plots):
            if p.plot not in kinds:
                raise SpecError(_unknown("plot kind", p.plot, kinds, f"report.plots[{i}].plot"))
            check_options(p, f"report.plots[{i}].options")

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        """Workload-specific checks beyond the schema (e.g. a date range inside the data)."""

    def notes(self, ctx: PlotContext) -> list[str]:
        """Plain sentences shown at the top of the report (e.g. an honest conclusion)."""
        return []

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        """Extra (title, table) pairs shown in the report after the final metrics."""
        return []

    # -- running ----------------------------------------------------------------------------
    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, seed: np.random.SeedSequence
    ) -> TrialResult:
        """Run one agent with one seed and return its result tables."""
        raise NotImplementedError


def _validate(model: type[BaseModel] | None, data: dict[str, Any], section: str) -> Any:
    if model is None:
        if data:
            raise SpecError(
                f"{section}: this workload takes no {section!r} settings; "
                f"remove {', '.join(map(repr, data))}"
            )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join([section, *map(str, e["loc"])])
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            raise SpecError(f"unknown key {loc!r}; allowed: {allowed}") from None
        msg = e["msg"].removeprefix("Value error, ")
        raise SpecError(f"bad value for {loc!r}: {e.get('input')!r} ({msg})") from None


class StrictModel(BaseModel):
    """Base for workload ``Env``/``Budget`` models: unknown keys are errors, objects frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _unknown(what: str, value: str, allowed: Any, key: str) -> str:
    allowed = sorted(allowed)
    hint = difflib.get_close_matches(value, allowed, n=1)
    did = f"; did you mean {hint[0]!r}?" if hint else ""
    if not allowed:
        return f"{key}: unknown {what} {value!r}; there is none to choose from here"
    return f"{key}: unknown {what} {value!r}; choose from {', '.join(allowed)}{did}"


def check_params(factory: Callable[..., Any], params: dict[str, Any], key: str) -> None:
    """Raise :class:`SpecError` if ``params`` are not keyword arguments ``factory`` accepts,
    or if constructing it with them fails validation."""
    sig = inspect.signature(factory)
    accepted = [
        n for n, p in sig.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        for name in params:
            if name not in accepted:
                raise SpecError(_unknown("parameter", name, accepted, key))
    try:
        factory(**params)
    except ValueError as err:
        raise SpecError(f"{key}: {err}") from None
    except TypeError as err:  # e.g. '<=' between int and str: say which values were given
        given = ", ".join(f"{k}={v!r}" for k, v in params.items())
        raise SpecError(f"{key}: {err} (given {given}); check the parameters' types") from None


def accepts_param(factory: Callable[..., Any], name: str) -> bool:
    """Whether ``factory`` takes keyword argument ``name``."""
    return name in inspect.signature(factory).parameters


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def expand_agents(spec: ExperimentSpec) -> list[ResolvedAgent]:
    """Expand each agent's ``sweep`` into one :class:`ResolvedAgent` per value."""
    out: list[ResolvedAgent] = []
    for a in spec.agents:
        group = a.group or a.name
        if not a.sweep:
            out.append(ResolvedAgent(a.name, a.type, dict(a.params), dict(a.env), group))
            continue
        if len(a.sweep) != 1:
            raise SpecError(
                f"agents.{a.name}.sweep: sweep one parameter per agent entry, got "
                f"{', '.join(a.sweep)}; add one agent entry per swept parameter"
            )
        ((param, values),) = a.sweep.items()
        if not values:
            raise SpecError(f"agents.{a.name}.sweep.{param}: empty list of values")
        for v in values:
            name = f"{a.name}[{param}={_fmt(v)}]"
            out.append(
                ResolvedAgent(name, a.type, {**a.params, param: v}, dict(a.env), group, (param, v))
            )
    return out


_REGISTRY: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    """Add a workload instance to the registry under ``workload.name``."""
    _REGISTRY[workload.name] = workload
    return workload


def workloads() -> dict[str, Workload]:
    """All registered workloads by name (importing the built-in ones first)."""
    from qmml.experiments.workloads import load_all

    load_all()
    return dict(_REGISTRY)


def get_workload(kind: str) -> Workload:
    """The workload registered as ``kind``.

    Raises:
        SpecError: unknown kind, with the registered ones listed.
    """
    from qmml.experiments.workloads import BUILTIN, load

    if kind not in _REGISTRY and not load(kind):
        raise SpecError(_unknown("kind", kind, {*BUILTIN, *_REGISTRY}, "kind"))
    return _REGISTRY[kind]
