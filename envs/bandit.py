"""k-armed bandits: a batched NumPy simulator and Gymnasium environments.

:class:`BanditBatch` steps ``n_runs`` independent problems at once and is what the testbed
experiments use (Sutton & Barto 2018, §2.3). :class:`GaussianBanditEnv` and
:class:`BernoulliBanditEnv` wrap one problem as a Gymnasium environment for the agent protocol
and for tools that expect ``gym.Env``; :func:`register_bandit_envs` registers the ``qmml/*``
ids.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = [
    "BanditBatch",
    "BernoulliBanditEnv",
    "GaussianBanditEnv",
    "register_bandit_envs",
]

RewardKind = Literal["gaussian", "bernoulli"]
_REWARD_KINDS = ("gaussian", "bernoulli")


def _check_min(name: str, value: float, low: float, *, strict: bool = False) -> float:
    """Return ``float(value)`` or raise a ValueError that names the argument and its range."""
    v = float(value)
    if not np.isfinite(v) or v < low or (strict and v == low):
        op = ">" if strict else ">="
        raise ValueError(f"{name}={value!r} is out of range; expected a finite {name} {op} {low}")
    return v


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name}={value!r} is out of range; expected an int {name} >= {low}")
    return int(value)


class BanditBatch:
    """``n_runs`` independent k-armed bandit problems, stepped together as array operations.

    Every random draw comes from the ``rng`` passed in, and the draws of a step do not depend
    on the actions taken: two agents stepped on copies of one batch with equally seeded
    generators see the same noise (common random numbers).

    Args:
        means: arm means, shape (n_runs, k), copied. For Bernoulli rewards these are the
            success probabilities, in [0, 1].
        rng: source of all reward noise and random-walk steps.
        reward: ``"gaussian"`` (mean + N(0, noise_std²)) or ``"bernoulli"`` (1 w.p. mean).
        noise_std: standard deviation of Gaussian reward noise (>= 0).
        walk_std: after each step every mean takes an independent N(0, walk_std²) step
            (Sutton & Barto exercise 2.5); 0 keeps the problem stationary. Gaussian only.

    Raises:
        ValueError: bad shape, non-finite means, probabilities outside [0, 1], negative
            standard deviations or an unknown reward kind.
    """

    def __init__(
        self,
        means: np.ndarray,
        *,
        rng: np.random.Generator,
        reward: RewardKind = "gaussian",
        noise_std: float = 1.0,
        walk_std: float = 0.0,
    ) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        means = np.array(means, dtype=np.float64)  # copy
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 2:
            raise ValueError(
                f"means must have shape (n_runs, k) with n_runs >= 1 and k >= 2, "
                f"got shape {means.shape}"
            )
        if not np.isfinite(means).all():
            raise ValueError("means must be finite")
        if reward not in _REWARD_KINDS:
            raise ValueError(f"reward={reward!r} is not one of {', '.join(_REWARD_KINDS)}")
        if reward == "bernoulli" and ((means < 0).any() or (means > 1).any()):
            raise ValueError("bernoulli means are probabilities; expected 0 <= means <= 1")
        self._noise_std = _check_min("noise_std", noise_std, 0.0)
        self._walk_std = _check_min("walk_std", walk_std, 0.0)
        if reward == "bernoulli" and self._walk_std > 0:
            raise ValueError(
                f"walk_std={walk_std!r} is not supported for bernoulli rewards "
                "(the walk would leave [0, 1]); expected walk_std = 0"
            )
        self._rng = rng
        self._reward = reward
        # Arms-major layout (k, n_runs): reductions over arms and flat gathers are contiguous.
        self._means_t = np.ascontiguousarray(means.T)
        self._flat = self._means_t.reshape(-1)  # view
        self._cols = np.arange(means.shape[0])
        self._best: np.ndarray | None = None  # cached max mean per run, dropped on a walk

    @classmethod
    def gaussian(
        cls,
        n_runs: int,
        k: int = 10,
        *,
        rng: np.random.Generator,
        mean_offset: float = 0.0,
        mean_std: float = 1.0,
        noise_std: float = 1.0,
        walk_std: float = 0.0,
        equal_start: bool = False,
    ) -> BanditBatch:
        """The 10-armed testbed: q*(a) ~ N(mean_offset, mean_std²), rewards q*(a) + noise.

        With ``equal_start=True`` every mean starts at ``mean_offset`` (exercise 2.5); the
        means are then drawn without touching ``rng``.
        """
        n_runs, k = _check_int("n_runs", n_runs, 1), _check_int("k", k, 2)
        mean_std = _check_min("mean_std", mean_std, 0.0)
        offset = _check_min("mean_offset", mean_offset, -np.inf)
        if equal_start:
            means = np.full((n_runs, k), offset)
        else:
            means = offset + mean_std * rng.standard_normal((n_runs, k))
        return cls(means, rng=rng, noise_std=noise_std, walk_std=walk_std)

    @classmethod
    def bernoulli(cls, n_runs: int, k: int = 10, *, rng: np.random.Generator) -> BanditBatch:
        """Bernoulli arms with success probabilities p(a) ~ U(0, 1)."""
        n_runs, k = _check_int("n_runs", n_runs, 1), _check_int("k", k, 2)
        return cls(rng.random((n_runs, k)), rng=rng, reward="bernoulli")

    @property
    def n_runs(self) -> int:
        """Number of independent problems."""
        return self._means_t.shape[1]

    @property
    def k(self) -> int:
        """Number of arms."""
        return self._means_t.shape[0]

    @property
    def means(self) -> np.ndarray:
        """Current arm means, shape (n_runs, k); a read-only view."""
        view = self._means_t.T
        view.flags.writeable = False
        return view

    def optimal_actions(self) -> np.ndarray:
        """Arm with the largest current mean in each run (lowest index on ties), (n_runs,)."""
        return self._means_t.argmax(axis=0)

    def regret(self, actions: np.ndarray) -> np.ndarray:
        """Best current mean minus the mean of ``actions`` (>= 0, 0 for an optimal arm)."""
        return self._regret_at(self._index(actions))

    def step(self, actions: np.ndarray) -> np.ndarray:
        """Pull one arm in every run and return the rewards, shape (n_runs,), float64.

        Args:
            actions: integer arms in [0, k), shape (n_runs,).
        """
        return self._pull(self._index(actions))

    def flat_index(self, actions: np.ndarray) -> np.ndarray:
        """Validated flat positions of ``actions`` in the (k, n_runs) mean table; with
        :meth:`_pull` and :meth:`_regret_at` this lets ``simulate`` validate once per step."""
        return self._index(actions)

    def _regret_at(self, index: np.ndarray) -> np.ndarray:
        if self._best is None:
            self._best = self._means_t.max(axis=0)
        return self._best - self._flat[index]

    def _pull(self, index: np.ndarray) -> np.ndarray:
        chosen = self._flat[index]
        if self._reward == "gaussian":
            rewards = self._rng.standard_normal(self.n_runs)
            rewards *= self._noise_std
            rewards += chosen
        else:
            rewards = (self._rng.random(self.n_runs) < chosen).astype(np.float64)
        if self._walk_std > 0:
            self._means_t += self._walk_std * self._rng.standard_normal(self._means_t.shape)
            self._best = None
        return rewards

    def _index(self, actions: np.ndarray) -> np.ndarray:
        a = np.asarray(actions)
        if a.shape != (self.n_runs,) or a.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be integers of shape ({self.n_runs},), "
                f"got {a.dtype} of shape {a.shape}"
            )
        if a.min() < 0 or a.max() >= self.k:
            raise ValueError(
                f"actions must lie in [0, {self.k}), got values in [{a.min()}, {a.max()}]"
            )
        return a.astype(np.intp, copy=False) * self.n_runs + self._cols


class _BanditEnv(gym.Env[int | np.int64, int | np.int64]):
    """Shared machinery of the single-problem bandit environments (see subclasses).

    Observations and actions are ints; ``np.int64`` is in the type because that is what
    gymnasium's ``Discrete`` spaces hold.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        means: np.ndarray,
        reward: RewardKind,
        noise_std: float,
        walk_std: float,
        max_steps: int,
        render_mode: str | None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; expected None or one of "
                f"{self.metadata['render_modes']}"
            )
        self.render_mode = render_mode
        self.max_steps = _check_int("max_steps", max_steps, 1)
        self._initial_means = np.array(means, dtype=np.float64).reshape(1, -1)
        self._reward, self._noise_std, self._walk_std = reward, noise_std, walk_std
        k = self._initial_means.shape[1]
        self.observation_space = spaces.Discrete(1)
        self.action_space = spaces.Discrete(k)
        self._batch: BanditBatch | None = None
        self._t = 0
        self._pulls = np.zeros(k, dtype=np.int64)
        self._last: tuple[int, float] | None = None

    @property
    def means(self) -> np.ndarray:
        """Current arm means, shape (k,) (the initial ones before the first reset)."""
        batch = self._batch
        return (self._initial_means if batch is None else batch.means)[0].copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._batch = BanditBatch(
            self._initial_means,
            rng=self.np_random,
            reward=self._reward,
            noise_std=self._noise_std,
            walk_std=self._walk_std,
        )
        self._t = 0
        self._pulls[:] = 0
        self._last = None
        return 0, {"optimal_action": int(self._batch.optimal_actions()[0])}

    def step(self, action: int | np.int64) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(
                f"action={action!r} is invalid; expected an int in [0, {self._pulls.size})"
            )
        a = np.array([action], dtype=np.intp)
        optimal = int(self._batch.optimal_actions()[0])
        regret = float(self._batch.regret(a)[0])
        reward = float(self._batch.step(a)[0])
        self._t += 1
        self._pulls[int(action)] += 1
        self._last = (int(action), reward)
        info = {"optimal_action": optimal, "regret": regret}
        return 0, reward, False, self._t >= self.max_steps, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        means = self.means
        best = int(means.argmax())
        last_arm = self._last[0] if self._last else -1
        lines = [f"step {self._t}/{self.max_steps}", " arm      mean  pulls"]
        for arm, (m, n) in enumerate(zip(means, self._pulls, strict=True)):
            mark = ("*" if arm == best else " ") + (">" if arm == last_arm else " ")
            lines.append(f"{mark}{arm:2d}  {m:+8.3f}  {n:5d}")
        if self._last:
            lines.append(f"last: arm {self._last[0]} -> reward {self._last[1]:+.3f}")
        lines.append("(* best arm, > last pull)")
        return "\n".join(lines) + "\n"


class GaussianBanditEnv(_BanditEnv):
    """A k-armed bandit with Gaussian rewards: one problem of the 10-armed testbed.

    ## Description
    Sutton & Barto (2018) §2.3: arm a has a true value q*(a) ~ N(mean_offset, mean_std²)
    drawn once from ``problem_seed``; pulling it pays q*(a) + N(0, noise_std²). With
    ``walk_std > 0`` every q*(a) takes an independent N(0, walk_std²) step after each pull
    (exercise 2.5, non-stationary); ``equal_start=True`` starts all q*(a) at ``mean_offset``.

    ## Action Space
    ``Discrete(k)``: the arm to pull.

    ## Observation Space
    ``Discrete(1)``: always 0; a bandit has no state.

    ## Rewards
    q*(a) + N(0, noise_std²), drawn from ``self.np_random``.

    ## Episode End
    Never terminates; truncated after ``max_steps`` pulls. ``reset`` restores the initial
    means, so every episode faces the same problem. ``info`` holds ``optimal_action`` (arm
    with the largest mean when pulling) and ``regret`` (best mean minus the pulled arm's).

    ## Arguments
    ``k`` (>= 2), ``mean_offset``, ``mean_std`` (>= 0), ``noise_std`` (>= 0), ``walk_std``
    (>= 0), ``equal_start``, ``max_steps`` (>= 1), ``problem_seed`` (seed of the arm means;
    noise comes from ``reset(seed=...)``), ``render_mode`` (None or ``"ansi"``).

    ## Version History
    * v0: initial version (``qmml/GaussianBandit-v0``, ``qmml/NonstationaryBandit-v0``).
    """

    def __init__(
        self,
        k: int = 10,
        mean_offset: float = 0.0,
        mean_std: float = 1.0,
        noise_std: float = 1.0,
        walk_std: float = 0.0,
        equal_start: bool = False,
        max_steps: int = 1000,
        problem_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        k = _check_int("k", k, 2)
        problem_seed = _check_int("problem_seed", problem_seed, 0)
        noise_std = _check_min("noise_std", noise_std, 0.0)
        walk_std = _check_min("walk_std", walk_std, 0.0)
        problem = BanditBatch.gaussian(
            1,
            k,
            rng=np.random.default_rng(problem_seed),
            mean_offset=mean_offset,
            mean_std=mean_std,
            equal_start=equal_start,
        )
        super().__init__(problem.means, "gaussian", noise_std, walk_std, max_steps, render_mode)


class BernoulliBanditEnv(_BanditEnv):
    """A k-armed bandit whose arms pay 1 with probability p(a), else 0.

    ## Description
    Arm success probabilities p(a) ~ U(0, 1) are drawn once from ``problem_seed``.

    ## Action Space
    ``Discrete(k)``: the arm to pull.

    ## Observation Space
    ``Discrete(1)``: always 0; a bandit has no state.

    ## Rewards
    1.0 with probability p(a), else 0.0, drawn from ``self.np_random``.

    ## Episode End
    Never terminates; truncated after ``max_steps`` pulls. ``info`` holds
    ``optimal_action`` and ``regret`` (best p minus the pulled arm's p).

    ## Arguments
    ``k`` (>= 2), ``max_steps`` (>= 1), ``problem_seed`` (seed of the probabilities),
    ``render_mode`` (None or ``"ansi"``).

    ## Version History
    * v0: initial version (``qmml/BernoulliBandit-v0``).
    """

    def __init__(
        self,
        k: int = 10,
        max_steps: int = 1000,
        problem_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        k = _check_int("k", k, 2)
        problem_seed = _check_int("problem_seed", problem_seed, 0)
        problem = BanditBatch.bernoulli(1, k, rng=np.random.default_rng(problem_seed))
        super().__init__(problem.means, "bernoulli", 0.0, 0.0, max_steps, render_mode)


_ENV_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    "qmml/GaussianBandit-v0": ("GaussianBanditEnv", {"k": 10}),
    "qmml/BernoulliBandit-v0": ("BernoulliBanditEnv", {"k": 10}),
    "qmml/NonstationaryBandit-v0": (
        "GaussianBanditEnv",
        {"k": 10, "equal_start": True, "walk_std": 0.01, "max_steps": 10_000},
    ),
}


def register_bandit_envs() -> list[str]:
    """Register the ``qmml/*Bandit*`` ids with Gymnasium; safe to call more than once.

    Returns:
        The bandit env ids (registered now or before).
    """
    for env_id, (cls_name, kwargs) in _ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"qmml.envs.bandit:{cls_name}", kwargs=kwargs)
    return list(_ENV_IDS)
