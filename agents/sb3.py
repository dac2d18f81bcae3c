"""The stable-baselines3 agent types a spec can name, by name (:data:`SB3_AGENTS`).

``ppo`` / ``ppo-mlp``, ``ppo-lstm``, ``recurrent-ppo`` and ``dqn`` each build an
:class:`~agents.sb3_agent.SB3Agent` (re-exported here with :func:`algos`). Importing this
module loads neither torch nor stable-baselines3: they load when a model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qmml.agents.sb3_agent import ALGO_NAMES, SB3Agent, algos

__all__ = ["ALGO_NAMES", "SB3_AGENTS", "SB3Agent", "algos"]


def __getattr__(name: str) -> Any:
    if name == "ALGOS":  # the old constant, now loaded on first use
        return algos()
    raise AttributeError(f"module 'qmml.agents.sb3' has no attribute {name!r}")


# -- the agent types a spec can name ------------------------------------------------------------
def ppo(net_arch: list[int] | None = None, hyperparams: dict[str, Any] | None = None) -> SB3Agent:
    """SB3 PPO with an MLP policy (on a market env: on the flattened window)."""
    return SB3Agent("ppo", net_arch=net_arch, hyperparams=hyperparams)


def ppo_lstm(
    hidden_size: int = 64,
    num_layers: int = 1,
    lookback: int | None = None,
    net_arch: list[int] | None = None,
    hyperparams: dict[str, Any] | None = None,
) -> SB3Agent:
    """PPO whose policy reads the window through :class:`~agents.lstm_features.LSTMFeatures`."""
    if hidden_size < 1 or num_layers < 1 or (lookback is not None and lookback < 1):
        raise ValueError(
            f"hidden_size={hidden_size}, num_layers={num_layers}, lookback={lookback}: must be >= 1"
        )
    return SB3Agent(
        "ppo",
        features="lstm",
        lstm_hidden_size=hidden_size,
        lstm_layers=num_layers,
        lookback=lookback,
        net_arch=net_arch,
        hyperparams=hyperparams,
    )


def recurrent_ppo(
    net_arch: list[int] | None = None, hyperparams: dict[str, Any] | None = None
) -> SB3Agent:
    """sb3-contrib RecurrentPPO with ``MlpLstmPolicy`` (LSTM state carried across steps)."""
    return SB3Agent("recurrent-ppo", net_arch=net_arch, hyperparams=hyperparams)


def dqn(net_arch: list[int] | None = None, hyperparams: dict[str, Any] | None = None) -> SB3Agent:
    """SB3 DQN (replay buffer, target network, epsilon decay); on a portfolio one flat action
    per combination of position levels."""
    return SB3Agent("dqn", net_arch=net_arch, hyperparams=hyperparams)


SB3_AGENTS: dict[str, Callable[..., SB3Agent]] = {
    "ppo": ppo,
    "ppo-mlp": ppo,
    "ppo-lstm": ppo_lstm,
    "recurrent-ppo": recurrent_ppo,
    "dqn": dqn,
}
