"""Base of the batched k-armed bandit agents and the testbed simulator.

Every agent runs ``n_runs`` independent learners at once: its state is a set of (k, n_runs)
arrays (arms-major, so per-run reductions over arms are contiguous) and ``act``/``update``
are whole-array operations. The same objects satisfy the project's agent protocol
(``learn(env, budget)`` / ``predict(obs)``) on a Gymnasium bandit with ``n_runs = 1``.
The concrete agents live in :mod:`qmml.agents.bandits`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast

import gymnasium as gym
import numpy as np

from qmml.agents.checks import check_number
from qmml.agents.protocol import BudgetUnit
from qmml.envs.bandit_batch import BanditBatch

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["BanditAgent", "BanditTrace", "BatchedBandit", "Engine", "simulate"]

Engine = Literal["auto", "compiled", "numpy"]
_ENGINES = ("auto", "compiled", "numpy")


def _argmax_ties(values: np.ndarray, arange_k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Argmax over arms (axis 0) of ``values`` (k, n_runs), ties broken uniformly at random.

    ``arange_k @ is_max`` is the arm index wherever the maximum is unique (much faster than
    ``argmax(axis=0)``); only tied columns draw random numbers.
    """
    is_max = values == values.max(axis=0)
    arms = (arange_k @ is_max).astype(np.intp)
    if np.count_nonzero(is_max) > is_max.shape[1]:
        tied = np.flatnonzero(np.count_nonzero(is_max, axis=0) > 1)
        keys = is_max[:, tied] * rng.random((is_max.shape[0], tied.size))
        arms[tied] = keys.argmax(axis=0)
    return arms


class BanditAgent(ABC):
    """Base class of batched bandit agents.

    Subclasses store their (validated) constructor arguments as attributes of the same name,
    allocate state in ``_init_state`` and implement ``act``, ``_update`` and ``estimates_``.
    Attributes set by :meth:`reset` end in ``_``: ``n_runs_``, ``k_``, ``steps_`` (updates
    so far, shared by all runs).
    """

    budget_unit: ClassVar[BudgetUnit] = "steps"  # learn(env, budget): budget env steps
    # simulate() may play this exact class with a kernel of qmml.agents.bandit_kernels; read
    # with vars(type(agent)), so a subclass (which may change act) is not covered by default
    _compiled: ClassVar[bool] = False
    _rng: np.random.Generator | None = None

    # -- batched interface -------------------------------------------------------------------
    def reset(self, n_runs: int, k: int, rng: np.random.Generator) -> None:
        """Forget everything and allocate state for ``n_runs`` problems with ``k`` arms.

        Args:
            n_runs: number of independent problems (>= 1).
            k: number of arms (>= 2).
            rng: the source of every random draw the agent makes.
        """
        n_runs = check_number("n_runs", n_runs, low=1, integer=True)
        k = check_number("k", k, low=2, integer=True)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.n_runs_, self.k_, self.steps_ = n_runs, k, 0
        self._rng = rng
        self._cols = np.arange(self.n_runs_)
        self._arange_k = np.arange(self.k_, dtype=np.float64)
        self._init_state()

    @abstractmethod
    def act(self) -> np.ndarray:
        """Choose an arm in every run: int array of shape (n_runs,)."""

    def update(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from one step: ``actions`` (n_runs,) ints in [0, k), ``rewards`` (n_runs,)."""
        self._require_reset()
        a = np.asarray(actions)
        r = np.asarray(rewards, dtype=np.float64)
        n, k = self.n_runs_, self.k_
        if a.shape != (n,) or r.shape != (n,) or a.dtype.kind not in "iu":
            raise ValueError(
                f"update expects integer actions and rewards of shape ({n},), got "
                f"{a.dtype} {a.shape} and {r.shape}"
            )
        if a.min() < 0 or a.max() >= k:
            raise ValueError(f"actions must lie in [0, {k}), got [{a.min()}, {a.max()}]")
        self._learn(a.astype(np.intp, copy=False) * n + self._cols, r)

    def _learn(self, index: np.ndarray, rewards: np.ndarray) -> None:
        """Update from validated flat positions ``action * n_runs + run`` (hot path)."""
        self._update(index, rewards)
        self.steps_ += 1

    @property
    @abstractmethod
    def estimates_(self) -> np.ndarray:
        """The agent's value of each arm, (n_runs, k); its argmax is the greedy arm."""

    @abstractmethod
    def _init_state(self) -> None: ...

    @abstractmethod
    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        """Apply one step; ``index`` is the flat position of each run's arm in a (k, n) array."""

    def _require_reset(self) -> np.random.Generator:
        """The agent's generator; raises RuntimeError before the first :meth:`reset`."""
        if self._rng is None:
            raise RuntimeError(
                f"{type(self).__name__} has no state yet; call "
                "reset(n_runs, k, rng) or learn(env, budget) first"
            )
        return self._rng

    def _state(self, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """A (k, n_runs) state array filled with ``fill`` and its flat view."""
        arr = np.full((self.k_, self.n_runs_), fill, dtype=np.float64)
        return arr, arr.reshape(-1)

    # -- agent protocol ----------------------------------------------------------------------
    def learn(self, env: gym.Env, budget: int, *, seed: int | None = None) -> Self:
        """Play ``budget`` steps of ``env`` (one run), resetting it when an episode ends.

        Args:
            env: an environment with a ``Discrete(k)`` action space, k >= 2.
            budget: number of env steps (>= 1).
            seed: seeds both the agent and the env (independent streams); None: fresh entropy.
        """
        space = env.action_space
        if not isinstance(space, gym.spaces.Discrete) or int(space.start) != 0:
            raise TypeError(f"learn needs a Discrete(k) action space starting at 0, got {space}")
        check_number("budget", budget, low=1, integer=True, hint="a number of env steps")
        env_seed: int | None = None
        if seed is None:
            rng = np.random.default_rng()
        else:
            agent_ss, env_ss = np.random.SeedSequence(seed).spawn(2)
            rng, env_seed = np.random.default_rng(agent_ss), int(env_ss.generate_state(1)[0])
        self.reset(1, int(space.n), rng)
        env.reset(seed=env_seed)
        reward = np.zeros(1)
        for _ in range(int(budget)):
            action = self.act()
            _, reward[0], terminated, truncated, _ = env.step(int(action[0]))
            self.update(action, reward)
            if terminated or truncated:
                env.reset()
        return self

    def predict(self, obs: Any = None, *, deterministic: bool = True) -> int:
        """The arm for run 0: greedy (lowest index on ties), or sampled as ``act`` would."""
        self._require_reset()
        if deterministic:
            return int(np.argmax(self.estimates_[0]))
        return int(self.act()[0])

    @property
    def params(self) -> dict[str, Any]:
        """Constructor arguments, by name (for reports and run logs)."""
        sig = inspect.signature(type(self).__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {
            n: getattr(self, n)
            for n, p in sig.parameters.items()
            if n != "self" and p.kind in kinds
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class BatchedBandit(Protocol):
    """What :func:`simulate` plays: ``n_runs`` problems with ``k`` arms stepped together
    (:class:`envs.bandit.BanditBatch`, or e.g. a stock-picking batch).

    An optional ``regret(actions)`` method (best mean minus chosen mean), when present, is
    used instead of ``optimal_actions`` so that every arm tied for the best counts as optimal.
    """

    @property
    def n_runs(self) -> int:
        """Number of problems played at once."""
        ...

    @property
    def k(self) -> int:
        """Number of arms of each problem."""
        ...

    def step(self, actions: np.ndarray) -> np.ndarray:
        """Pull ``actions`` (n_runs,) and return rewards (n_runs,)."""
        ...

    def optimal_actions(self) -> np.ndarray:
        """An arm with the largest mean for the coming step, (n_runs,)."""
        ...


class _FlatIndexBandit(BatchedBandit, Protocol):
    """A batch that also takes flat indices ``action * n_runs + run`` (BanditBatch): its
    actions are validated once per step and shared by the agent and the bandit."""

    def flat_index(self, actions: np.ndarray) -> np.ndarray: ...

    def _regret_at(self, index: np.ndarray) -> np.ndarray: ...

    def _pull(self, index: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class BanditTrace:
    """What :func:`simulate` measured (arrays are read-only).

    Attributes:
        mean_reward: reward at each step averaged over runs, (steps,).
        pct_optimal: percent of runs that pulled an arm with the largest mean at that step,
            (steps,).
        run_mean_reward: each run's average reward over all steps, (n_runs,).
        actions: arms pulled, (steps, n_runs) int16 (int32 if k > 32767), or None.
    """

    mean_reward: np.ndarray
    pct_optimal: np.ndarray
    run_mean_reward: np.ndarray
    actions: np.ndarray | None = None


def _not_compiled(agent: BanditAgent, bandit: BatchedBandit) -> str | None:
    """Why the compiled kernels cannot play ``agent`` on ``bandit``; None if they can."""
    if not vars(type(agent)).get("_compiled", False):
        return f"{type(agent).__name__} has no compiled kernel"
    if type(bandit) is not BanditBatch:
        return f"the bandit is a {type(bandit).__name__}, not a BanditBatch"
    return None


def simulate(
    agent: BanditAgent,
    bandit: BatchedBandit,
    steps: int,
    *,
    rng: np.random.Generator,
    record_actions: bool = False,
    engine: Engine = "auto",
) -> BanditTrace:
    """Reset ``agent`` with ``rng`` and let it play ``bandit`` for ``steps`` steps.

    ``bandit`` is advanced in place (its noise and random walk come from its own generator).
    Optimality is judged before each step, i.e. before a non-stationary walk moves the means.

    ``EpsilonGreedy``, ``UCB`` and ``GradientBandit`` on a ``BanditBatch`` run as one
    compiled loop (:mod:`qmml.agents.bandit_kernels`, 1.5-3.5x faster at 2000 runs) that draws
    exactly what the NumPy loop draws: ε-greedy and UCB traces are bit for bit the same on
    both engines, gradient-bandit traces up to the last bit of ``exp``. Other agents and
    bandits use the NumPy loop.

    Args:
        agent: any bandit agent; ``agent.reset(bandit.n_runs, bandit.k, rng)`` is called.
        bandit: the problems to play.
        steps: number of steps (>= 1).
        rng: the agent's generator.
        record_actions: also return every action.
        engine: ``"auto"`` (compiled where covered, else NumPy), ``"compiled"`` (raise
            ValueError where not covered) or ``"numpy"``.
    """
    check_number("steps", steps, low=1, integer=True)
    if engine not in _ENGINES:
        raise ValueError(f"engine={engine!r} is unknown; expected one of {', '.join(_ENGINES)}")
    reason = None if engine == "numpy" else _not_compiled(agent, bandit)
    if engine == "compiled" and reason is not None:
        raise ValueError(f"engine='compiled' cannot play this: {reason}; use engine='auto'")
    n = bandit.n_runs
    agent.reset(n, bandit.k, rng)
    actions = None
    if record_actions:
        actions = np.empty((steps, n), dtype=np.int16 if bandit.k <= 2**15 else np.int32)
    if engine != "numpy" and reason is None:
        from qmml.agents.bandit_kernels import play  # numba loads on first use only

        sums, n_optimal, total = play(agent, cast("BanditBatch", bandit), steps, actions)
    else:
        sums, n_optimal, total = _play_numpy(agent, bandit, steps, actions)
    arrays = (sums / n, n_optimal * (100.0 / n), total / steps, actions)
    for arr in arrays:
        if arr is not None:
            arr.flags.writeable = False
    return BanditTrace(*arrays)


def _play_numpy(
    agent: BanditAgent, bandit: BatchedBandit, steps: int, actions: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The NumPy loop of :func:`simulate`: per-step reward sums, optimal counts, run totals."""
    n = bandit.n_runs
    mean_reward = np.empty(steps)
    n_optimal = np.empty(steps, dtype=np.int64)
    total = np.zeros(n)
    regret = getattr(bandit, "regret", None)
    # BanditBatch: validate each step's actions once
    fast = cast("_FlatIndexBandit", bandit) if hasattr(bandit, "flat_index") else None
    for t in range(steps):
        a = agent.act()
        if fast is not None:
            index = fast.flat_index(a)
            n_optimal[t] = np.count_nonzero(fast._regret_at(index) == 0.0)
            r = fast._pull(index)
            agent._learn(index, r)
        else:
            if regret is not None:
                n_optimal[t] = np.count_nonzero(regret(a) == 0.0)
            else:
                n_optimal[t] = np.count_nonzero(a == bandit.optimal_actions())
            r = bandit.step(a)
            agent.update(a, r)
        total += r
        mean_reward[t] = r.sum()
        if actions is not None:
            actions[t] = a
    return mean_reward, n_optimal, total
