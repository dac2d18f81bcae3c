"""What a workload is, what a trial is handed, and the registry of workloads (a spec's ``kind``).

A workload turns one trial (an agent's settings and a :class:`TrialContext`) into plain result
tables. The runner knows nothing else about it: bandits, gridworld planners, trading agents and
supervised models all plug in here. To add one, subclass :class:`Workload` and call
:func:`register`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from qmml.experiments.results import PlotContext, ResolvedAgent, TrialResult
from qmml.experiments.spec import (
    ExperimentSpec,
    SpecError,
    StrictModel,
    format_validation_error,
    unknown_choice,
)

__all__ = [
    "PlotContext",
    "ResolvedAgent",
    "StrictModel",
    "TrialContext",
    "TrialResult",
    "Workload",
    "accepts_param",
    "check_params",
    "expand_agents",
    "get_workload",
    "register",
    "workloads",
]


@dataclass(frozen=True)
class TrialContext:
    """What the runner hands a trial besides its spec and agent.

    Every random choice of a trial comes from ``seed``, through :meth:`seeds`,
    :meth:`int_seeds` or :meth:`rng`; these derive children afresh on each call (a
    ``SeedSequence``'s own ``spawn`` counts its calls, so two calls would differ).

    Attributes:
        seed: ``SeedSequence(spec.seed, spawn_key=(seed_index,))``, shared by every agent of
            this seed index (common random numbers).
        seed_index: 0 .. spec.seeds - 1.
        artifacts_dir: where the trial may write what is not a result (TensorBoard logs,
            checkpoints): ``<run>/artifacts/<trial>`` under the runner, None outside it.
        threads: torch/BLAS threads the trial may use (float results depend on it).
        progress: whether long work inside the trial may show a progress bar (the runner
            says yes when trials run in its own process).
    """

    seed: np.random.SeedSequence
    seed_index: int = 0
    artifacts_dir: Path | None = None
    threads: int = 1
    progress: bool = False

    @staticmethod
    def of(
        spec: ExperimentSpec,
        seed_index: int,
        artifacts_dir: Path | None = None,
        progress: bool = False,
    ) -> TrialContext:
        """The context of seed index ``seed_index`` of ``spec`` (what the runner builds)."""
        seed = np.random.SeedSequence(spec.seed, spawn_key=(seed_index,))
        return TrialContext(seed, seed_index, artifacts_dir, progress=progress)

    def _fresh(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed.entropy, spawn_key=self.seed.spawn_key)

    def seeds(self, n: int) -> list[np.random.SeedSequence]:
        """``n`` independent child seeds (the same ``n`` children on every call)."""
        return self._fresh().spawn(n)

    def int_seeds(self, n: int, high: int = 2**32) -> list[int]:
        """``n`` child seeds as integers in ``[0, high)``, for libraries that take an int."""
        return [int(s.generate_state(1)[0]) % high for s in self.seeds(n)]

    def int_seed(self) -> int:
        """The trial's own seed as one integer (for a single library call)."""
        return int(self._fresh().generate_state(1)[0])

    def rng(self) -> np.random.Generator:
        """A generator on the trial's own seed."""
        return np.random.default_rng(self._fresh())


PlotFn = Callable[..., Any]


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
                    unknown_choice("agent type", a.type, self.agent_types, f"agents.{a.group}.type")
                )
            check_params(self.agent_types[a.type], a.params, f"agents.{a.group}.params")
            self.env_config(spec, a)
        self.check(spec, agents)
        names = {a.name for a in agents}
        for p in spec.report.plots:
            for n in p.agents or []:
                if n not in names and n not in {a.group for a in agents}:
                    raise SpecError(unknown_choice("agent", n, names, "report.plots.agents"))
        from qmml.experiments.figures import check_plots  # matplotlib: only when needed

        check_plots(spec, self.plots)
        return agents

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        """Workload-specific checks beyond the schema (e.g. a date range inside the data)."""

    question: ClassVar[str] = ""  # the report's first line, unless the spec asks its own

    def notes(self, ctx: PlotContext) -> list[str]:
        """Plain sentences shown under the finding (settings, caveats)."""
        return []

    def findings(self, ctx: PlotContext) -> list[str]:
        """The report's finding, when the workload knows better than a comparison over seeds
        (e.g. intervals over days for deterministic strategies); empty: the report states the
        comparison with the baselines. Claim a difference only where its interval excludes 0."""
        return []

    def provenance(self, spec: ExperimentSpec) -> list[tuple[str, str]]:
        """Where the run's data comes from (a bundled file and its hash, a CSV's path and
        hash, a download's date): kept in ``meta.json`` and shown in the report."""
        return []

    def baselines(self, ctx: PlotContext) -> list[str]:
        """Agents (names or groups) every other agent is compared with, besides the spec's
        ``report.baselines``."""
        return []

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        """Extra (title, table) pairs shown in the report after the final metrics."""
        return []

    # -- running ----------------------------------------------------------------------------
    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        """Run one agent under one seed (``ctx``) and return its result tables."""
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
        raise SpecError(format_validation_error(err, model, prefix=(section,))) from None


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
                raise SpecError(unknown_choice("parameter", name, accepted, key))
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
        raise SpecError(unknown_choice("kind", kind, {*BUILTIN, *_REGISTRY}, "kind"))
    return _REGISTRY[kind]
