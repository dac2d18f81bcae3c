"""The one agent protocol every decision maker follows, so one runner drives bandit learners,
planners, rule-based strategies and SB3 models alike (cf. SB3's ``PolicyPredictor``)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

__all__ = ["Agent"]


@runtime_checkable
class Agent(Protocol):
    """Anything that can learn on a Gymnasium env and then act."""

    def learn(self, env: gym.Env, budget: int) -> Agent:
        """Interact with ``env`` for ``budget`` steps (or the agent's own unit); return self."""
        ...

    def predict(self, obs: Any, *, deterministic: bool = True) -> Any:
        """The action for observation ``obs``."""
        ...
