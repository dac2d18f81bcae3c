"""What ``qmml list`` prints, kept as literals so listing imports no workload.

Importing every workload to read its description would load torch, SB3, matplotlib and
scikit-learn (about 4 CPU-s); these tables hold the same facts at no cost. They are the
source of :data:`qmml.experiments.workloads.BUILTIN` (kind → module), and a test checks them
against the live registries (each workload's ``description`` and ``agent_types``, and the
``qmml/*`` Gymnasium ids), so they cannot drift: a new workload adds one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENVIRONMENTS", "WORKLOADS", "WorkloadEntry"]


@dataclass(frozen=True)
class WorkloadEntry:
    """A built-in workload as ``qmml list`` shows it.

    Attributes:
        module: the module that registers it (imported when a spec asks for the kind).
        description: the workload's ``description``.
        agent_types: the keys of its ``agent_types``, sorted.
    """

    module: str
    description: str
    agent_types: tuple[str, ...]


_W = "qmml.experiments.workloads."


def _entry(module: str, description: str, agent_types: str) -> WorkloadEntry:
    return WorkloadEntry(_W + module, description, tuple(agent_types.split()))


WORKLOADS: dict[str, WorkloadEntry] = {
    "bandit-testbed": _entry(
        "bandits.testbed",
        "k-armed bandit testbed (Sutton & Barto ch. 2), batched over many runs",
        "discounted-ucb epsilon-greedy gradient random thompson-bernoulli thompson-gaussian ucb",
    ),
    "bandit-stocks": _entry(
        "bandits.stocks",
        "bandit agents pick one stock a day; compared with random pickers and holders",
        "best-stock-hindsight discounted-ucb epsilon-greedy equal-weight gradient random "
        "random-held thompson-bernoulli thompson-gaussian ucb",
    ),
    "gridworld-dp": _entry(
        "gridworld.dp",
        "policy evaluation, policy iteration and value iteration (S&B ch. 3-4)",
        "policy-evaluation policy-iteration value-iteration",
    ),
    "gridworld-control": _entry(
        "gridworld.control",
        "Q-learning, SARSA, Expected SARSA against the DP optimum (S&B ch. 6)",
        "expected-sarsa q-learning sarsa",
    ),
    "regression": _entry(
        "supervised.regression",
        "linear regression by closed form / GD / SGD, scaling, polynomial degree",
        "linear-closed-form linear-gd linear-sgd polynomial sklearn-linear",
    ),
    "nn-from-scratch": _entry(
        "supervised.nn_from_scratch",
        "NumPy MLP vs PyTorch vs scikit-learn MLP: accuracy, loss curves, wall time",
        "numpy-mlp sklearn-mlp torch-mlp",
    ),
    "classification": _entry(
        "supervised.classification",
        "logistic regression, NumPy MLP, k-NN, trees, forests, SVM on held-out data",
        "decision-tree knn logistic numpy-mlp random-forest sklearn-logistic svm",
    ),
    "trading-baselines": _entry(
        "trading.baselines",
        "rule-based trading strategies on market data, after costs",
        "bollinger-reversion buy-and-hold equal-weight random rsi-reversion "
        "sma-crossover ts-momentum xs-momentum",
    ),
    "trading-rl": _entry(
        "trading.rl",
        "RL traders (LSTM-feature PPO, MLP PPO, RecurrentPPO, DQN) against rule-based "
        "strategies, walk-forward out of sample, after costs",
        "bollinger-reversion buy-and-hold dqn equal-weight ppo-lstm ppo-mlp random "
        "recurrent-ppo rsi-reversion sma-crossover ts-momentum xs-momentum",
    ),
    "dqn-cartpole": _entry(
        "control.dqn_cartpole",
        "the lecture's DQN on CartPole-v1 (and PPO), target: average >= 450 over 100",
        "dqn ppo",
    ),
    "sequence-basics": _entry(
        "supervised.sequences",
        "Forecast a noisy sum of sines: persistence vs ridge AR vs MLP vs RNN vs LSTM",
        "ar lstm mlp oracle persistence rnn",
    ),
    "char-lm": _entry(
        "supervised.language",
        "Char-level RNN, GRU, LSTM and tiny GPT (equal params, steps) vs n-grams",
        "gpt gru lstm ngram rnn unigram",
    ),
    "llm-pretrain": _entry(
        "supervised.llm",
        "A compact GPT pre-trained from scratch (char and BPE) vs n-grams, with scaling",
        "gpt ngram unigram",
    ),
    "llm-finetune": _entry(
        "supervised.llm_finetune",
        "LoRA (peft) vs full fine-tuning vs zero-shot on generated chat tasks",
        "full lora zero-shot",
    ),
    "llm-prompting": _entry(
        "supervised.llm_prompting",
        "Zero- vs few-shot prompting, system prompt, and small bundled evaluations",
        "code consistency few-shot lead stub summarise",
    ),
    "lstm-forecast": _entry(
        "supervised.forecasting",
        "Next-day stock returns: zero, mean, persistence, ridge AR, trees, MLP, LSTM, "
        "GRU on walk-forward folds; DM/PT tests and a backtest with costs (leaky: the "
        "notebook's way)",
        "gbt gru lstm mean mlp persistence ridge zero",
    ),
    "cnn-mnist": _entry(
        "supervised.vision",
        "Lecture CNN vs LeNet-5 vs VGG vs ResNet vs NumPy MLP vs pixel logistic (MNIST)",
        "cnn lenet5 logistic mlp resnet vgg",
    ),
    "cnn-augmentation": _entry(
        "supervised.vision_augment",
        "CNNs with and without augmentation (and each transform alone): clean vs perturbed",
        "cnn lenet5 resnet vgg",
    ),
    "cnn-transfer": _entry(
        "supervised.vision_transfer",
        "MNIST/ImageNet-pretrained CNNs on sklearn digits: scratch vs probe vs fine-tune",
        "finetune probe scratch",
    ),
}

_ENV = "qmml.envs."
_GRID = _ENV + "gridworld.env:GridWorldEnv"
_MARKET = _ENV + "market.env:StockTradingEnv"

# The ``qmml/*`` Gymnasium ids ``import qmml.envs`` registers, and their entry points.
ENVIRONMENTS: dict[str, str] = {
    "qmml/BernoulliBandit-v0": _ENV + "bandit:BernoulliBanditEnv",
    "qmml/CliffWalking-v0": _GRID,
    "qmml/GaussianBandit-v0": _ENV + "bandit:GaussianBanditEnv",
    "qmml/GridWorld4x4-v0": _GRID,
    "qmml/GridWorld5x5-v0": _GRID,
    "qmml/NonstationaryBandit-v0": _ENV + "bandit:GaussianBanditEnv",
    "qmml/PortfolioTrading-v0": _MARKET,
    "qmml/RandomMaze-v0": _GRID,
    "qmml/StockPicking-v0": _ENV + "stock_bandit:StockPickingEnv",
    "qmml/StockTrading-v0": _MARKET,
    "qmml/StockTradingContinuous-v0": _MARKET,
    "qmml/StockTradingSynthetic-v0": _ENV + "market.registration:make_synthetic_env",
    "qmml/WindyGridWorld-v0": _GRID,
    "qmml/WindyGridWorldStochastic-v0": _GRID,
}
