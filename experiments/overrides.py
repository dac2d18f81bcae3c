"""Changing a spec from the command line: ``--set KEY=VALUE`` and ``--quick``.

Both edit the spec's plain data and validate it again, so an override gets the same one-line
errors as a spec file.
"""

from __future__ import annotations

from typing import Any

import yaml

from qmml.experiments.spec import AgentSpec, ExperimentSpec, SpecError, parse_yaml, spec_from_dict

__all__ = ["apply_overrides", "apply_quick"]


def _set_path(data: dict[str, Any], keys: list[str], value: Any, raw: str) -> None:
    node: Any = data
    for key in keys[:-1]:
        if isinstance(node, list):
            node = _list_item(node, key, raw)
        else:
            if key not in node or not isinstance(node[key], (dict, list)):
                node[key] = {}
            node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        raise SpecError(f"--set {raw}: cannot replace a whole list item; set one of its keys")
    node[last] = value


def _list_item(items: list[Any], key: str, raw: str) -> Any:
    for item in items:  # a name first: an agent may be called "1"
        if isinstance(item, dict) and item.get("name") == key:
            return item
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    names = [str(i.get("name")) for i in items if isinstance(i, dict)]
    raise SpecError(
        f"--set {raw}: no list item named {key!r}; choose from {', '.join(names)} or an index"
    )


def _split_override(raw: str, data: dict[str, Any]) -> tuple[str, str]:
    """KEY and VALUE of ``KEY=VALUE``; an agent name after ``agents.`` may contain ``=``
    (``agents.ucb c=2.c=3`` sets ``c`` of agent ``ucb c=2``)."""
    if raw.startswith("agents."):
        names = [str(a.get("name")) for a in data.get("agents", []) if isinstance(a, dict)]
        hits = [n for n in names if raw.startswith(f"agents.{n}.") and "=" in n]
        if hits:
            head = f"agents.{max(hits, key=len)}."
            key, text = raw[len(head) :].split("=", 1)
            return head + key, text
    key, text = raw.split("=", 1)
    return key, text


def _split_key(key: str, data: dict[str, Any]) -> list[str]:
    """Split a dotted key; an agent name after ``agents.`` may itself contain dots."""
    if key.startswith("agents."):
        rest = key[len("agents.") :]
        names = [str(a.get("name")) for a in data.get("agents", []) if isinstance(a, dict)]
        hits = [n for n in names if rest.startswith(n + ".")]
        if hits:
            name = max(hits, key=len)
            return ["agents", name, *[k for k in rest[len(name) + 1 :].split(".") if k]]
    return [k for k in key.split(".") if k]


def apply_overrides(
    spec: ExperimentSpec, overrides: list[str], accepts: Any = None
) -> ExperimentSpec:
    """Apply ``key=value`` overrides (values parsed as YAML) and re-validate.

    ``agents.NAME.KEY=V`` sets a parameter of one agent (``params`` is implied), and
    ``agent.KEY=V`` sets parameter KEY on every agent whose type accepts it. ``accepts`` is a
    callable ``(agent_type, key) -> bool`` used for that shorthand.

    Raises:
        SpecError: malformed override, unknown key or bad value.
    """
    data = spec.model_dump(mode="json")
    for raw in overrides:
        if "=" not in raw:
            raise SpecError(f"--set {raw!r}: expected KEY=VALUE, e.g. --set budget.steps=500")
        key, text = _split_override(raw, data)
        try:
            value = parse_yaml(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        keys = _split_key(key.strip(), data)
        if not keys:
            raise SpecError(f"--set {raw!r}: empty key")
        if keys[0] == "agent" and len(keys) == 2:
            hit = [a for a in data["agents"] if accepts is None or accepts(a["type"], keys[1])]
            if not hit:
                raise SpecError(
                    f"--set {raw}: no agent of this experiment takes a parameter {keys[1]!r}"
                )
            for a in hit:
                a["params"][keys[1]] = value
            continue
        if keys[0] == "agents" and len(keys) == 3 and keys[2] not in AgentSpec.model_fields:
            keys = [keys[0], keys[1], "params", keys[2]]
        _set_path(data, keys, value, raw)
    return spec_from_dict(data, source="--set")


def apply_quick(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec with its ``quick`` overrides merged in (a tiny budget for smoke runs)."""
    data = spec.model_dump(mode="json")
    _deep_merge(data, spec.quick)
    return spec_from_dict(data, source="quick")


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
