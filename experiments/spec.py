"""Experiment specifications: YAML files validated into frozen, typed config objects.

A spec names the workload (``kind``), its environment or data, the agents with their
parameters, the seeds, the budget and what the report plots. Anything a user can get wrong
raises :class:`SpecError` with a one-line message naming the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "AgentSpec",
    "ExperimentSpec",
    "PlotSpec",
    "SpecError",
    "StrictModel",
    "did_you_mean",
    "format_validation_error",
    "load_spec",
    "parse_yaml",
    "spec_hash",
    "unknown_choice",
]


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: ``start: 2018-01-01`` stays the string a spec expects."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _unique_keys(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A mapping whose keys must differ: with YAML's default, a repeated key (``seeds: 2`` …
    ``seeds: 3``) silently keeps the last value."""
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one section", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


MAX_SPEC_BYTES = 1_000_000
MAX_SPEC_VALUES = 100_000


def parse_yaml(text: str) -> Any:
    """Parse YAML safely, keeping dates as strings and refusing repeated keys.

    Raises:
        SpecError: text over :data:`MAX_SPEC_BYTES`, or a document whose aliases expand to
            more than :data:`MAX_SPEC_VALUES` values (a "billion laughs" bomb would otherwise
            take all memory when the spec is hashed).
    """
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"spec text is {len(text):,} characters; a spec is at most {MAX_SPEC_BYTES:,}: "
            "put data in files the spec names"
        )
    data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    _check_expanded_size(data)
    return data


def _check_expanded_size(data: Any) -> None:
    """Count values as if every alias were copied out, stopping at the limit."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_SPEC_VALUES:
            raise SpecError(
                f"the spec expands to more than {MAX_SPEC_VALUES:,} values (YAML aliases "
                "repeated inside each other?); write the values out or use fewer aliases"
            )
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


class SpecError(ValueError):
    """A user-facing problem with an experiment spec (bad YAML, unknown key, bad value)."""


class StrictModel(BaseModel):
    """The one base of every config model (the spec and each workload's sections): unknown
    keys are errors, objects are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def unknown_choice(what: str, value: str, allowed: Iterable[str], key: str) -> str:
    """The one-line message for a value that is not one of ``allowed``."""
    choices = sorted(allowed)
    if not choices:
        return f"{key}: unknown {what} {value!r}; there is none to choose from here"
    return f"{key}: unknown {what} {value!r}; choose from {', '.join(choices)}" + did_you_mean(
        value, choices
    )


class AgentSpec(StrictModel):
    """One agent of an experiment.

    Attributes:
        name: label used in tables and plots; unique within the spec.
        type: registered agent type (see ``qmml list``).
        params: constructor arguments of the agent type.
        sweep: parameter name -> list of values; expands into one agent per value,
            named ``name[param=value]``.
        env: overrides of the experiment's ``env`` settings for this agent only.
        group: optional family label (parameter studies draw one line per group).
    """

    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    env: dict[str, Any] = Field(default_factory=dict)
    group: str | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        bad = set(v) & set('/\\:*?"<>|')
        if bad:
            raise ValueError(
                f"agent name {v!r} contains {''.join(sorted(bad))!r}; use letters, "
                "digits, '-', '_', '.', '=' or spaces"
            )
        return v


class PlotSpec(StrictModel):
    """One figure of the report.

    Attributes:
        plot: plot kind, e.g. ``curve`` (a metric against step, mean and 95% CI over seeds)
            or ``param_study`` (a scalar metric against a swept parameter, one line per group);
            workloads add their own kinds.
        metric: the metric drawn.
        agents: agents to draw (default: all).
        title: figure title.
        options: extra keyword options of the plot kind.
    """

    plot: str
    metric: str | None = None
    agents: list[str] | None = None
    title: str = ""
    options: dict[str, Any] = Field(default_factory=dict)


class ReportSpec(StrictModel):
    """What the report shows and asks.

    Attributes:
        primary: the scalar metric agents are ranked and compared on.
        higher_is_better: the direction of ``primary``.
        question: the question the experiment answers (the report's first line).
        baselines: agent names or groups every other agent is compared with (buy-and-hold,
            random, the DP optimum); default: the best agent of each setting. Never an oracle.
        plots: the figures.
    """

    primary: str | None = None
    higher_is_better: bool = True
    question: str = ""
    baselines: list[str] = Field(default_factory=list)
    plots: list[PlotSpec] = Field(default_factory=list)


class ExperimentSpec(StrictModel):
    """A whole experiment.

    Attributes:
        name: experiment name; results go to ``runs/<name>/<run-id>/``.
        kind: the workload that runs a trial (``qmml list`` shows them).
        description: one paragraph shown at the top of the report.
        seed: base seed; every trial's seed is derived from it with ``numpy.random.SeedSequence``.
        seeds: number of independent seeds per agent.
        budget: workload budget (e.g. ``steps``, ``runs``); validated by the workload.
        env: environment or dataset settings; validated by the workload.
        agents: the agents compared.
        report: what the report plots.
        quick: overrides applied by ``--quick`` (a tiny budget for smoke runs).
    """

    # a letter or digit first: "..", "." or ".hidden" would leave the results folder
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: str
    description: str = ""
    seed: int = Field(default=0, ge=0)
    seeds: int = Field(default=5, ge=1, le=10_000, strict=True)  # `seeds: true` is no count
    budget: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, Any] = Field(default_factory=dict)
    agents: list[AgentSpec] = Field(min_length=1)
    report: ReportSpec = Field(default_factory=ReportSpec)
    quick: dict[str, Any] = Field(default_factory=dict)

    @field_validator("agents")
    @classmethod
    def _unique_names(cls, v: list[AgentSpec]) -> list[AgentSpec]:
        names = [a.name for a in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"agent names must be unique; repeated: {', '.join(dup)}")
        return v


def format_validation_error(
    err: ValidationError,
    model: type[BaseModel],
    source: str = "",
    prefix: tuple[str, ...] = (),
) -> str:
    """One line for the first error pydantic found, naming the key, the value and what is
    allowed (the keys of the model that owns it, with a "did you mean").

    Args:
        err: pydantic's error.
        model: the model that was validated.
        source: where the data came from (a file, ``--set``), put first.
        prefix: the keys above ``model`` (e.g. ``("env",)`` for a workload's section).
    """
    e = err.errors()[0]
    loc = ".".join(str(p) for p in (*prefix, *e["loc"])) or "<top>"
    lead = f"{source}: " if source else ""
    if e["type"] == "extra_forbidden":
        owner = _owner_of(model, e["loc"])
        allowed = sorted(owner.model_fields) if owner else []
        did = did_you_mean(str(e["loc"][-1]), allowed)
        return f"{lead}unknown key {loc!r}; allowed keys here: {', '.join(allowed)}{did}"
    value = e.get("input")
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    msg = e["msg"].removeprefix("Value error, ")
    return f"{lead}bad value for {loc!r}: {shown} ({msg})"


def _owner_of(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the last key of a validation-error location."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", (ann,))
        sub = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if sub is None:
            return None
        model = sub
    return model


def spec_from_dict(data: Any, source: str = "spec") -> ExperimentSpec:
    """Validate a plain dict into an :class:`ExperimentSpec`.

    Raises:
        SpecError: one line naming the key, the value and what is allowed.
    """
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}: expected a mapping of keys at the top level, got "
            f"{type(data).__name__}; see experiments/specs/*.yaml for examples"
        )
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, ExperimentSpec, source)) from None


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a YAML spec file.

    Raises:
        SpecError: missing file, malformed YAML or an invalid spec.
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{str(path)!r} is a folder; give a spec .yaml file or an experiment name")
    if not path.is_file():
        raise SpecError(
            f"spec file {str(path)!r} not found; give a path to a .yaml file or a "
            "built-in experiment name (qmml list)"
        )
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            f"{path}: {size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,}: put data in files "
            "the spec names"
        )
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise SpecError(
            f"{path}: not UTF-8 text (byte {err.object[err.start]:#x} at offset {err.start}); "
            "save the file as UTF-8"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "cannot parse"
        raise SpecError(
            f"{path}: malformed YAML{where}: {problem}; fix the file's syntax"
        ) from None
    return spec_from_dict(data, source=str(path))


def spec_hash(spec: ExperimentSpec) -> str:
    """A short stable hash of the resolved spec: the same spec always maps to the same run."""
    blob = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def dump_spec(spec: ExperimentSpec) -> str:
    """The spec as YAML text (what ``runs/.../spec.yaml`` holds)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
