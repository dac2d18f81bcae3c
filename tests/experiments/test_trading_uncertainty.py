"""Sharpe intervals over time for backtest reports, and the selection-bias note."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from qmml.experiments.cli import resolve_spec
from qmml.experiments.workload import PlotContext, ResolvedAgent
from qmml.experiments.workloads.trading.uncertainty import selection_note, sharpe_over_time_table


def _ctx(equity: dict[str, np.ndarray], types: dict[str, str], groups=None) -> PlotContext:
    rows = []
    for name, eq in equity.items():
        for seed in (0, 1):
            rows += [(name, seed, 20200101 + t, "equity", v) for t, v in enumerate(eq)]
    curves = pd.DataFrame(rows, columns=["agent", "seed", "step", "metric", "value"])
    agents = {n: ResolvedAgent(n, types[n], {}, {}, (groups or {}).get(n, n)) for n in equity}
    return PlotContext(resolve_spec("trading-baselines"), curves, curves.iloc[:0], agents)


def test_intervals_cover_the_estimate_and_the_reference_has_no_difference() -> None:
    rng = np.random.default_rng(0)
    bh = 100 * np.cumprod(1 + rng.normal(0.0005, 0.01, 500))
    other = 100 * np.cumprod(1 + rng.normal(0.0002, 0.01, 500))
    flat = np.full(500, 100.0)  # never trades: no Sharpe ratio
    ctx = _ctx(
        {"hold": bh, "other": other, "flat": flat},
        {"hold": "buy-and-hold", "other": "sma-crossover", "flat": "sma-crossover"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no All-NaN warnings from the flat strategy
        title, table = sharpe_over_time_table(ctx)
    assert "difference from hold" in title
    t = table.set_index("strategy")
    for name in ("hold", "other"):
        assert t.loc[name, "95% CI low"] < t.loc[name, "Sharpe ratio"] < t.loc[name, "95% CI high"]
    assert np.isnan(t.loc["hold", "minus hold"])  # the reference itself
    d = t.loc["other", "minus hold"]
    assert d == pytest.approx(t.loc["other", "Sharpe ratio"] - t.loc["hold", "Sharpe ratio"])
    assert t.loc["other", "diff CI low"] < d < t.loc["other", "diff CI high"]
    assert 0.0 <= t.loc["other", "share of resamples better"] <= 1.0
    assert np.isnan(t.loc["flat", "Sharpe ratio"]) and np.isnan(t.loc["flat", "95% CI low"])
    # rebuilt from the same results: the same numbers, to the bit
    pd.testing.assert_frame_equal(table, sharpe_over_time_table(ctx)[1])


def test_selection_note_only_for_grids() -> None:
    eq = np.linspace(100, 110, 50)
    single = _ctx({"a": eq, "b": eq}, {"a": "buy-and-hold", "b": "sma-crossover"})
    assert selection_note(single) is None
    grid = _ctx(
        {"sma[5]": eq, "sma[10]": eq, "sma[20]": eq},
        dict.fromkeys(["sma[5]", "sma[10]", "sma[20]"], "sma-crossover"),
        groups=dict.fromkeys(["sma[5]", "sma[10]", "sma[20]"], "sma"),
    )
    note = selection_note(grid)
    assert "3 of sma" in note and "selection bias" in note
