"""Every validation path of experiment specs: one clear line naming the key, value and fix."""

from pathlib import Path

import pytest
import yaml

from qmml.experiments.cli import main, resolve_spec
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.runner import plan_trials
from qmml.experiments.spec import SpecError, load_spec, spec_from_dict, spec_hash
from qmml.experiments.workload import accepts_param, get_workload

BASE = {
    "name": "t",
    "kind": "bandit-testbed",
    "seeds": 2,
    "budget": {"steps": 10, "runs": 4},
    "agents": [{"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}}],
}


def _write(tmp_path: Path, data, name="spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def _plan(data):
    return plan_trials(spec_from_dict(data))


def test_builtins_load_and_plan():
    for name in ("bandit-testbed", "bandit-stocks"):
        spec = resolve_spec(name)
        assert plan_trials(spec)
        assert plan_trials(apply_quick(spec))


def test_bad_yaml_names_line(tmp_path):
    p = _write(tmp_path, "name: t\nagents: [\n  - {name: a\n")
    with pytest.raises(SpecError, match=r"malformed YAML at line \d+"):
        load_spec(p)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def test_top_level_not_mapping(tmp_path):
    with pytest.raises(SpecError, match="mapping"):
        load_spec(_write(tmp_path, "- a\n- b\n"))


def test_unknown_top_level_key_suggests():
    with pytest.raises(SpecError, match=r"unknown key 'sedes'.*did you mean 'seeds'"):
        spec_from_dict({**BASE, "sedes": 3})


def test_unknown_agent_key():
    bad = {**BASE, "agents": [{"name": "a", "type": "ucb", "parms": {}}]}
    with pytest.raises(SpecError, match=r"unknown key 'agents.0.parms'.*did you mean 'params'"):
        spec_from_dict(bad)


def test_bad_value_names_key_and_value():
    with pytest.raises(SpecError, match=r"bad value for 'seeds': 0"):
        spec_from_dict({**BASE, "seeds": 0})
    with pytest.raises(SpecError, match=r"'seed'.*-1"):
        spec_from_dict({**BASE, "seed": -1})


def test_duplicate_agent_names():
    bad = {**BASE, "agents": BASE["agents"] * 2}
    with pytest.raises(SpecError, match="unique; repeated: eps"):
        spec_from_dict(bad)


def test_unknown_kind():
    with pytest.raises(SpecError, match=r"unknown kind 'bandit-testbd'.*did you mean"):
        _plan({**BASE, "kind": "bandit-testbd"})


def test_unknown_agent_type():
    bad = {**BASE, "agents": [{"name": "a", "type": "epsilon-greedyy"}]}
    with pytest.raises(SpecError, match=r"unknown agent type 'epsilon-greedyy'.*did you mean"):
        _plan(bad)


def test_unknown_agent_param():
    bad = {**BASE, "agents": [{"name": "a", "type": "epsilon-greedy", "params": {"epsilo": 1}}]}
    with pytest.raises(SpecError, match=r"unknown parameter 'epsilo'.*did you mean 'epsilon'"):
        _plan(bad)


def test_bad_agent_param_value():
    bad = {**BASE, "agents": [{"name": "a", "type": "epsilon-greedy", "params": {"epsilon": 2}}]}
    with pytest.raises(SpecError, match="epsilon"):
        _plan(bad)


def test_bad_env_and_budget_values():
    with pytest.raises(SpecError, match=r"'budget.steps'"):
        _plan({**BASE, "budget": {"steps": 0}})
    with pytest.raises(SpecError, match=r"unknown key 'env.kk'"):
        _plan({**BASE, "env": {"kk": 3}})
    with pytest.raises(SpecError, match=r"'env.arms'"):
        _plan({**BASE, "env": {"arms": "poisson"}})


def test_sweep_expands_and_rejects_two_params():
    data = {
        **BASE,
        "agents": [{"name": "e", "type": "epsilon-greedy", "sweep": {"epsilon": [0.1, 0.2]}}],
    }
    names = [t.agent.name for t in _plan(data)]
    assert names == ["e[epsilon=0.1]"] * 2 + ["e[epsilon=0.2]"] * 2
    data["agents"][0]["sweep"]["initial_value"] = [1.0]
    with pytest.raises(SpecError, match="one parameter per agent"):
        _plan(data)


def test_report_plot_unknown_agent():
    data = {
        **BASE,
        "report": {"plots": [{"plot": "curve", "metric": "reward", "agents": ["nobody"]}]},
    }
    with pytest.raises(SpecError, match="unknown agent 'nobody'"):
        _plan(data)


STOCKS = {
    "name": "s",
    "kind": "bandit-stocks",
    "seeds": 1,
    "agents": [{"name": "r", "type": "random"}],
}


def test_missing_data_file():
    with pytest.raises(SpecError, match=r"data file .*nowhere.csv' not found"):
        _plan({**STOCKS, "env": {"data": "/nowhere.csv"}})


def test_date_range_outside_data():
    data = r"outside the data 'stocks20' \(1990-01-02\.\.2022-12-28\)"
    with pytest.raises(SpecError, match=data):
        _plan({**STOCKS, "env": {"start": "2030-01-01", "end": "2031-01-01"}})


def test_unknown_ticker_and_reversed_range():
    with pytest.raises(SpecError, match=r"unknown ticker 'APPL'.*did you mean 'AAPL'"):
        _plan({**STOCKS, "env": {"tickers": ["APPL", "MSFT"]}})
    with pytest.raises(SpecError, match="is after end"):
        _plan({**STOCKS, "env": {"start": "2020-01-01", "end": "2019-01-01"}})


def test_user_csv_errors(tmp_path):
    nodate = tmp_path / "nodate.csv"
    nodate.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(SpecError, match="no date column"):
        _plan({**STOCKS, "env": {"data": str(nodate)}})
    unsorted = tmp_path / "unsorted.csv"
    unsorted.write_text("Date,A,B\n2020-01-03,1,2\n2020-01-02,1,2\n2020-01-06,1,2\n")
    with pytest.raises(SpecError, match="not sorted"):
        _plan({**STOCKS, "env": {"data": str(unsorted)}})
    baddate = tmp_path / "baddate.csv"
    baddate.write_text("Date,A,B\n2020-01-02,1,2\nnot-a-date,1,2\n")
    with pytest.raises(SpecError, match="unparsable date 'not-a-date'"):
        _plan({**STOCKS, "env": {"data": str(baddate)}})


def test_overrides():
    spec = spec_from_dict(BASE)
    accepts = _accepts(spec)
    s2 = apply_overrides(spec, ["budget.steps=50", "agent.epsilon=0.05", "seeds=3"], accepts)
    assert s2.budget["steps"] == 50 and s2.seeds == 3
    assert s2.agents[0].params["epsilon"] == 0.05
    s3 = apply_overrides(spec, ["agents.eps.epsilon=0.3"])
    assert s3.agents[0].params["epsilon"] == 0.3
    assert spec_hash(s2) != spec_hash(spec) and spec_hash(spec) == spec_hash(spec_from_dict(BASE))
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        apply_overrides(spec, ["budget.steps"])
    with pytest.raises(SpecError, match="no list item named 'nobody'"):
        apply_overrides(spec, ["agents.nobody.epsilon=1"])
    with pytest.raises(SpecError, match="no agent of this experiment takes a parameter 'c'"):
        apply_overrides(spec, ["agent.c=1"], accepts)
    with pytest.raises(SpecError, match=r"unknown key 'nonsense'"):
        apply_overrides(spec, ["nonsense=1"])


def _accepts(spec):
    types = get_workload(spec.kind).agent_types
    return lambda t, k: accepts_param(types[t], k)


def test_unknown_experiment_name(capsys):
    with pytest.raises(SpecError, match=r"unknown experiment 'bandit-testbd'.*did you mean"):
        resolve_spec("bandit-testbd")
    assert main(["run", "bandit-testbd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qmml: error: unknown experiment")


def test_cli_bad_set_is_one_line(capsys, tmp_path):
    assert (
        main(
            ["run", "bandit-testbed", "--quick", "--out", str(tmp_path), "--set", "budget.steps=-5"]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "budget.steps" in err[0]
    assert not any(tmp_path.iterdir())  # nothing written for an invalid spec


def test_unquoted_dates_stay_strings(tmp_path):
    data = {**STOCKS, "env": {"start": "2019-01-01"}}
    text = yaml.safe_dump(data).replace("'2019-01-01'", "2019-01-01")
    assert "start: 2019-01-01" in text
    spec = load_spec(_write(tmp_path, text))
    assert spec.env["start"] == "2019-01-01"
    assert plan_trials(spec)
    s2 = apply_overrides(spec, ["env.end=2020-06-30"])
    assert s2.env["end"] == "2020-06-30"
