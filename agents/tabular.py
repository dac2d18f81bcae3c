"""Tabular control: Q-learning, SARSA and Expected SARSA (Sutton & Barto 2018, §6.4-6.6).

They run on any Gymnasium env with ``Discrete`` observations and actions and follow the agent
protocol (:class:`agents.protocol.Agent`): ``learn(env, budget)`` plays ``budget`` episodes
and returns the agent, ``predict(obs)`` acts greedily. Exploration is ε-greedy or softmax
(Boltzmann), with its parameter constant or decaying linearly or exponentially over episodes.
All randomness (exploration, tie-breaking, the env's reset seed) comes from ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from qmml.agents.checks import check_number
from qmml.agents.protocol import BudgetUnit

__all__ = ["TABULAR_AGENTS", "ExpectedSarsa", "QLearning", "Sarsa", "TabularAgent"]

Exploration = Literal["epsilon-greedy", "softmax"]
Schedule = Literal["constant", "linear", "exponential"]
Seed = int | np.random.SeedSequence | np.random.Generator | None


class TabularAgent:
    """Shared machinery of the three TD control agents (subclasses define the TD target).

    Args:
        alpha: step size, in (0, 1].
        gamma: discount, in [0, 1].
        exploration: ``"epsilon-greedy"`` or ``"softmax"``.
        epsilon: ε of ε-greedy (its start value when decaying), in [0, 1].
        temperature: τ of softmax, P(a) ∝ exp(Q(s, a)/τ) (start value when decaying), > 0.
        schedule: how ε (or τ) changes over episodes: ``"constant"``, ``"linear"`` (to
            ``final`` over ``decay_episodes``) or ``"exponential"`` (geometric, same ends).
        final: the value ε (or τ) reaches after ``decay_episodes``.
        decay_episodes: length of the decay; None: the whole budget of :meth:`learn`.
        initial_value: Q(s, a) before learning (optimistic if high).
        max_episode_steps: an episode is cut after this many steps (envs without a time limit).
        seed: seed of every random draw (ints, SeedSequence or Generator).

    Attributes:
        q_table_: (S, A) action values after :meth:`learn`.
        episode_returns_: undiscounted sum of rewards per episode.
        episode_discounted_returns_: discounted return per episode.
        episode_lengths_: steps per episode.
        exploration_values_: ε (or τ) used in each episode.
    """

    budget_unit: ClassVar[BudgetUnit] = "episodes"  # learn(env, budget): budget episodes
    name: ClassVar[str] = ""
    _next_first: ClassVar[bool] = False

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        gamma: float = 1.0,
        exploration: Exploration = "epsilon-greedy",
        epsilon: float = 0.1,
        temperature: float = 1.0,
        schedule: Schedule = "constant",
        final: float | None = None,
        decay_episodes: int | None = None,
        initial_value: float = 0.0,
        max_episode_steps: int = 10_000,
        seed: Seed = None,
    ) -> None:
        self.alpha = check_number("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.gamma = check_number("gamma", gamma, low=0.0, high=1.0)
        if exploration not in ("epsilon-greedy", "softmax"):
            raise ValueError(
                f"exploration={exploration!r} is unknown; choose 'epsilon-greedy' or 'softmax'"
            )
        self.exploration = exploration
        self.epsilon = check_number("epsilon", epsilon, low=0.0, high=1.0)
        self.temperature = check_number("temperature", temperature, low=0.0, low_open=True)
        if schedule not in ("constant", "linear", "exponential"):
            raise ValueError(
                f"schedule={schedule!r} is unknown; choose 'constant', 'linear' or 'exponential'"
            )
        self.schedule = schedule
        start = self.epsilon if exploration == "epsilon-greedy" else self.temperature
        if final is None:
            final = start if schedule == "constant" else (0.01 if start > 0.01 else start)
        if exploration == "epsilon-greedy":
            self.final = check_number("final", final, low=0.0, high=1.0)
        else:
            self.final = check_number("final", final, low=0.0, low_open=True)
        if schedule == "exponential" and (start == 0) != (self.final == 0):
            raise ValueError(
                "an exponential schedule cannot start or end at 0; give epsilon "
                "and final > 0, or use schedule='linear'"
            )
        if decay_episodes is not None:
            check_number("decay_episodes", decay_episodes, low=1, integer=True, hint="or None")
        self.decay_episodes = decay_episodes
        self.initial_value = check_number("initial_value", initial_value)
        check_number("max_episode_steps", max_episode_steps, low=1, integer=True)
        self.max_episode_steps = max_episode_steps
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    # -- exploration ------------------------------------------------------------------------
    def exploration_at(self, episode: int, budget: int) -> float:
        """ε (or τ) used in episode ``episode`` (0-based) of a ``budget``-episode run."""
        start = self.epsilon if self.exploration == "epsilon-greedy" else self.temperature
        if self.schedule == "constant":
            return start
        span = self.decay_episodes or budget
        frac = min(1.0, episode / max(1, span - 1)) if span > 1 else 1.0
        if self.schedule == "linear":
            return start + (self.final - start) * frac
        if start == 0:
            return 0.0
        return start * (self.final / start) ** frac

    def action_probs(self, q: np.ndarray, param: float) -> np.ndarray:
        """The exploration policy's probabilities over actions given action values ``q``.

        ε-greedy spreads 1 − ε over the greedy actions (ties share it) and ε over all actions;
        softmax is exp((q − max q)/τ) normalised.
        """
        if self.exploration == "softmax":
            z = np.exp((q - q.max()) / param)
            return z / z.sum()
        best = q == q.max()
        return (1.0 - param) * best / best.sum() + param / q.size

    def _act(self, q: np.ndarray, param: float) -> int:
        rng = self._rng
        if self.exploration == "softmax":
            cdf = np.cumsum(self.action_probs(q, param))
            return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), q.size - 1))
        if param > 0 and rng.random() < param:
            return int(rng.integers(q.size))
        best = np.flatnonzero(q == q.max())
        return int(best[0] if best.size == 1 else best[rng.integers(best.size)])

    # -- learning ---------------------------------------------------------------------------
    def _target(self, q_next: np.ndarray, a_next: int, param: float) -> float:
        raise NotImplementedError

    def learn(
        self,
        env: gym.Env,
        budget: int,
        *,
        callback: Callable[[int, TabularAgent], None] | None = None,
    ) -> TabularAgent:
        """Play ``budget`` episodes on ``env`` (learning from scratch) and return self.

        Args:
            env: a Gymnasium env with Discrete observation and action spaces.
            budget: number of episodes.
            callback: called as ``callback(episode, agent)`` after every episode.

        Raises:
            ValueError: the env's spaces are not Discrete, or ``budget`` < 1.
        """
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(obs_space, gym.spaces.Discrete) or not isinstance(
            act_space, gym.spaces.Discrete
        ):
            raise ValueError(
                f"{type(self).__name__} needs Discrete observation and action "
                f"spaces; got {obs_space} and {act_space} (use a tabular env)"
            )
        check_number("budget", budget, low=1, integer=True, hint="a number of episodes")
        n_s, n_a = int(obs_space.n), int(act_space.n)
        self.q_table_ = np.full((n_s, n_a), self.initial_value)
        returns, discounted, lengths, params = [], [], [], []
        q, g, alpha = self.q_table_, self.gamma, self.alpha
        reset_seed = int(self._rng.integers(2**31 - 1))
        for ep in range(int(budget)):
            param = self.exploration_at(ep, int(budget))
            s, _ = env.reset(seed=reset_seed if ep == 0 else None)
            s = int(s)
            a = self._act(q[s], param)
            total, disc, scale, t = 0.0, 0.0, 1.0, 0
            while True:
                s2, r, terminated, truncated, _ = env.step(a)
                s2, r, t = int(s2), float(r), t + 1
                total += r
                disc += scale * r
                scale *= g
                # SARSA picks A' before updating Q(S, A) (its target needs it); Q-learning and
                # Expected SARSA pick it after, from the updated Q (the book's pseudocode)
                a2 = self._act(q[s2], param) if self._next_first else -1
                target = r if terminated else r + g * self._target(q[s2], a2, param)
                q[s, a] += alpha * (target - q[s, a])
                if not self._next_first:
                    a2 = self._act(q[s2], param)
                if terminated or truncated or t >= self.max_episode_steps:
                    break
                s, a = s2, a2
            returns.append(total)
            discounted.append(disc)
            lengths.append(t)
            params.append(param)
            if callback is not None:
                callback(ep, self)
        self.episode_returns_ = np.asarray(returns)
        self.episode_discounted_returns_ = np.asarray(discounted)
        self.episode_lengths_ = np.asarray(lengths, dtype=np.int64)
        self.exploration_values_ = np.asarray(params)
        return self

    def greedy_policy(self) -> np.ndarray:
        """(S,) greedy actions of the learnt Q (ties: lowest action index)."""
        self._require_fitted()
        return np.argmax(self.q_table_, axis=1).astype(np.int64)

    def predict(self, obs: Any, *, deterministic: bool = True) -> int:
        """The greedy action in ``obs``; with ``deterministic=False`` a draw from the
        exploration policy at its final ε (or τ)."""
        self._require_fitted()
        q = self.q_table_[int(obs)]
        if deterministic:
            return int(np.argmax(q))
        return self._act(q, float(self.exploration_values_[-1]))

    def _require_fitted(self) -> None:
        if not hasattr(self, "q_table_"):
            raise RuntimeError(
                f"call {type(self).__name__}.learn(env, budget) before using the policy"
            )


class QLearning(TabularAgent):
    """Q-learning (§6.5): off-policy TD control, target r + γ max_a Q(s', a)."""

    name = "q-learning"

    def _target(self, q_next: np.ndarray, a_next: int, param: float) -> float:
        return float(q_next.max())


class Sarsa(TabularAgent):
    """SARSA (§6.4): on-policy TD control, target r + γ Q(s', a') with a' the next action."""

    name = "sarsa"
    _next_first = True

    def _target(self, q_next: np.ndarray, a_next: int, param: float) -> float:
        return float(q_next[a_next])


class ExpectedSarsa(TabularAgent):
    """Expected SARSA (§6.6): target r + γ Σ_a π(a|s') Q(s', a) under the exploration policy."""

    name = "expected-sarsa"

    def _target(self, q_next: np.ndarray, a_next: int, param: float) -> float:
        return float(self.action_probs(q_next, param) @ q_next)


TABULAR_AGENTS: dict[str, type[TabularAgent]] = {
    cls.name: cls for cls in (QLearning, Sarsa, ExpectedSarsa)
}
