"""What trials produce and what reports read: plain tables, never agent objects.

:class:`ResolvedAgent` is the unit a trial runs, :class:`TrialResult` what one trial returns,
and :class:`PlotContext` the stored results a figure, a note or a table is drawn from (with
query helpers, so plot code does not filter the long tables by hand).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from qmml.experiments.spec import ExperimentSpec

__all__ = ["PlotContext", "ResolvedAgent", "TrialResult", "dates_of", "rows_of", "ymd"]


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
        curves: Mapping[str, np.ndarray] | None = None,
        scalars: Mapping[str, float | np.ndarray] | None = None,
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

    def curve(self, metric: str, agent: str | None = None) -> pd.DataFrame:
        """Rows of ``curves`` for one metric (and one agent, if given)."""
        return rows_of(self.curves, metric, agent)

    def scalar(self, metric: str, agent: str | None = None) -> pd.DataFrame:
        """Rows of ``scalars`` for one metric (and one agent, if given)."""
        return rows_of(self.scalars, metric, agent)

    def scalar_values(self, metric: str, agent: str) -> np.ndarray:
        """One agent's values of a scalar metric (one per seed, or a sample), as floats."""
        return self.scalar(metric, agent)["value"].to_numpy(dtype=np.float64)

    def agents_with(self, metric: str, table: str = "curves") -> list[str]:
        """Agents (in spec order) that have rows of ``metric`` in ``curves`` or ``scalars``."""
        df = self.curves if table == "curves" else self.scalars
        have = set(df.loc[df["metric"] == metric, "agent"])
        return [a for a in self.agents if a in have]


_INDEX: dict[int, tuple[Any, dict[Any, np.ndarray], dict[Any, np.ndarray]]] = {}


def rows_of(table: pd.DataFrame, metric: str, agent: str | None = None) -> pd.DataFrame:
    """Rows of a long results table (``curves`` or ``scalars``) for one metric (and agent).

    The (agent, metric) → rows index is built once per table and reused: a report draws many
    figures from one table of millions of rows, and a boolean mask per figure costs seconds.
    """
    entry = _INDEX.get(id(table))
    if entry is None or entry[0]() is not table:
        if len(_INDEX) > 8:  # tables of earlier reports
            _INDEX.clear()
        by_pair = table.groupby(["agent", "metric"], sort=False).indices if len(table) else {}
        by_metric = table.groupby("metric", sort=False).indices if len(table) else {}
        entry = (weakref.ref(table), by_pair, by_metric)
        _INDEX[id(table)] = entry
    _, by_pair, by_metric = entry
    idx = by_metric.get(metric) if agent is None else by_pair.get((agent, metric))
    if idx is None:
        return table.iloc[0:0]
    return table.iloc[idx]


def ymd(dates: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """Dates as YYYYMMDD integers: how curves store a calendar ``step``."""
    return pd.DatetimeIndex(dates).strftime("%Y%m%d").astype(np.int64).to_numpy()


def dates_of(steps: np.ndarray | pd.Series) -> pd.DatetimeIndex:
    """YYYYMMDD integer steps back as dates (the inverse of :func:`ymd`)."""
    return pd.to_datetime(np.asarray(steps).astype(np.int64).astype(str), format="%Y%m%d")
