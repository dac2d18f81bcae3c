"""The three LLM experiments: quick runs with reports through run_experiment, seeded
determinism of a pre-training trial, deterministic n-grams, spec errors, no torch at import."""

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

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _quick_run(name, tmp_path):
    spec = apply_quick(resolve_spec(name))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.ran == outcome.n_trials > 0 and not outcome.failed
    text = build_report(outcome.run_dir.path).read_text()
    return outcome, text


@pytest.mark.slow
def test_pretrain_quick_run(tmp_path):
    outcome, text = _quick_run("llm-pretrain", tmp_path)
    assert "nats/char" in text and "deterministic" in text
    curves, scalars = outcome.run_dir.load_tables()
    assert {"train_nats", "val_nats", "sample_T0.5"} <= set(curves["metric"])
    assert {"test_nats_per_char", "n_params", "train_flops", "chars_per_token"} <= set(
        scalars["metric"]
    )
    cpt = scalars[(scalars["metric"] == "chars_per_token") & (scalars["agent"] == "GPT BPE")]
    assert (cpt["value"] > 1.2).all()
    ckpts = list((outcome.run_dir.path / "artifacts").glob("*/gpt/model.safetensors"))
    assert len(ckpts) == 2 * 6  # 6 GPTs x 2 seeds


@pytest.mark.slow
def test_finetune_quick_run(tmp_path):
    outcome, text = _quick_run("llm-finetune", tmp_path)
    assert "exact match" in text and "forgetting" in text
    _, s = outcome.run_dir.load_tables()
    lora = s[s["agent"] == "LoRA r8 qv"].set_index(["seed", "metric"])["value"]
    assert (lora.xs("merge_max_dlogit", level="metric") < 1e-4).all()
    assert (lora.xs("reload_max_dlogit", level="metric") < 1e-5).all()
    assert (lora.xs("adapter_bytes", level="metric") > 0).all()
    adapters = list((outcome.run_dir.path / "artifacts").glob("*/adapter/adapter_config.json"))
    assert adapters


@pytest.mark.slow
def test_prompting_quick_run(tmp_path):
    outcome, text = _quick_run("llm-prompting", tmp_path)
    _, s = outcome.run_dir.load_tables()
    assert {"exact_match", "format_ok", "rougeL", "pass_rate", "consistency"} <= set(s["metric"])
    stub = s[(s["agent"] == "stub") & (s["metric"] == "pass_rate")]["value"]
    assert (stub < 1).all()
    assert "lead" in text


def _trial(name, agent_name, seed_index=0):
    spec = apply_quick(resolve_spec(name))
    agent = next(a for a in expand_agents(spec) if a.name == agent_name)
    return get_workload(name).run_trial(spec, agent, trial_context(spec, seed_index))


def _reproducible(res):
    s = res.scalars
    return s[~s["metric"].str.endswith(("_wall_s", "_cpu_s"))].reset_index(drop=True)


def test_pretrain_trial_is_seeded():
    first, again = _trial("llm-pretrain", "GPT BPE"), _trial("llm-pretrain", "GPT BPE")
    pd.testing.assert_frame_equal(_reproducible(first), _reproducible(again), check_exact=True)
    pd.testing.assert_frame_equal(first.curves, again.curves, check_exact=True)
    other = _trial("llm-pretrain", "GPT BPE", 1)
    assert not _reproducible(first)["value"].equals(_reproducible(other)["value"])
    a, b = _trial("llm-pretrain", "n-gram"), _trial("llm-pretrain", "n-gram", 1)
    pd.testing.assert_frame_equal(_reproducible(a), _reproducible(b), check_exact=True)


@pytest.mark.parametrize(
    "name, change, match",
    [
        ("llm-pretrain", {"agents": [{"name": "a", "type": "gtp"}]}, "did you mean 'gpt'"),
        (
            "llm-pretrain",
            {"agents": [{"name": "a", "type": "gpt", "params": {"n_embd": 30}}]},
            "divisible",
        ),
        ("llm-pretrain", {"budget": {"block_size": 4000}}, "validation block"),
        ("llm-finetune", {"env": {"model": "smollm"}}, "did you mean 'smollm2'"),
        ("llm-finetune", {"env": {"task": "dates"}}, "did you mean 'date'"),
        (
            "llm-finetune",
            {"agents": [{"name": "a", "type": "lora", "params": {"rank": 0}}]},
            "rank",
        ),
        (
            "llm-prompting",
            {"agents": [{"name": "a", "type": "few-shot", "params": {"shots": -1}}]},
            "shots",
        ),
    ],
)
def test_spec_errors(name, change, match):
    base = {
        "name": "t",
        "kind": name,
        "seeds": 1,
        "agents": [
            {
                "name": "a",
                "type": get_workload(name).agent_types
                and next(iter(get_workload(name).agent_types)),
            }
        ],
    }
    if name == "llm-pretrain":
        base["env"] = {"corpus": "frankenstein", "max_chars": 5000}
    with pytest.raises(SpecError, match=match) as err:
        plan_trials(spec_from_dict({**base, **change}))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["llm-pretrain", "llm-finetune", "llm-prompting"])
def test_full_specs_validate(name):
    spec = resolve_spec(name)
    assert len(plan_trials(spec)) == spec.seeds * len(expand_agents(spec)) and spec.quick


def test_modules_import_without_torch():
    code = (
        "import sys; import qmml.supervised; import qmml.supervised.llm.tasks; "
        "import qmml.supervised.llm.sandbox; import qmml.supervised.llm.config; "
        "import qmml.experiments.workloads.supervised.llm; "
        "import qmml.experiments.workloads.supervised.llm_finetune; "
        "import qmml.experiments.workloads.supervised.llm_prompting; "
        "bad = {'torch', 'transformers', 'peft'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
