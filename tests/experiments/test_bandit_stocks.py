"""bandit-stocks: the random nulls (daily pickers and buy-one-and-hold holders) and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qmml.envs.market.sources import load_market
from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import run_experiment

QUICK_AGENTS = (
    "agents=[{name: eps, type: epsilon-greedy, params: {epsilon: 0.1}},"
    " {name: pickers, type: random}, {name: holders, type: random-held},"
    " {name: ew, type: equal-weight}]"
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    spec = apply_overrides(
        apply_quick(resolve_spec("bandit-stocks")), [QUICK_AGENTS, "report.plots=[]", "seeds=3"]
    )
    out = tmp_path_factory.mktemp("bandit-stocks")
    outcome = run_experiment(spec, out=out, executor="serial", progress=False)
    assert not outcome.failed
    return spec, outcome.run_dir


def test_random_holders_hold_one_random_stock(quick_run) -> None:
    spec, run_dir = quick_run
    _, scalars = run_dir.load_tables()
    closes = load_market("stocks20", start=spec.env["start"], end=spec.env["end"]).close
    cost = spec.env["cost_bps"] / 1e4
    single_stock = closes[-1] / closes[0] * (1 - cost)  # buy on day one, hold, pay one side
    held = scalars[(scalars["agent"] == "holders") & (scalars["metric"] == "final_wealth")]
    assert len(held) == 3 * spec.budget["random_pickers"]
    # every holder ends with the wealth of one of the stocks held from day one
    # (scalars.csv keeps 12 significant digits; the stocks differ by far more)
    match = np.isclose(held["value"].to_numpy()[:, None], single_stock[None, :], rtol=1e-9)
    assert match.any(axis=1).all()
    # and the seed decides which stocks: the three seeds do not draw the same picks
    by_seed = [tuple(np.round(g["value"], 12)) for _, g in held.groupby("seed")]
    assert len(set(by_seed)) == 3


def test_report_uses_both_nulls(quick_run) -> None:
    _, run_dir = quick_run
    html = build_report(run_dir.path).read_text()
    assert "Random holders" in html and "Random pickers" in html
    assert "median p vs random holders" in html and "median p vs random pickers" in html
    assert "add a `random-held` agent" not in html


def test_report_warns_when_only_daily_pickers_are_the_null(tmp_path: Path) -> None:
    agents = QUICK_AGENTS.replace(" {name: holders, type: random-held},", "")
    spec = apply_overrides(
        apply_quick(resolve_spec("bandit-stocks")), [agents, "report.plots=[]", "seeds=1"]
    )
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    html = build_report(outcome.run_dir.path).read_text()
    assert "add a `random-held` agent" in html
    assert "median p vs random holders" not in html
