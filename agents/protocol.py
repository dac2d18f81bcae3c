"""The one agent protocol every decision maker follows, so one runner drives bandit learners,
planners, rule-based strategies and SB3 models alike (cf. SB3's ``PolicyPredictor``).

What ``budget`` counts depends on the family; each agent class names it in ``budget_unit``:

==============  ===============================  ================================================
``budget_unit`` families                         one unit of ``learn(env, budget)``
==============  ===============================  ================================================
``"steps"``     bandit agents                    one ``env.step`` (an arm pulled, a reward seen)
``"episodes"``  tabular control (Q-learning...)  one episode, from ``reset`` to its end or cap
``"sweeps"``    DP planners                      value iteration: one Bellman sweep over all
                                                 states; policy iteration: one improvement step
``"timesteps"`` SB3 agents                       one environment step, summed over a VecEnv's
                                                 copies (SB3's ``total_timesteps``)
``"none"``      rule-based strategies            nothing: ``budget`` is accepted and ignored
==============  ===============================  ================================================
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args, runtime_checkable

import gymnasium as gym

__all__ = ["BUDGET_UNITS", "Agent", "BudgetUnit"]

BudgetUnit = Literal["steps", "episodes", "sweeps", "timesteps", "none"]
"""What one unit of ``learn(env, budget)`` is (see the module docstring)."""

BUDGET_UNITS: tuple[BudgetUnit, ...] = get_args(BudgetUnit)


@runtime_checkable
class Agent(Protocol):
    """Anything that can learn on a Gymnasium env and then act.

    Implementations declare ``budget_unit`` as a class attribute,
    ``budget_unit: ClassVar[BudgetUnit] = "steps"``; the protocol reads it as a read-only
    property so that any such declaration satisfies it.
    """

    @property
    def budget_unit(self) -> str:
        """What ``budget`` counts for this agent class: one of :data:`BUDGET_UNITS`."""
        ...

    def learn(self, env: gym.Env, budget: int) -> Agent:
        """Interact with ``env`` for ``budget`` units of ``budget_unit``; return self."""
        ...

    def predict(self, obs: Any, *, deterministic: bool = True) -> Any:
        """The action for observation ``obs``."""
        ...
