"""The CNN experiments (cnn-mnist, cnn-augmentation, cnn-transfer): quick runs with reports,
seeded determinism with pinned threads, one-line spec errors, and no torch at import."""

import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import plan_trials, run_experiment, trial_context
from qmml.experiments.spec import SpecError, spec_from_dict
from qmml.experiments.workload import expand_agents, get_workload

NAMES = ("cnn-mnist", "cnn-augmentation", "cnn-transfer")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_run_and_report(tmp_path, name):
    spec = apply_quick(resolve_spec(name))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.ran == outcome.n_trials > 0 and not outcome.failed
    text = build_report(outcome.run_dir.path).read_text()
    assert len(list((outcome.run_dir.path / "figures").glob("*.png"))) >= len(spec.report.plots)
    curves, scalars = outcome.run_dir.load_tables()
    primary = scalars[scalars["metric"] == spec.report.primary]["value"]
    assert len(primary) and primary.between(0, 1).all()
    if name == "cnn-mnist":
        assert {"train_loss", "val_loss", "val_accuracy", "confusion", "misclassified"} <= set(
            curves["metric"]
        )
        assert {"filters", "feature_maps"} <= set(curves["metric"])
        assert {"n_params", "epoch_cpu_s", "test_accuracy"} <= set(scalars["metric"])
        assert "rows sum to 1" in text or "confusion" in text
    if name == "cnn-augmentation":
        assert "perturbed_accuracy" in set(scalars["metric"])
        assert "On perturbed images" in text
    if name == "cnn-transfer":
        assert {"accuracy_k1", "accuracy_k10", "zero_shot_accuracy"} <= set(scalars["metric"])
        assert "Zero-shot" in text
        assert list((outcome.run_dir.path / "artifacts" / "pretrained").glob("mnist-*.pt"))


def _trial(name, agent_name, seed_index=0):
    spec = apply_quick(resolve_spec(name))
    agent = next(a for a in expand_agents(spec) if a.name == agent_name)
    return get_workload(name).run_trial(spec, agent, trial_context(spec, seed_index))


def _reproducible(res):
    s = res.scalars
    return s[~s["metric"].str.endswith(("_wall_s", "_cpu_s"))].reset_index(drop=True)


@pytest.mark.parametrize(
    "name, agent",
    [
        ("cnn-mnist", "LeNet-5 +aug"),
        ("cnn-mnist", "NumPy MLP"),
        ("cnn-augmentation", "LeNet-5 +shift"),
        ("cnn-transfer", "MNIST fine-tune"),
    ],
)
def test_same_seed_same_tables(name, agent):
    import torch

    torch.set_num_threads(1)
    first, again = _trial(name, agent), _trial(name, agent)
    pd.testing.assert_frame_equal(_reproducible(first), _reproducible(again), check_exact=True)
    pd.testing.assert_frame_equal(first.curves, again.curves, check_exact=True)
    other = _trial(name, agent, seed_index=1)
    same_scalars = _reproducible(first)["value"].equals(_reproducible(other)["value"])
    assert not (same_scalars and first.curves["value"].equals(other.curves["value"]))


BASE = {
    "name": "t",
    "kind": "cnn-mnist",
    "seeds": 1,
    "env": {"dataset": "digits", "n_train": 500, "n_val": 50, "n_test": 200},
    "agents": [{"name": "a", "type": "lenet5"}],
}


def _idx(path, magic, shape, payload):
    head = bytes([0, 0, magic, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    path.write_bytes(gzip.compress(head + payload))
    return str(path)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"agents": [{"name": "a", "type": "lenet"}]}, "did you mean 'lenet5'"),
        ({"agents": [{"name": "a", "type": "cnn", "params": {"augment": "flip"}}]}, "augment"),
        ({"env": {"dataset": "digits", "n_train": 1700, "n_test": 500}}, "does not fit"),
        (
            {"env": {"dataset": "idx", "images": "/nonexistent/x.gz", "labels": "/n/y.gz"}},
            "not found",
        ),
        ({"env": {"dataset": "idx"}}, "needs 'images' and 'labels'"),
        ({"env": {"dataset": "digits", "n_train": 500, "n_test": 200, "n_val": 0}}, "n_val"),
        ({"budget": {"epochs": 0}}, "epochs"),
    ],
)
def test_spec_errors(change, match):
    with pytest.raises(SpecError, match=match) as err:
        plan_trials(spec_from_dict({**BASE, **change}))
    assert "\n" not in str(err.value)


def test_corrupt_idx_file_is_one_line(tmp_path):
    images = _idx(tmp_path / "im.gz", 0x08, (20, 8, 8), bytes(100))  # truncated payload
    labels = _idx(tmp_path / "lb.gz", 0x08, (20,), bytes(20))
    env = {"dataset": "idx", "images": images, "labels": labels, "n_train": 10, "n_test": 5}
    with pytest.raises(SpecError, match="truncated or corrupt") as err:
        plan_trials(spec_from_dict({**BASE, "env": env}))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "change, match",
    [
        (
            {"agents": [{"name": "a", "type": "finetune", "params": {"source": "imagenett"}}]},
            "unknown source",
        ),
        (
            {
                "agents": [
                    {"name": "a", "type": "probe", "params": {"source": "digit-recognizer"}}
                ],
                "env": {"task": "heldout"},
            },
            "heldout",
        ),
        ({"env": {"n_test": 1700}}, "does not fit"),
        ({"agents": [{"name": "a", "type": "scrach"}]}, "did you mean 'scratch'"),
    ],
)
def test_transfer_spec_errors(change, match):
    base = {
        "name": "t",
        "kind": "cnn-transfer",
        "seeds": 1,
        "agents": [{"name": "a", "type": "scratch"}],
    }
    with pytest.raises(SpecError, match=match) as err:
        plan_trials(spec_from_dict({**base, **change}))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_full_spec_validates(name):
    spec = resolve_spec(name)
    assert len(plan_trials(spec)) == spec.seeds * len(expand_agents(spec)) and spec.quick
    assert spec.seeds == 5


def test_nested_label_subsets():
    from qmml.experiments.workloads.supervised.vision_transfer import _subset

    y = np.repeat(np.arange(3), 10)
    order = np.random.default_rng(0).permutation(30)
    one, five = _subset(y, order, 1), _subset(y, order, 5)
    assert set(one) <= set(five) and np.bincount(y[five]).tolist() == [5, 5, 5]
    assert len(_subset(y, order, None)) == 30


def test_modules_import_without_torch():
    code = (
        "import sys; import qmml.experiments.workloads.supervised.vision; "
        "import qmml.experiments.workloads.supervised.vision_augment; "
        "import qmml.experiments.workloads.supervised.vision_transfer; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
