"""Findings a report may state, generated from the statistics — never more than they allow.

A is said to beat B only when the 95% interval of the difference excludes zero; otherwise the
sentence says there is no detectable difference at this many seeds. A quantity that the seed
cannot change is *deterministic*: seeds give no interval for it, and a report says so instead
of printing a zero-width "CI". With fewer than :data:`MIN_SEEDS` seeds an interval is shown as
"too few seeds". Pure functions of arrays: unit-tested on hand-made tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmml.experiments.stats import bootstrap_diff, bootstrap_mean, probability_of_improvement

__all__ = [
    "MIN_SEEDS",
    "Comparison",
    "compare",
    "finding_sentences",
    "format_estimate",
    "is_deterministic",
]

MIN_SEEDS = 5  # below this, a bootstrap interval over seeds is not worth printing


def is_deterministic(values: np.ndarray) -> bool:
    """Whether every seed gave the same value (a rule, a planner, one seed is not enough)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return len(v) >= 2 and bool(np.ptp(v) == 0)


def format_estimate(values: np.ndarray, digits: int = 4) -> str:
    """A mean with the interval its seeds support: ``1.07 [0.95, 1.19]``, ``1.07
    (deterministic)``, or ``1.07 (2 seeds: too few for an interval)``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "—"
    mean = float(np.mean(v))
    if is_deterministic(v):
        return f"{mean:.{digits}g} (deterministic)"
    if len(v) < MIN_SEEDS:
        n = len(v)
        return f"{mean:.{digits}g} ({n} seed{'s' if n != 1 else ''}: too few for an interval)"
    ci = bootstrap_mean(v)
    return f"{ci.estimate:.{digits}g} [{ci.low:.{digits}g}, {ci.high:.{digits}g}]"


@dataclass(frozen=True)
class Comparison:
    """Agent against a baseline on one metric.

    Attributes:
        agent, baseline: names.
        metric: the metric compared.
        n: seeds of the smaller side.
        diff: mean(agent) − mean(baseline) (in the metric's units).
        low, high: 95% bootstrap interval of ``diff`` (NaN when none can be given).
        p_better: probability that a seed of the agent beats a seed of the baseline.
        verdict: ``better``, ``worse``, ``no detectable difference``, ``deterministic``
            (both sides fixed: seeds cannot compare them), or ``too few seeds``.
    """

    agent: str
    baseline: str
    metric: str
    n: int
    diff: float
    low: float
    high: float
    p_better: float
    verdict: str


def compare(
    agent: str,
    a: np.ndarray,
    baseline: str,
    b: np.ndarray,
    metric: str,
    *,
    higher_is_better: bool = True,
) -> Comparison:
    """Compare per-seed values ``a`` of ``agent`` with ``b`` of ``baseline``.

    The verdict is ``better``/``worse`` only when the interval of the difference excludes
    zero (on the side that counts as better for this metric).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n = int(min(len(a), len(b)))
    if n == 0:
        return Comparison(agent, baseline, metric, 0, np.nan, np.nan, np.nan, np.nan, "no data")
    diff = float(np.mean(a) - np.mean(b))
    sign = 1.0 if higher_is_better else -1.0
    p = float(probability_of_improvement(sign * a, sign * b))
    fixed_a = is_deterministic(a) or len(a) == 1
    fixed_b = is_deterministic(b) or len(b) == 1
    if fixed_a and fixed_b:
        return Comparison(agent, baseline, metric, n, diff, np.nan, np.nan, p, "deterministic")
    if n < MIN_SEEDS:
        return Comparison(agent, baseline, metric, n, diff, np.nan, np.nan, p, "too few seeds")
    ci = bootstrap_diff(a, b)  # of mean(a) - mean(b)
    above, below = ci.low > 0, ci.high < 0
    if higher_is_better:
        verdict = "better" if above else "worse" if below else "no detectable difference"
    else:
        verdict = "better" if below else "worse" if above else "no detectable difference"
    return Comparison(agent, baseline, metric, n, diff, ci.low, ci.high, p, verdict)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _names(items: list[str], k: int = 5) -> str:
    """``a, b and c``; past ``k`` names, ``a, b, c, d, e and 12 more``."""
    if len(items) <= 1:
        return "".join(items)
    if len(items) > k:
        return f"{', '.join(items[:k])} and {len(items) - k} more"
    return f"{', '.join(items[:-1])} and {items[-1]}"


def finding_sentences(comparisons: list[Comparison], metric_label: str) -> list[str]:
    """One or two plain sentences for the top of a report.

    Names the agents that beat a baseline (interval excludes zero), the ones that are worse,
    and says "no detectable difference" for the rest, with the number of seeds; never claims a
    difference whose interval contains zero.
    """
    by_base: dict[str, list[Comparison]] = {}
    for c in comparisons:
        by_base.setdefault(c.baseline, []).append(c)
    out = []
    for base, cs in by_base.items():
        groups: dict[str, list[Comparison]] = {}
        for c in cs:
            groups.setdefault(c.verdict, []).append(c)
        parts = []
        if "better" in groups:
            better = groups["better"]
            shown = [f"{c.agent} ({c.diff:+.3g} [{_fmt(c.low)}, {_fmt(c.high)}])" for c in better]
            verb = "beats" if len(better) == 1 else "beat"
            parts.append(f"{_names(shown, 4)} {verb} {base} on {metric_label}")
        if "worse" in groups:
            worse = [c.agent for c in groups["worse"]]
            parts.append(f"{_names(worse)} {'does' if len(worse) == 1 else 'do'} worse than {base}")
        if "no detectable difference" in groups:
            none = groups["no detectable difference"]
            parts.append(
                f"no detectable difference from {base} for {_names([c.agent for c in none])} "
                f"at {min(c.n for c in none)} seeds (the 95% intervals of the differences "
                "include zero)"
            )
        if "deterministic" in groups:
            fixed = [c.agent for c in groups["deterministic"]]
            parts.append(
                f"{_names(fixed)} and {base} do not vary with the seed, so seeds cannot compare "
                "them (see the intervals over time, where given)"
            )
        if "too few seeds" in groups:
            few = groups["too few seeds"]
            n = max(c.n for c in few)
            parts.append(
                f"{n} seed{'s are' if n != 1 else ' is'} too few to compare "
                f"{_names([c.agent for c in few])} with {base} (use at least {MIN_SEEDS})"
            )
        if parts:
            text = "; ".join(parts)
            if text.startswith("no detectable"):  # a phrase, not an agent's name: capitalise
                text = "N" + text[1:]
            out.append(text + ".")
    return out
