"""The dqn-cartpole workload: the lecture's target reported honestly, determinism, --quick."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from qmml.experiments.cli import main
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.runner import trial_context
from qmml.experiments.spec import SpecError, load_spec
from qmml.experiments.workload import PlotContext, expand_agents
from qmml.experiments.workloads.control.dqn_cartpole import DQNCartPole

SPEC = Path(__file__).resolve().parents[2] / "experiments" / "specs" / "dqn-cartpole.yaml"
WL = DQNCartPole()


def _ctx(values: dict[str, list[float]]) -> PlotContext:
    spec = load_spec(SPEC)
    rows = [
        (f"{a}__seed{i:03d}", a, i, "eval_avg_return", v)
        for a, vals in values.items()
        for i, v in enumerate(vals)
    ]
    scalars = pd.DataFrame(rows, columns=["trial", "agent", "seed", "metric", "value"])
    agents = {a.name: a for a in expand_agents(spec)}
    return PlotContext(spec, pd.DataFrame(), scalars, agents)


def test_notes_say_met_or_missed_with_the_count_of_seeds():
    notes = WL.notes(_ctx({"dqn": [500.0, 480.0, 455.0], "ppo": [500.0, 120.0, 300.0]}))
    dqn, ppo = notes
    assert dqn.startswith("dqn:") and "is met on average" in dqn
    assert "reached by 3 of 3 seed(s)" in dqn and "mean 478.3" in dqn
    assert ppo.startswith("ppo:") and "is missed on average" in ppo
    assert "reached by 1 of 3 seed(s)" in ppo
    assert "over 100 greedy episodes" in dqn


def test_same_seed_same_learning_curve():
    torch.set_num_threads(1)
    spec = apply_overrides(
        apply_quick(load_spec(SPEC)), ["budget.timesteps=600", "budget.eval_episodes=2"]
    )
    agent = next(a for a in expand_agents(spec) if a.name == "dqn")
    one = WL.run_trial(spec, agent, trial_context(spec, 0))
    two = WL.run_trial(spec, agent, trial_context(spec, 0))
    pd.testing.assert_frame_equal(one.curves, two.curves)
    pd.testing.assert_frame_equal(one.scalars, two.scalars)
    sc = dict(zip(one.scalars["metric"], one.scalars["value"], strict=True))
    assert sc["target_met"] == float(sc["eval_avg_return"] >= 450)
    assert 8 <= sc["eval_avg_return"] <= 500  # CartPole-v1 episodes last 8..500 steps
    steps = one.curves.loc[one.curves["metric"] == "avg100_return", "step"].to_numpy()
    # one point per bin edge, up to the last step taken (DQN collects 256 steps at a time)
    assert (np.diff(steps) > 0).all() and steps[-1] == 768
    last = one.curves.loc[one.curves["metric"] == "avg100_return", "value"].iloc[-1]
    assert last == pytest.approx(sc["final_avg100_return"])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["agents.dqn.type=dqm"], r"unknown agent type 'dqm'.*did you mean 'dqn'"),
        (["budget.episodes=3"], r"unknown key 'budget.episodes'"),
        (["agents.ppo.hyperparams={buffer_size: 10}"], r"'buffer_size' is not an argument of PPO"),
    ],
)
def test_spec_errors(overrides, match):
    with pytest.raises(SpecError, match=match):
        WL.validate(apply_overrides(load_spec(SPEC), overrides))


@pytest.mark.slow
def test_quick_run_reports_the_target(tmp_path):
    out = tmp_path / "runs"
    code = main(
        [
            "run",
            "dqn-cartpole",
            "--quick",
            "--out",
            str(out),
            "--executor",
            "serial",
            "--no-progress",
        ]
    )
    assert code == 0
    run = next((out / "dqn-cartpole").iterdir())
    summary = (run / "summary.md").read_text()
    assert "the lecture's target (average reward >= 450" in summary
    assert ("is met on average" in summary) or ("is missed on average" in summary)
    assert any("average-of-the-last-100" in p.name for p in (run / "figures").glob("*.png"))
    curves = pd.read_parquet(run / "curves.parquet")
    assert set(curves["metric"]) == {"episode_return", "avg100_return"}
    assert curves.groupby("agent")["seed"].nunique().to_dict() == {"dqn": 2, "ppo": 2}
