"""k-armed bandits as Gymnasium environments, over a batched NumPy simulator.

:class:`~envs.bandit_batch.BanditBatch` (re-exported here) steps ``n_runs`` independent
problems at once and is what the testbed experiments use (Sutton & Barto 2018, §2.3).
:class:`GaussianBanditEnv` and :class:`BernoulliBanditEnv` wrap one problem as a Gymnasium
environment for the agent protocol and for tools that expect ``gym.Env``;
:func:`register_bandit_envs` registers the ``qmml/*`` ids.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from qmml.envs.bandit_batch import BanditBatch, RewardKind, _check_int, _check_min

__all__ = [
    "BanditBatch",
    "BernoulliBanditEnv",
    "GaussianBanditEnv",
    "register_bandit_envs",
]


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
