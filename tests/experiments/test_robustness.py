"""Input the runner, the store and the reports must survive: odd agent names, damaged run
folders, non-UTF-8 specs, bad plot settings (caught before any trial runs), and comparing
two runs of the same spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from qmml.experiments.compare import compare_runs
from qmml.experiments.overrides import apply_overrides
from qmml.experiments.report import build_report
from qmml.experiments.runner import run_experiment
from qmml.experiments.spec import SpecError, load_spec, spec_from_dict
from qmml.experiments.store import RunDir

TINY = {
    "name": "tiny",
    "kind": "bandit-testbed",
    "seed": 1,
    "seeds": 2,
    "budget": {"steps": 20, "runs": 5},
    "agents": [
        {"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}},
        {"name": "greedy", "type": "epsilon-greedy", "params": {"epsilon": 0.0}},
    ],
    "report": {"primary": "mean_reward", "plots": [{"plot": "curve", "metric": "reward"}]},
}


def _run(data: dict, out: Path):
    return run_experiment(spec_from_dict(data), out=out, executor="serial", progress=False)


def test_names_that_look_like_numbers_or_missing_values_stay_names(tmp_path: Path) -> None:
    agents = [
        {"name": name, "type": "epsilon-greedy", "params": {"epsilon": 0.1}}
        for name in ("NA", "2", "True", ".1-greedy")
    ]
    outcome = _run({**TINY, "agents": agents}, tmp_path)
    _, scalars = outcome.run_dir.load_tables()
    assert set(scalars["agent"]) == {"NA", "2", "True", ".1-greedy"}
    summary = (build_report(outcome.run_dir.path).parent / "summary.csv").read_text()
    for name in ("NA", "2", "True", ".1-greedy"):
        assert f"\n{name}," in summary
    # a leading dot must not make the trial folder hidden (and deleted as half-written)
    again = _run({**TINY, "agents": agents}, tmp_path)
    assert (again.ran, again.skipped) == (0, 8)


def test_set_targets_the_agent_named_like_an_index() -> None:
    agents = [  # "1" sits at index 0, so reading the key as an index picks "eps"
        {"name": "1", "type": "epsilon-greedy", "params": {"epsilon": 0.3}},
        {"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}},
    ]
    spec = apply_overrides(spec_from_dict({**TINY, "agents": agents}), ["agents.1.epsilon=0.9"])
    params = {a.name: a.params["epsilon"] for a in spec.agents}
    assert params == {"eps": 0.1, "1": 0.9}


def test_a_trial_missing_a_file_runs_again(tmp_path: Path) -> None:
    first = _run(TINY, tmp_path)
    reference = (first.run_dir.path / "scalars.csv").read_bytes()
    (first.run_dir.trials_dir / "eps__seed001" / "curves.parquet").unlink()
    again = _run(TINY, tmp_path)
    assert (again.ran, again.skipped) == (1, 3)
    assert (again.run_dir.path / "scalars.csv").read_bytes() == reference


def test_damaged_run_folders_give_one_line_errors(tmp_path: Path) -> None:
    run = _run(TINY, tmp_path).run_dir.path
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "meta.json").write_text('{"status": "comp')
    with pytest.raises(SpecError, match=r"meta\.json is damaged"):
        build_report(broken)
    (broken / "spec.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        RunDir(broken).load_spec()


def test_a_spec_that_is_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("name: tiny\ndescription: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(f)


@pytest.mark.parametrize(
    ("plot", "match"),
    [
        ({"plot": "curvy", "metric": "reward"}, "unknown plot kind 'curvy'.*did you mean 'curve'"),
        ({"plot": "curve", "metric": "reward", "options": {"smooth": "abc"}}, "smooth='abc'"),
        ({"plot": "curve", "metric": "reward", "options": {"hline": "x"}}, "must be a number"),
    ],
)
def test_bad_plots_are_refused_before_any_trial_runs(tmp_path: Path, plot, match) -> None:
    with pytest.raises(SpecError, match=match):
        _run({**TINY, "report": {"plots": [plot]}}, tmp_path)
    assert not list(tmp_path.rglob("trials"))


def test_param_study_over_named_settings_says_what_it_needs(tmp_path: Path) -> None:
    data = {
        **TINY,
        "agents": [
            {
                "name": "sched",
                "type": "epsilon-greedy",
                "params": {"epsilon": 1.0},
                "sweep": {"schedule": ["inverse", "exponential"]},
            }
        ],
        "report": {"plots": [{"plot": "param_study", "metric": "mean_reward"}]},
    }
    outcome = _run(data, tmp_path)
    with pytest.raises(SpecError, match="numeric swept parameter"):
        build_report(outcome.run_dir.path)


def test_compare_keeps_two_runs_of_the_same_spec_apart(tmp_path: Path) -> None:
    a = _run(TINY, tmp_path / "a").run_dir.path
    b = _run({**TINY, "seed": 2}, tmp_path / "b").run_dir.path
    same_id = tmp_path / "c" / a.name
    shutil.copytree(b, same_id)  # the same run id (spec hash) in another folder
    report = compare_runs([a, same_id], out=tmp_path / "cmp")
    summary = pd.read_csv(report.parent / "summary.csv")
    assert len(set(summary["agent"])) == 4  # not merged into two
    with pytest.raises(SpecError, match="same run folder twice"):
        compare_runs([a, a], out=tmp_path / "cmp2")
    meta = json.loads((a / "meta.json").read_text())
    assert meta["status"] == "complete"


def test_yaml_with_a_repeated_key_and_boolean_seeds(tmp_path: Path) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text("name: tiny\nkind: bandit-testbed\nseeds: 2\nseeds: 3\n")
    with pytest.raises(SpecError, match="'seeds' appears twice"):
        load_spec(f)
    with pytest.raises(SpecError, match="seeds"):
        spec_from_dict({**TINY, "seeds": True})
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)


def test_set_reaches_an_agent_whose_name_has_an_equals_sign() -> None:
    agents = [{"name": "ucb c=2", "type": "ucb", "params": {"c": 2.0}}]
    spec = apply_overrides(spec_from_dict({**TINY, "agents": agents}), ["agents.ucb c=2.c=3"])
    assert spec.agents[0].params == {"c": 3}


def test_cli_small_errors(tmp_path: Path, capsys) -> None:
    from qmml.experiments.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    common = ["run", str(spec), "--out", str(tmp_path), "--no-progress"]
    assert main([*common, "--seeds", "0"]) == 2
    assert "--seeds 0: give at least 1 seed" in capsys.readouterr().err
    assert main([*common, "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["run", "bandit-stocks", "--quick", "--set", "env.tickers=[AAPL]"]) == 2
    assert "at least 2 arms" in capsys.readouterr().err
    assert main(["backtest", "sma-crossover", "--param", "fast=abc", "--out", str(tmp_path)]) == 2
    assert "given fast='abc'" in capsys.readouterr().err


def test_agent_names_that_collide_are_named_in_the_error(tmp_path: Path) -> None:
    greek = [
        {"name": n, "type": "epsilon-greedy", "params": {"epsilon": 0.1}}
        for n in ("ε-greedy", "δ-greedy")
    ]
    assert _run({**TINY, "agents": greek}, tmp_path).ran == 4  # distinct letters: fine
    punct = [
        {"name": n, "type": "epsilon-greedy", "params": {"epsilon": 0.1}}
        for n in ("eps (a)", "eps [a]")
    ]
    with pytest.raises(SpecError, match=r"agents 'eps \(a\)' and 'eps \[a\]' map to the same"):
        _run({**TINY, "agents": punct}, tmp_path)
    twice = [{"name": "e", "type": "epsilon-greedy", "sweep": {"epsilon": [0.1, 0.1]}}]
    with pytest.raises(SpecError, match="appears twice"):
        _run({**TINY, "agents": twice}, tmp_path)


def test_set_env_that_every_agent_overrides_is_refused(capsys) -> None:
    from qmml.experiments.cli import main

    argv = ["run", "gridworld-dp", "--quick", "--set", "env.gamma=1.5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "every agent sets env.gamma itself" in err and len(err.strip().splitlines()) == 1
