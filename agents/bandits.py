"""Batched k-armed bandit agents (Sutton & Barto 2018, ch. 2).

Each class runs many independent learners at once (see :mod:`qmml.agents.bandit_base`); ``AGENTS``
maps the names used in experiment specs to the classes.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from qmml.agents.bandit_base import BanditAgent, BanditTrace, BatchedBandit, _argmax_ties, simulate
from qmml.agents.checks import check_number

__all__ = [
    "AGENTS",
    "UCB",
    "BanditAgent",
    "BanditTrace",
    "BatchedBandit",
    "BernoulliThompson",
    "DiscountedUCB",
    "EpsilonGreedy",
    "GaussianThompson",
    "GradientBandit",
    "RandomAgent",
    "simulate",
]

Schedule = Literal["constant", "inverse", "exponential"]
_SCHEDULES = ("constant", "inverse", "exponential")


class _ActionValueAgent(BanditAgent):
    """Action-value estimates Q(a) and counts N(a) with the incremental update (2.3)/(2.5).

    Subclasses set ``step_size`` (None: sample average) and ``initial_value``.
    """

    step_size: float | None
    initial_value: float

    def _init_state(self) -> None:
        self._q, self._q_flat = self._state(self.initial_value)
        self._n, self._n_flat = self._state()

    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        q = self._q_flat[index]
        step = rewards - q
        if self.step_size is None:
            n = self._n_flat[index]
            n += 1.0
            self._n_flat[index] = n
            step /= n
        else:
            self._n_flat[index] += 1.0
            step *= self.step_size
        q += step
        self._q_flat[index] = q

    @property
    def estimates_(self) -> np.ndarray:
        return self._q.T.copy()

    @property
    def counts_(self) -> np.ndarray:
        """Pulls of each arm, (n_runs, k)."""
        return self._n.T.copy()


class EpsilonGreedy(_ActionValueAgent):
    """ε-greedy action-value method (§2.2-2.6).

    Args:
        epsilon: exploration probability, in [0, 1].
        schedule: ``"constant"`` (ε), ``"inverse"`` (ε_n = 1/(1+n), ignores ``epsilon``) or
            ``"exponential"`` (ε·decay^n), n = updates so far.
        decay: factor of the exponential schedule, in (0, 1].
        step_size: None for sample averages (1/N(a)), else a constant α in (0, 1].
        initial_value: Q_1(a) for every arm (optimistic if large, §2.6).
    """

    _compiled = True  # simulate() plays it with a kernel (qmml.agents.bandit_kernels)

    def __init__(
        self,
        epsilon: float = 0.1,
        schedule: Schedule = "constant",
        decay: float = 0.99,
        step_size: float | None = None,
        initial_value: float = 0.0,
    ) -> None:
        self.epsilon = check_number("epsilon", epsilon, low=0.0, high=1.0)
        if schedule not in _SCHEDULES:
            raise ValueError(
                f"schedule={schedule!r} is unknown; expected one of {', '.join(_SCHEDULES)}"
            )
        self.schedule = schedule
        self.decay = check_number("decay", decay, low=0.0, high=1.0, low_open=True)
        self.step_size = (
            None
            if step_size is None
            else check_number("step_size", step_size, low=0.0, high=1.0, low_open=True)
        )
        self.initial_value = check_number("initial_value", initial_value)

    def epsilon_at(self, n: int) -> float:
        """ε used after ``n`` updates."""
        if self.schedule == "constant":
            return self.epsilon
        if self.schedule == "inverse":
            return 1.0 / (1.0 + n)
        return self.epsilon * self.decay**n

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        arms = _argmax_ties(self._q, self._arange_k, rng)
        eps = self.epsilon_at(self.steps_)
        if eps > 0:
            u = rng.random(self.n_runs_)
            explore = np.flatnonzero(u < eps)
            # Given u < eps, u / eps ~ U(0, 1): one draw says whether and where to explore.
            arms[explore] = np.minimum(u[explore] * (self.k_ / eps), self.k_ - 1)
        return arms


class UCB(_ActionValueAgent):
    """Upper-confidence-bound action selection (§2.7, eq. 2.10).

    A_t = argmax_a Q_t(a) + c·sqrt(ln t / N_t(a)); an arm with N_t(a) = 0 is maximising.

    Args:
        c: exploration weight, >= 0.
        step_size: None for sample averages, else a constant α in (0, 1].
        initial_value: Q_1(a) for every arm.
    """

    _compiled = True

    def __init__(
        self, c: float = 2.0, step_size: float | None = None, initial_value: float = 0.0
    ) -> None:
        self.c = check_number("c", c, low=0.0)
        self.step_size = (
            None
            if step_size is None
            else check_number("step_size", step_size, low=0.0, high=1.0, low_open=True)
        )
        self.initial_value = check_number("initial_value", initial_value)

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        with np.errstate(divide="ignore", invalid="ignore"):
            values = self._q + self.c * np.sqrt(math.log(self.steps_ + 1) / self._n)
        np.putmask(values, self._n == 0, np.inf)
        return _argmax_ties(values, self._arange_k, rng)


class DiscountedUCB(BanditAgent):
    """Discounted UCB for non-stationary bandits (Garivier & Moulines 2011).

    Counts and reward sums decay by γ each step: N_γ(a) = Σ_s γ^(t-s) 1{A_s = a},
    S_γ(a) = Σ_s γ^(t-s) R_s 1{A_s = a}; A_t = argmax S_γ/N_γ + c·sqrt(ln n_γ / N_γ(a)) with
    n_γ = Σ_a N_γ(a). An arm with N_γ(a) = 0 is maximising.

    Args:
        c: exploration weight, >= 0.
        gamma: discount, in (0, 1]; 1 gives plain UCB with sample averages.
    """

    def __init__(self, c: float = 2.0, gamma: float = 0.99) -> None:
        self.c = check_number("c", c, low=0.0)
        self.gamma = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)

    def _init_state(self) -> None:
        self._n, self._n_flat = self._state()
        self._s, self._s_flat = self._state()

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        n = self._n
        log_total = np.log(np.maximum(n.sum(axis=0), 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            values = self._s / n + self.c * np.sqrt(log_total / n)
        np.putmask(values, n == 0, np.inf)
        return _argmax_ties(values, self._arange_k, rng)

    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        self._n *= self.gamma
        self._s *= self.gamma
        self._n_flat[index] += 1.0
        self._s_flat[index] += rewards

    @property
    def estimates_(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self._n > 0, self._s / self._n, 0.0).T.copy()

    @property
    def discounted_counts_(self) -> np.ndarray:
        """N_γ(a), (n_runs, k)."""
        return self._n.T.copy()

    @property
    def discounted_sums_(self) -> np.ndarray:
        """S_γ(a), (n_runs, k)."""
        return self._s.T.copy()


class GradientBandit(BanditAgent):
    """Gradient bandit: softmax over preferences H, stochastic gradient ascent (§2.8).

    H(A_t) += α(R_t − R̄_t)(1 − π(A_t)), H(a) −= α(R_t − R̄_t)π(a) for a ≠ A_t, where R̄_t is
    the average of the rewards before step t with R̄_1 = R_1 (the book's 2018 convention),
    or 0 without a baseline.

    Args:
        alpha: step size, > 0.
        baseline: use the average-reward baseline.
    """

    _compiled = True

    def __init__(self, alpha: float = 0.1, baseline: bool = True) -> None:
        self.alpha = check_number("alpha", alpha, low=0.0, low_open=True)
        if not isinstance(baseline, bool | np.bool_):
            raise TypeError(f"baseline must be a bool, got {type(baseline).__name__}")
        self.baseline = bool(baseline)

    def _init_state(self) -> None:
        self._h, self._h_flat = self._state()
        self._rbar = np.zeros(self.n_runs_)

    def _policy(self) -> np.ndarray:
        z = np.exp(self._h - self._h.max(axis=0))
        return z / z.sum(axis=0)

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        cdf = np.cumsum(self._policy(), axis=0)
        u = rng.random(self.n_runs_)
        return np.minimum(np.count_nonzero(cdf < u, axis=0), self.k_ - 1).astype(np.intp)

    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        pi = self._policy()
        if self.baseline:
            if self.steps_ == 0:
                self._rbar[:] = rewards
            advantage = rewards - self._rbar
            self._rbar += (rewards - self._rbar) / (self.steps_ + 1)
        else:
            advantage = rewards
        step = self.alpha * advantage
        self._h -= step * pi
        self._h_flat[index] += step  # net: +α(R − R̄)(1 − π(A_t))

    @property
    def estimates_(self) -> np.ndarray:
        return self._h.T.copy()

    @property
    def policy_(self) -> np.ndarray:
        """π(a) = softmax(H)(a), (n_runs, k)."""
        return self._policy().T.copy()

    @property
    def baseline_(self) -> np.ndarray:
        """R̄ after the last update (average of all rewards so far), (n_runs,)."""
        return self._rbar.copy()


class GaussianThompson(BanditAgent):
    """Thompson sampling with a conjugate normal prior and known Gaussian reward noise.

    Posterior of arm a after rewards r_1..r_n: precision τ = 1/σ0² + n/σ², mean
    (μ0/σ0² + Σr/σ²)/τ. Each step samples one value per arm and pulls the argmax.

    Args:
        prior_mean: μ0.
        prior_std: σ0, > 0.
        noise_std: σ, the reward noise the agent assumes, > 0.
    """

    def __init__(
        self, prior_mean: float = 0.0, prior_std: float = 1.0, noise_std: float = 1.0
    ) -> None:
        self.prior_mean = check_number("prior_mean", prior_mean)
        self.prior_std = check_number("prior_std", prior_std, low=0.0, low_open=True)
        self.noise_std = check_number("noise_std", noise_std, low=0.0, low_open=True)

    def _init_state(self) -> None:
        prior_precision = self.prior_std**-2
        self._prec, self._prec_flat = self._state(prior_precision)
        self._wsum, self._wsum_flat = self._state(self.prior_mean * prior_precision)

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        noise = rng.standard_normal(self._prec.shape)
        sample = self._wsum / self._prec + noise / np.sqrt(self._prec)
        return _argmax_ties(sample, self._arange_k, rng)

    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        noise_precision = self.noise_std**-2
        self._prec_flat[index] += noise_precision
        self._wsum_flat[index] += rewards * noise_precision

    @property
    def estimates_(self) -> np.ndarray:
        return self.posterior_mean_

    @property
    def posterior_mean_(self) -> np.ndarray:
        """Posterior mean of each arm, (n_runs, k)."""
        return (self._wsum / self._prec).T.copy()

    @property
    def posterior_var_(self) -> np.ndarray:
        """Posterior variance of each arm, (n_runs, k)."""
        return (1.0 / self._prec).T.copy()


class BernoulliThompson(BanditAgent):
    """Thompson sampling for 0/1 rewards with Beta(α, β) posteriors.

    Args:
        alpha0: prior successes α0, > 0.
        beta0: prior failures β0, > 0.
    """

    def __init__(self, alpha0: float = 1.0, beta0: float = 1.0) -> None:
        self.alpha0 = check_number("alpha0", alpha0, low=0.0, low_open=True)
        self.beta0 = check_number("beta0", beta0, low=0.0, low_open=True)

    def _init_state(self) -> None:
        self._a, self._a_flat = self._state(self.alpha0)
        self._b, self._b_flat = self._state(self.beta0)

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        return _argmax_ties(rng.beta(self._a, self._b), self._arange_k, rng)

    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        if ((rewards != 0.0) & (rewards != 1.0)).any():
            raise ValueError(
                "BernoulliThompson needs rewards in {0, 1}; use it on Bernoulli "
                "bandits or GaussianThompson for real-valued rewards"
            )
        self._a_flat[index] += rewards
        self._b_flat[index] += 1.0 - rewards

    @property
    def estimates_(self) -> np.ndarray:
        return (self._a / (self._a + self._b)).T.copy()

    @property
    def alpha_(self) -> np.ndarray:
        """Posterior α (prior + successes), (n_runs, k)."""
        return self._a.T.copy()

    @property
    def beta_(self) -> np.ndarray:
        """Posterior β (prior + failures), (n_runs, k)."""
        return self._b.T.copy()


class RandomAgent(BanditAgent):
    """Pulls an arm uniformly at random; ``predict`` returns the best arm seen on average."""

    def _init_state(self) -> None:
        self._n, self._n_flat = self._state()
        self._s, self._s_flat = self._state()

    def act(self) -> np.ndarray:
        rng = self._require_reset()
        return rng.integers(0, self.k_, self.n_runs_)

    def _update(self, index: np.ndarray, rewards: np.ndarray) -> None:
        self._n_flat[index] += 1.0
        self._s_flat[index] += rewards

    @property
    def estimates_(self) -> np.ndarray:
        return (self._s / np.maximum(self._n, 1.0)).T.copy()


AGENTS: dict[str, type[BanditAgent]] = {
    "epsilon-greedy": EpsilonGreedy,
    "ucb": UCB,
    "gradient": GradientBandit,
    "thompson-gaussian": GaussianThompson,
    "thompson-bernoulli": BernoulliThompson,
    "discounted-ucb": DiscountedUCB,
    "random": RandomAgent,
}
