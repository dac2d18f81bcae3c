"""Built-in workloads (the ``kind`` of a spec), imported only when a spec asks for one.

Importing every workload would load torch, SB3 and scikit-learn just to run a bandit, so the
registry maps each kind to its module and :func:`experiments.workload.get_workload` imports
it on first use. A new workload adds one line here (see ``experiments/README.md``).
"""

from __future__ import annotations

import importlib

__all__ = ["BUILTIN", "load", "load_all"]

BUILTIN: dict[str, str] = {
    "bandit-testbed": "qmml.experiments.workloads.bandits.testbed",
    "bandit-stocks": "qmml.experiments.workloads.bandits.stocks",
    "gridworld-dp": "qmml.experiments.workloads.gridworld.dp",
    "gridworld-control": "qmml.experiments.workloads.gridworld.control",
    "regression": "qmml.experiments.workloads.supervised.regression",
    "nn-from-scratch": "qmml.experiments.workloads.supervised.nn_from_scratch",
    "classification": "qmml.experiments.workloads.supervised.classification",
    "trading-baselines": "qmml.experiments.workloads.trading.baselines",
    "trading-rl": "qmml.experiments.workloads.trading.rl",
    "dqn-cartpole": "qmml.experiments.workloads.control.dqn_cartpole",
    "sequence-basics": "qmml.experiments.workloads.supervised.sequences",
    "char-lm": "qmml.experiments.workloads.supervised.language",
    "llm-pretrain": "qmml.experiments.workloads.supervised.llm",
    "llm-finetune": "qmml.experiments.workloads.supervised.llm_finetune",
    "llm-prompting": "qmml.experiments.workloads.supervised.llm_prompting",
    "lstm-forecast": "qmml.experiments.workloads.supervised.forecasting",
    "cnn-mnist": "qmml.experiments.workloads.supervised.vision",
    "cnn-augmentation": "qmml.experiments.workloads.supervised.vision_augment",
    "cnn-transfer": "qmml.experiments.workloads.supervised.vision_transfer",
}


def load(kind: str) -> bool:
    """Import the module of built-in workload ``kind`` (which registers it); False if unknown."""
    module = BUILTIN.get(kind)
    if module is None:
        return False
    importlib.import_module(module)
    return True


def load_all() -> None:
    """Import every built-in workload (for ``qmml list``)."""
    for kind in BUILTIN:
        load(kind)
