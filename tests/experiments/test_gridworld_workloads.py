"""Quick runs, reports, determinism and spec validation of gridworld-dp and gridworld-control."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmml.experiments.cli import main, resolve_spec
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import plan_trials, run_experiment
from qmml.experiments.spec import SpecError

pytestmark = pytest.mark.slow  # each quick run takes a few seconds on 2 shared cores


def _run(name: str, out: Path):
    spec = apply_quick(resolve_spec(name))
    outcome = run_experiment(spec, out=out, executor="serial", progress=False)
    assert outcome.failed == [] and outcome.ran == outcome.n_trials
    return outcome


@pytest.fixture(scope="module")
def dp_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dp")
    return _run("gridworld-dp", root / "a").run_dir.path, _run(
        "gridworld-dp", root / "b"
    ).run_dir.path


@pytest.fixture(scope="module")
def control_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("control")
    return (
        _run("gridworld-control", root / "a").run_dir.path,
        _run("gridworld-control", root / "b").run_dir.path,
    )


def _scalars(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "scalars.csv")


def _assert_same_results(a: Path, b: Path) -> None:
    assert (a / "curves.parquet").read_bytes() == (b / "curves.parquet").read_bytes()
    sa, sb = _scalars(a), _scalars(b)
    keep_a, keep_b = ~sa["metric"].str.endswith("wall_s"), ~sb["metric"].str.endswith("wall_s")
    assert keep_a.sum() < len(sa)  # timings exist and are the only thing left out
    assert sa[keep_a].to_csv(index=False) == sb[keep_b].to_csv(index=False)


def test_dp_quick_run_values_and_report(dp_runs) -> None:
    run, _ = dp_runs
    s = _scalars(run)
    start = s[s["metric"] == "start_value"].set_index("agent")["value"]
    assert start["fig3.5 optimal"] == pytest.approx(21.977, abs=1e-3)  # v*(0, 0), Fig. 3.5
    assert start["fig3.2 random policy"] == pytest.approx(3.309, abs=1e-3)  # Fig. 3.2
    assert start["ex4.1 sync"] == pytest.approx(-18.0) == start["ex4.1 in-place"]
    assert start["frozenlake8x8 VI"] == pytest.approx(start["frozenlake8x8 PI"], abs=1e-8)
    assert start["maze VI"] == pytest.approx(start["maze PI exact"], abs=1e-8)
    assert (s[s["metric"] == "bellman_residual"]["value"] < 1e-9).all()
    sweeps = s[s["metric"] == "sweeps"].set_index("agent")["value"]
    assert sweeps["ex4.1 in-place"] < sweeps["ex4.1 sync"]
    assert sweeps["frozenlake8x8 PI"] < sweeps["frozenlake8x8 VI"]
    c = pd.read_parquet(run / "curves.parquet")
    gambler = c[(c["agent"] == "gambler p=0.4") & (c["metric"] == "policy")]
    assert gambler.set_index("step").loc[50, "value"] == 50
    html = build_report(run)
    assert html.is_file()
    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert len(figures) == len(resolve_spec("gridworld-dp").report.plots)
    assert any("gambler" in f for f in figures) and any("figure-4-1" in f for f in figures)
    assert "fig3.5 optimal: 25 states" in (run / "summary.md").read_text()


def test_dp_deterministic(dp_runs) -> None:
    _assert_same_results(*dp_runs)


def test_control_quick_run_and_report(control_runs) -> None:
    run, _ = control_runs
    s = _scalars(run)
    opt = s[s["metric"] == "optimal_value"].groupby("agent")["value"].mean()
    assert opt["cliff Q-learning"] == -13.0 and opt["cliff SARSA"] == -13.0
    c = pd.read_parquet(run / "curves.parquet")
    for metric in ("return", "cumulative_regret", "greedy_value", "path", "layout_map"):
        assert metric in set(c["metric"]), metric
    ret = c[(c["agent"] == "cliff SARSA") & (c["metric"] == "return") & (c["seed"] == 0)]
    assert len(ret) == 30
    regret = c[
        (c["agent"] == "cliff SARSA") & (c["metric"] == "cumulative_regret") & (c["seed"] == 0)
    ]["value"].to_numpy()
    np.testing.assert_allclose(regret, np.cumsum(-13.0 - ret["value"].to_numpy()))
    path = c[(c["agent"] == "cliff Q-learning") & (c["metric"] == "path")]
    assert (path[path["step"] == 0]["value"] == 36).all()  # from the start (row 3, col 0)
    build_report(run)
    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert len(figures) == len(resolve_spec("gridworld-control").report.plots)
    assert any("figure-6-4" in f for f in figures) and any("paths" in f for f in figures)


def test_control_deterministic(control_runs) -> None:
    _assert_same_results(*control_runs)


def _bad(name: str, *overrides: str) -> None:
    spec = apply_overrides(apply_quick(resolve_spec(name)), list(overrides))
    plan_trials(spec)


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        ("gridworld-dp", ["agents.fig3.5 optimal.env.map=nowhere"], "unknown built-in map"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.map=[S.., ..S, G..]"], "2 starts"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.map=[..., ..G]"], "no start"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.map=[S.Q, ..G]"], "unknown map character"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.map=[S..G, .G]"], "ragged map"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.map=['S#.', '##G']"], "cannot be reached"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.slip=1.0"], "slip=1.0 is out of range"),
        ("gridworld-dp", ["agents.fig3.5 optimal.env.gamma=1.5"], "env.gamma"),
        (
            "gridworld-dp",
            ["agents.fig3.5 optimal.env.gamma=1.0"],
            "no transition of this MDP terminates",
        ),
        (
            "gridworld-dp",
            ["agents.fig3.2 random policy.env.gamma=1.0"],
            r"never terminates from 25 state\(s\)",
        ),
        ("gridworld-dp", ["agents.gambler p=0.4.env.p_heads=1.5"], "p_heads"),
        ("gridworld-dp", ["agents.fig3.5 optimal.params.tol=0"], "tol"),
        (
            "gridworld-dp",
            ["agents.frozenlake4x4 VI.env.gym_id=NoSuchEnv-v9"],
            "cannot make 'NoSuchEnv-v9'",
        ),
        (
            "gridworld-dp",
            [
                "agents.fig3.5 optimal.env.problem=gymnasium",
                "agents.fig3.5 optimal.env.gym_id=CartPole-v1",
            ],
            "has no tabular model P",
        ),
        ("gridworld-dp", ["env.maze_loops=2"], "maze_loops"),
        ("gridworld-control", ["agents.cliff SARSA.params.seed=3"], "set by the experiment's seed"),
        ("gridworld-control", ["agents.cliff SARSA.params.gamma=0.5"], "set by env.gamma"),
        ("gridworld-control", ["agents.cliff SARSA.params.epsilon=2"], "epsilon=2"),
        ("gridworld-control", ["agents.cliff SARSA.env.problem=gambler"], "no Gymnasium env"),
        ("gridworld-control", ["agents.cliff SARSA.env.map=5x5"], "1 needs an episodic task"),
        ("gridworld-control", ["budget.episodes=0"], "budget.episodes"),
        ("gridworld-control", ["agents.cliff SARSA.env.wind_noise=true"], "has no wind"),
    ],
)
def test_spec_validation(name: str, overrides: list[str], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        _bad(name, *overrides)


def test_cli_lists_gridworld_envs_and_experiments(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for item in ("gridworld-dp", "gridworld-control", "qmml/CliffWalking-v0", "qmml/RandomMaze-v0"):
        assert item in out


def test_stochastic_windy_gridworld_through_a_spec(tmp_path: Path) -> None:
    # Exercise 6.10 from a spec: SARSA learns on the stochastic windy gridworld, against V*
    spec = apply_overrides(
        apply_quick(resolve_spec("gridworld-control")),
        [
            "agents=[{name: windy SARSA, type: sarsa, params: {alpha: 0.5, epsilon: 0.1}}]",
            "env.map=windy",
            "env.wind_noise=true",
            "report.plots=[]",
            "seeds=1",
        ],
    )
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.failed == []
    s = _scalars(outcome.run_dir.path)
    v_star = s[s["metric"] == "optimal_value"]["value"].iloc[0]
    assert v_star == pytest.approx(-20.628, abs=1e-3)  # steady wind: -15
