"""How sure a backtest's Sharpe ratio is: intervals over time, and the selection-bias warning.

A rule-based strategy does the same thing under every seed, so a confidence interval over
seeds collapses to a point and says nothing. The uncertainty of a backtest is in the period it
happened to cover: these helpers resample the days (a stationary block bootstrap, see
:func:`experiments.stats.sharpe_bootstrap`) and compare every strategy with a reference on
the same resampled days.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from qmml.experiments.stats import sharpe_bootstrap
from qmml.experiments.workload import PlotContext

__all__ = [
    "MEAN_BLOCK_DAYS",
    "N_BOOT",
    "over_time_findings",
    "selection_note",
    "sharpe_over_time_table",
]

MEAN_BLOCK_DAYS = 21  # about a trading month: keeps volatility clusters inside blocks
N_BOOT = 2000


def _equity_by_agent(ctx: PlotContext) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(steps, equity) of each agent's first stored seed, in spec order."""
    eq = ctx.curves[ctx.curves["metric"] == "equity"]
    out = {}
    for name in ctx.agents:
        sub = eq[eq["agent"] == name]
        if sub.empty:
            continue
        first = sub[sub["seed"] == sub["seed"].min()].sort_values("step")
        out[name] = (first["step"].to_numpy(), first["value"].to_numpy(np.float64))
    return out


def sharpe_over_time_table(
    ctx: PlotContext, reference_type: str = "buy-and-hold"
) -> tuple[str, pd.DataFrame] | None:
    """Each strategy's Sharpe ratio with a 95% block-bootstrap interval over days, and its
    difference from the reference strategy (the first of ``reference_type``) on the same
    resampled days. Strategies over different days from the reference get no difference."""
    series = _equity_by_agent(ctx)
    series = {n: (s, e) for n, (s, e) in series.items() if len(e) >= 3 and np.all(e > 0)}
    if not series:
        return None
    ref = next((n for n in series if ctx.agents[n].type == reference_type), None)
    rows = []
    by_days: dict[bytes, list[str]] = {}
    for name, (steps, _) in series.items():
        by_days.setdefault(steps.tobytes(), []).append(name)
    for names in by_days.values():
        equity = np.stack([series[n][1] for n in names])
        sharpe, reps = sharpe_bootstrap(
            equity[:, 1:] / equity[:, :-1] - 1.0, mean_block=MEAN_BLOCK_DAYS, n_boot=N_BOOT
        )
        with warnings.catch_warnings():  # a flat strategy has no Sharpe ratio: NaN, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(reps, [0.025, 0.975], axis=1)
        r = names.index(ref) if ref in names else None
        for i, name in enumerate(names):
            row = {
                "strategy": name,
                "days": equity.shape[1] - 1,
                "Sharpe ratio": sharpe[i],
                "95% CI low": lo[i],
                "95% CI high": hi[i],
            }
            if r is not None and i != r:
                diff = reps[i] - reps[r]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    d_lo, d_hi = np.nanquantile(diff, [0.025, 0.975])
                row.update(
                    {
                        f"minus {ref}": sharpe[i] - sharpe[r],
                        "diff CI low": d_lo,
                        "diff CI high": d_hi,
                        "share of resamples better": float(np.mean(diff > 0)),
                    }
                )
            rows.append(row)
    title = (
        "Sharpe ratio over time: 95% intervals from a stationary block bootstrap of the daily "
        f"returns (mean block {MEAN_BLOCK_DAYS} days, {N_BOOT} resamples, the same days for "
        "every strategy; first seed)" + (f", and the difference from {ref}" if ref else "")
    )
    return title, pd.DataFrame(rows)


def over_time_findings(ctx: PlotContext, reference_type: str = "buy-and-hold") -> list[str]:
    """The finding of a backtest: which strategies beat (or trail) the reference on Sharpe
    ratio, judged by the block-bootstrap interval over days of the difference; a difference
    whose interval contains zero is reported as none detectable."""
    made = sharpe_over_time_table(ctx, reference_type)
    if made is None:
        return []
    _, table = made
    ref = next((n for n, a in ctx.agents.items() if a.type == reference_type), None)
    col = f"minus {ref}"
    if ref is None or col not in table:
        return []
    rows = table[table[col].notna()]
    if rows.empty:
        return []
    days = int(rows["days"].iloc[0])
    ref_sharpe = float(table.loc[table["strategy"] == ref, "Sharpe ratio"].iloc[0])

    def shown(r: Any) -> str:
        return f"{r.strategy} ({r[col]:+.2f} [{r['diff CI low']:+.2f}, {r['diff CI high']:+.2f}])"

    better = [shown(r) for _, r in rows.iterrows() if r["diff CI low"] > 0]
    worse = [r.strategy for _, r in rows.iterrows() if r["diff CI high"] < 0]
    none = [r.strategy for _, r in rows.iterrows()
            if not (r["diff CI low"] > 0 or r["diff CI high"] < 0)]  # fmt: skip
    parts = [f"Over these {days} days {ref} has a Sharpe ratio of {ref_sharpe:.2f}"]
    if better:
        parts.append(f"{', '.join(better)} beat{'s' if len(better) == 1 else ''} it")
    if worse:
        parts.append(f"{', '.join(worse)} trail{'s' if len(worse) == 1 else ''} it")
    if none:
        parts.append(
            f"for {', '.join(none)} the 95% interval of the difference includes zero: no "
            "detectable difference on this period"
        )
    return [
        "; ".join(parts) + " (differences in Sharpe ratio, 95% block-bootstrap intervals over "
        "days; seeds cannot vary a rule-based strategy)."
    ]


def selection_note(ctx: PlotContext) -> str | None:
    """A warning when several parameter combinations of one strategy were tried on the same
    period: the best of them is an optimistic estimate of what it would earn later."""
    sizes = Counter(a.group for a in ctx.agents.values())
    tried = {g: n for g, n in sizes.items() if n > 1}
    if not tried:
        return None
    what = ", ".join(f"{n} of {g}" for g, n in tried.items())
    return (
        f"Parameter combinations tried on this one period: {what}. The best of them looks "
        "better than it would on new data (selection bias), and the Sharpe intervals below "
        "do not correct for the choice: pick parameters on an earlier period and confirm "
        "them on a later one (env start/end; --start/--end of qmml backtest)."
    )
