"""The char-lm experiment: a quick run with a report, seeded determinism (and deterministic
n-grams), equal parameter counts, spec errors, and no torch at import."""

import subprocess
import sys

import pandas as pd
import pytest

from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import plan_trials, run_experiment, trial_context
from qmml.experiments.spec import SpecError, spec_from_dict
from qmml.experiments.workload import expand_agents, get_workload
from qmml.experiments.workloads.supervised.language import hidden_for_budget, n_params

NAME = "char-lm"


@pytest.mark.slow
def test_quick_run_and_report(tmp_path):
    spec = apply_quick(resolve_spec(NAME))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.ran == outcome.n_trials > 0 and not outcome.failed
    text = build_report(outcome.run_dir.path).read_text()
    assert "Samples at three temperatures" in text and "deterministic" in text
    assert "best network" in text
    assert len(list((outcome.run_dir.path / "figures").glob("*.png"))) >= len(spec.report.plots)
    curves, scalars = outcome.run_dir.load_tables()
    assert {
        "train_nats",
        "val_nats",
        "val_cpu_s",
        "gradflow_init",
        "gradflow_trained",
        "sample_T0.5",
    } <= set(curves["metric"])
    assert "TM GPT" in set(scalars["agent"]) and "against compute" in text
    assert {"test_nats_per_char", "test_perplexity", "n_params", "train_cpu_s"} <= set(
        scalars["metric"]
    )
    assert scalars[scalars["metric"] == "test_nats_per_char"]["value"].notna().all()


def _trial(agent_name, seed_index=0):
    spec = apply_quick(resolve_spec(NAME))
    agent = next(a for a in expand_agents(spec) if a.name == agent_name)
    return get_workload(NAME).run_trial(spec, agent, trial_context(spec, seed_index))


def _reproducible(res, table="scalars"):
    s = getattr(res, table)
    return s[~s["metric"].str.endswith(("_wall_s", "_cpu_s"))].reset_index(drop=True)


@pytest.mark.parametrize("agent", ["TM LSTM", "FR GRU", "TM GPT"])
def test_same_seed_same_results(agent):
    first, again = _trial(agent), _trial(agent)
    pd.testing.assert_frame_equal(_reproducible(first), _reproducible(again), check_exact=True)
    pd.testing.assert_frame_equal(
        _reproducible(first, "curves"), _reproducible(again, "curves"), check_exact=True
    )
    assert first.info == again.info and len(first.info["samples"]) == 3
    other = _trial(agent, seed_index=1)
    assert not _reproducible(first)["value"].equals(_reproducible(other)["value"])


def test_ngrams_are_deterministic_over_seeds():
    for agent in ("TM unigram", "TM n-gram"):
        a, b = _reproducible(_trial(agent)), _reproducible(_trial(agent, seed_index=1))
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_cells_get_equal_parameter_counts():
    import torch

    from qmml.supervised.deep.rnn import CharLM, CharLMConfig

    for budget in (4000, 350_000):
        counts = {}
        for cell in ("rnn", "gru", "lstm"):
            h = hidden_for_budget(cell, budget, 84, 64)
            counts[cell] = n_params(cell, h, 84, 64)
        assert max(counts.values()) / min(counts.values()) < 1.05
    model = CharLM(CharLMConfig(71, cell="gru", embed_dim=16, hidden_size=40, num_layers=2))
    assert sum(p.numel() for p in model.parameters()) == n_params("gru", 40, 71, 16, 2)
    assert torch.get_num_threads() >= 1


def test_gpt_width_meets_the_same_budget():
    from qmml.experiments.workloads.supervised.language_train import n_embd_for_budget
    from qmml.supervised.llm.config import GPTConfig

    def off(width, budget):
        return abs(GPTConfig(84, 64, 4, 4, width).n_params - budget)

    for budget in (4000, 350_000):
        width = n_embd_for_budget(budget, 84, 64, n_layer=4, n_head=4)
        assert width % 4 == 0  # the closest width that the heads divide
        assert off(width, budget) <= min(off(width + 4, budget), off(max(width - 4, 4), budget))
    assert off(n_embd_for_budget(350_000, 84, 64, 4, 4), 350_000) < 0.02 * 350_000


BASE = {
    "name": "t",
    "kind": NAME,
    "seeds": 1,
    "env": {"corpus": "timemachine", "max_chars": 5000},
    "agents": [{"name": "a", "type": "lstm"}],
}


@pytest.mark.parametrize(
    "change, match",
    [
        ({"agents": [{"name": "a", "type": "lsmt"}]}, "did you mean 'lstm'"),
        ({"env": {"corpus": "timemachin"}}, "did you mean 'timemachine'"),
        ({"env": {"max_chars": 100}}, "too short"),
        ({"budget": {"seq_len": 6000}}, "window longer than the training block"),
        ({"budget": {"temperatures": [0.5, 0]}}, "temperatures must be > 0"),
        ({"budget": {"steps": 0}}, "steps"),
        ({"agents": [{"name": "a", "type": "gru", "params": {"backend": "scratch"}}]}, "scratch"),
        ({"agents": [{"name": "a", "type": "ngram", "params": {"method": "kn"}}]}, "method"),
        ({"agents": [{"name": "a", "type": "gpt", "params": {"n_embd": 30}}]}, "divide by n_head"),
    ],
)
def test_spec_errors(change, match):
    with pytest.raises(SpecError, match=match) as err:
        plan_trials(spec_from_dict({**BASE, **change}))
    assert "\n" not in str(err.value)


def test_full_spec_validates():
    spec = resolve_spec(NAME)
    assert len(plan_trials(spec)) == spec.seeds * len(expand_agents(spec)) and spec.quick


def test_module_imports_without_torch():
    code = (
        "import sys; import qmml.experiments.workloads.supervised.language; "
        "import qmml.experiments.workloads.supervised.language_report; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
