"""The batched k-armed bandit simulator: ``n_runs`` independent problems stepped as arrays.

:class:`BanditBatch` is what the testbed experiments use (Sutton & Barto 2018, §2.3); the
Gymnasium environments of :mod:`qmml.envs.bandit` wrap one of its problems.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["BanditBatch", "RewardKind"]

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
