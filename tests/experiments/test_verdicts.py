"""The verdict generator on hand-made numbers: a difference is claimed only where its interval
excludes zero; deterministic quantities and too few seeds are named, never given fake CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmml.experiments.catalogue import metric_label
from qmml.experiments.results import PlotContext, ResolvedAgent
from qmml.experiments.spec import spec_from_dict
from qmml.experiments.verdicts import (
    MIN_SEEDS,
    compare,
    finding_sentences,
    format_estimate,
    is_deterministic,
)

CLEARLY_BETTER = np.array([2.0, 2.1, 1.9, 2.05, 1.95, 2.02])
BASE = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 1.02])
NOISY = np.array([0.2, 1.9, 1.1, 0.4, 1.7, 0.9])


def test_better_only_when_the_interval_excludes_zero() -> None:
    c = compare("a", CLEARLY_BETTER, "base", BASE, "m")
    assert c.verdict == "better" and c.low > 0 and c.diff == pytest.approx(1.0, abs=1e-9)
    c = compare("a", NOISY, "base", BASE, "m")
    assert c.verdict == "no detectable difference" and c.low < 0 < c.high
    c = compare("a", BASE, "base", CLEARLY_BETTER, "m")
    assert c.verdict == "worse" and c.high < 0


def test_lower_is_better_flips_the_verdict() -> None:
    c = compare("a", BASE, "base", CLEARLY_BETTER, "loss", higher_is_better=False)
    assert c.verdict == "better" and c.high < 0 and c.p_better == 1.0
    c = compare("a", CLEARLY_BETTER, "base", BASE, "loss", higher_is_better=False)
    assert c.verdict == "worse"


def test_deterministic_pairs_and_too_few_seeds_get_no_interval() -> None:
    c = compare("rule", np.full(6, 1.2), "bh", np.full(6, 1.0), "sharpe")
    assert c.verdict == "deterministic" and np.isnan(c.low) and np.isnan(c.high)
    c = compare("a", CLEARLY_BETTER[:2], "base", BASE[:2], "m")
    assert c.verdict == "too few seeds" and c.n == 2 and np.isnan(c.low)
    c = compare("a", np.array([]), "base", BASE, "m")
    assert c.verdict == "no data"


def test_format_estimate_is_honest() -> None:
    assert format_estimate(np.full(5, 1.071)) == "1.071 (deterministic)"
    assert format_estimate(np.array([1.0, 2.0])) == "1.5 (2 seeds: too few for an interval)"
    assert format_estimate(np.array([np.nan])) == "—"
    text = format_estimate(NOISY)
    assert text.startswith("1.033 [") and text.endswith("]")
    assert is_deterministic(np.array([3.0, 3.0])) and not is_deterministic(np.array([3.0]))


def test_finding_sentences_never_claim_what_the_interval_does_not_show() -> None:
    cs = [
        compare("winner", CLEARLY_BETTER, "buy-and-hold", BASE, "sharpe_ratio"),
        compare("coin flip", NOISY, "buy-and-hold", BASE, "sharpe_ratio"),
        compare("loser", BASE - 1, "buy-and-hold", BASE, "sharpe_ratio"),
        compare("rule", np.full(6, 9.0), "fixed", np.full(6, 1.0), "sharpe_ratio"),
    ]
    text = " ".join(finding_sentences(cs, metric_label("sharpe_ratio")))
    assert "winner (+1 [" in text and "beats buy-and-hold on Sharpe ratio" in text
    assert "no detectable difference from buy-and-hold for coin flip at 6 seeds" in text
    assert "loser does worse than buy-and-hold" in text
    assert "coin flip beat" not in text and "rule beat" not in text
    assert "do not vary with the seed" in text


def test_finding_with_too_few_seeds_says_so_and_counts_long_lists() -> None:
    cs = [compare(f"a{i}", CLEARLY_BETTER[:2], "b", BASE[:2], "m") for i in range(8)]
    (text,) = finding_sentences(cs, "m")
    assert text.startswith("2 seeds are too few to compare a0, a1, a2, a3, a4 and 3 more with b")
    assert f"use at least {MIN_SEEDS}" in text
    assert finding_sentences([], "m") == []


def test_report_comparisons_use_the_named_baseline_not_the_best(tmp_path) -> None:
    from qmml.experiments.report import comparisons_table

    agents = {n: ResolvedAgent(n, "t", {}, {}, n) for n in ("oracle", "bh", "eps")}
    rows = [(n, s, v) for n, vals in (("oracle", BASE + 5), ("bh", BASE), ("eps", NOISY))
            for s, v in enumerate(vals)]  # fmt: skip
    scalars = pd.DataFrame(rows, columns=["agent", "seed", "value"]).assign(metric="m", trial="t")
    spec = spec_from_dict(
        {"name": "x", "kind": "bandit-testbed", "agents": [{"name": "a", "type": "ucb"}]}
    )
    ctx = PlotContext(spec, pd.DataFrame(), scalars, agents)
    comp = comparisons_table(ctx, "m", ["bh"])
    assert set(comp["baseline"]) == {"bh"} and set(comp["agent"]) == {"oracle", "eps"}
    default = comparisons_table(ctx, "m", [])
    assert set(default["baseline"]) == {"oracle"}  # no baseline named: the best of the setting


def test_metric_labels_carry_units() -> None:
    assert metric_label("max_drawdown_pct") == "max drawdown [%]"
    assert metric_label("epoch_wall_s") == "epoch [s, wall clock]"
    assert metric_label("train_cpu_s") == "train [CPU-s]"
    assert metric_label("some_metric") == "some metric"
