"""Compiled bandit testbed: :func:`~agents.bandit_base.simulate` fused into one loop per agent.

The NumPy path of ``simulate`` makes ~15 array calls per step, so at 2000 runs per-call
overhead dominates. These kernels play the same step, run by run, on the same state:

- the bandit is a :class:`~envs.bandit_batch.BanditBatch` and draws from its own generator
  exactly what its ``_pull`` draws (``n_runs`` normals or uniforms, then, for a random walk,
  a (k, n_runs) block of normals), so its noise and walk are bit for bit the NumPy path's;
- ε-greedy and UCB draw from the agent's generator exactly what
  :func:`~agents.bandit_base._argmax_ties` and ``EpsilonGreedy.act`` draw (k × n_tied
  uniforms, arm-major, only when a run has tied maxima; then ``n_runs`` uniforms when ε > 0)
  and round every float operation the same way (no FMA: numba contracts only under
  ``fastmath``), so their traces are the NumPy path's to the last bit;
- the gradient bandit draws the same ``n_runs`` uniforms per step, but ``math.exp`` here
  (libm) and ``np.exp`` (SIMD) may differ in the last bit, so its traces agree with the
  NumPy path's up to such rounding, and exactly with themselves for the same seed.

``mean_reward`` sums are NumPy's pairwise sums (:func:`_sum`), so ``r.sum()`` is reproduced
exactly. Agent state is copied run-major, (n_runs, k), for the loop and copied back.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from qmml.agents.bandits import UCB, BanditAgent, EpsilonGreedy, GradientBandit
from qmml.envs.bandit_batch import BanditBatch

__all__ = ["play"]

_PW_BLOCK = 128  # NumPy's PW_BLOCKSIZE (loops_utils.h)


@njit(cache=True)
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """A leaf of NumPy's ``pairwise_sum``: ``a[lo:lo + n]``, n <= 128, 8 accumulators."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(lo + i, lo + n):
        res += a[j]
    return res


@njit(cache=True)
def _sum(a: np.ndarray) -> float:
    """``a.sum()`` of a contiguous 1-D float64 array, bit for bit.

    NumPy adds the identity 0.0 to ``pairwise_sum(a)``, which splits a segment longer than
    128 at ``n2 = n // 2 - (n // 2) % 8`` and adds the halves' sums. The recursion is
    unrolled onto a stack here because numba cannot load cached recursive functions.
    """
    seg_lo = np.empty(128, dtype=np.intp)  # depth <= 2 log2(n): ample for any array
    seg_n = np.empty(128, dtype=np.intp)
    seg_split = np.zeros(128, dtype=np.bool_)  # children already pushed: combine them
    sums = np.empty(128)
    seg_lo[0], seg_n[0], top, n_sums = 0, a.size, 1, 0
    while top:
        top -= 1
        lo, n = seg_lo[top], seg_n[top]
        if n <= _PW_BLOCK:
            sums[n_sums] = _block_sum(a, lo, n)
            n_sums += 1
        elif seg_split[top]:
            n_sums -= 1
            sums[n_sums - 1] += sums[n_sums]  # left + right
        else:
            half = n // 2
            half -= half % 8
            seg_split[top] = True
            seg_lo[top + 1], seg_n[top + 1], seg_split[top + 1] = lo + half, n - half, False
            seg_lo[top + 2], seg_n[top + 2], seg_split[top + 2] = lo, half, False
            top += 3
    return 0.0 + sums[0]


@njit(cache=True)
def _argmax_ties(
    values: np.ndarray,
    rng: np.random.Generator,
    arms: np.ndarray,
    tied: np.ndarray,
    keys: np.ndarray,
) -> None:
    """``arms[r]`` = argmax of ``values[r]`` (n_runs, k), ties broken uniformly at random.

    NumPy meaning: ``_argmax_ties(values.T, arange(k), rng)``, draws included; ``tied``
    (n_runs,) and ``keys`` (n_runs·k,) are scratch.
    """
    n, k = values.shape
    n_tied = 0
    for r in range(n):
        row = values[r]
        best = row[0]
        for a in range(1, k):
            if row[a] > best:
                best = row[a]
        count = 0
        arm_sum = 0  # arange(k) @ is_max: the arm where the maximum is unique
        for a in range(k):
            if row[a] == best:
                count += 1
                arm_sum += a
        arms[r] = arm_sum
        if count > 1:
            tied[n_tied] = r
            n_tied += 1
    if n_tied == 0:
        return
    for i in range(k * n_tied):  # rng.random((k, n_tied)), arm-major
        keys[i] = rng.random()
    for j in range(n_tied):
        row = values[tied[j]]
        best = row[0]
        for a in range(1, k):
            if row[a] > best:
                best = row[a]
        arm, top = 0, -1.0
        for a in range(k):  # (is_max * keys).argmax(): first largest key
            key = keys[a * n_tied + j] if row[a] == best else 0.0
            if key > top:
                arm, top = a, key
        arms[tied[j]] = arm


@njit(cache=True)
def _bandit_step(
    means_t: np.ndarray,
    best: np.ndarray,
    noise_std: float,
    walk_std: float,
    bernoulli: bool,
    rng: np.random.Generator,
    arms: np.ndarray,
    rewards: np.ndarray,
) -> int:
    """Pull ``arms`` (n_runs,) into ``rewards``; return how many runs pulled a best arm.

    NumPy meaning: ``BanditBatch._regret_at`` (== 0 counted) then ``BanditBatch._pull`` on
    ``means_t`` (k, n_runs), advanced in place; ``best`` is its per-run max, kept current.
    """
    k, n = means_t.shape
    n_optimal = 0
    for r in range(n):
        chosen = means_t[arms[r], r]
        if best[r] - chosen == 0.0:
            n_optimal += 1
        if bernoulli:
            rewards[r] = 1.0 if rng.random() < chosen else 0.0
        else:
            rewards[r] = rng.standard_normal() * noise_std + chosen
    if walk_std > 0:
        for a in range(k):  # standard_normal((k, n_runs)), C order
            for r in range(n):
                means_t[a, r] += walk_std * rng.standard_normal()
        for r in range(n):
            best[r] = means_t[:, r].max()
    return n_optimal


@njit(cache=True)
def _record(
    t: int,
    arms: np.ndarray,
    rewards: np.ndarray,
    total: np.ndarray,
    mean_reward: np.ndarray,
    actions: np.ndarray,
) -> None:
    """``simulate``'s bookkeeping: ``total += r``, ``mean_reward[t] = r.sum()``, actions."""
    for r in range(rewards.size):
        total[r] += rewards[r]
    mean_reward[t] = _sum(rewards)
    if actions.shape[0]:
        for r in range(arms.size):
            actions[t, r] = arms[r]


@njit(cache=True)
def action_value_kernel(
    q: np.ndarray,
    counts: np.ndarray,
    sample_average: bool,
    step_size: float,
    epsilon_t: np.ndarray,
    ucb_c: float,
    log_t: np.ndarray,
    means_t: np.ndarray,
    noise_std: float,
    walk_std: float,
    bernoulli: bool,
    agent_rng: np.random.Generator,
    bandit_rng: np.random.Generator,
    mean_reward: np.ndarray,
    n_optimal: np.ndarray,
    total: np.ndarray,
    actions: np.ndarray,
) -> None:
    """Play ε-greedy (``log_t`` empty) or UCB for ``mean_reward.size`` steps.

    NumPy meaning: ``simulate`` with ``EpsilonGreedy.act`` (ε_t = ``epsilon_t[t]``) or
    ``UCB.act`` (values q + c·sqrt(``log_t[t]`` / N), +inf where N = 0), then
    ``_ActionValueAgent._update`` (1/N if ``sample_average`` else ``step_size``).

    Args:
        q, counts: (n_runs, k) estimates and pull counts, updated in place.
        means_t: the bandit's (k, n_runs) means, advanced in place.
        mean_reward, n_optimal, total, actions: outputs; ``actions`` (steps or 0, n_runs).
    """
    n, k = q.shape
    ucb = log_t.size > 0
    arms, tied = np.empty(n, dtype=np.intp), np.empty(n, dtype=np.intp)
    keys = np.empty(n * k)
    rewards = np.empty(n)
    values = np.empty((n, k)) if ucb else q
    best = np.empty(n)
    for r in range(n):
        best[r] = means_t[:, r].max()
    for t in range(mean_reward.size):
        if ucb:
            lg = log_t[t]
            for r in range(n):
                for a in range(k):
                    c = counts[r, a]
                    values[r, a] = np.inf if c == 0 else q[r, a] + ucb_c * math.sqrt(lg / c)
        _argmax_ties(values, agent_rng, arms, tied, keys)
        eps = 0.0 if ucb else epsilon_t[t]
        if eps > 0:
            scale = k / eps  # given u < ε, u / ε ~ U(0, 1) picks the arm
            for r in range(n):
                u = agent_rng.random()
                if u < eps:
                    x = u * scale
                    arms[r] = int(x) if x < k - 1 else k - 1
        n_optimal[t] = _bandit_step(
            means_t, best, noise_std, walk_std, bernoulli, bandit_rng, arms, rewards
        )
        for r in range(n):
            a = arms[r]
            old = q[r, a]
            step = rewards[r] - old
            cnt = counts[r, a] + 1.0
            counts[r, a] = cnt
            step = step / cnt if sample_average else step * step_size
            q[r, a] = old + step
        _record(t, arms, rewards, total, mean_reward, actions)


@njit(cache=True)
def gradient_kernel(
    h: np.ndarray,
    rbar: np.ndarray,
    alpha: float,
    baseline: bool,
    means_t: np.ndarray,
    noise_std: float,
    walk_std: float,
    bernoulli: bool,
    agent_rng: np.random.Generator,
    bandit_rng: np.random.Generator,
    mean_reward: np.ndarray,
    n_optimal: np.ndarray,
    total: np.ndarray,
    actions: np.ndarray,
) -> None:
    """Play the gradient bandit for ``mean_reward.size`` steps.

    NumPy meaning: ``simulate`` with ``GradientBandit.act`` and ``._update`` (softmax
    policy, inverse-CDF sampling, baseline R̄ with R̄_1 = R_1); ``h`` (n_runs, k) and
    ``rbar`` (n_runs,) are updated in place, the rest as in :func:`action_value_kernel`.
    """
    n, k = h.shape
    arms = np.empty(n, dtype=np.intp)
    rewards = np.empty(n)
    pi = np.empty((n, k))
    best = np.empty(n)
    for r in range(n):
        best[r] = means_t[:, r].max()
    for t in range(mean_reward.size):
        for r in range(n):
            row, p = h[r], pi[r]
            top = row.max()
            z_sum = 0.0
            for a in range(k):
                p[a] = math.exp(row[a] - top)
                z_sum += p[a]
            u = agent_rng.random()
            below, cdf = 0, 0.0
            for a in range(k):
                p[a] /= z_sum
                cdf += p[a]
                if cdf < u:
                    below += 1
            arms[r] = min(below, k - 1)
        n_optimal[t] = _bandit_step(
            means_t, best, noise_std, walk_std, bernoulli, bandit_rng, arms, rewards
        )
        for r in range(n):
            if baseline:
                if t == 0:
                    rbar[r] = rewards[r]
                advantage = rewards[r] - rbar[r]
                rbar[r] += (rewards[r] - rbar[r]) / (t + 1)
            else:
                advantage = rewards[r]
            step = alpha * advantage
            for a in range(k):
                h[r, a] -= step * pi[r, a]
            h[r, arms[r]] += step  # net: +α(R − R̄)(1 − π(A_t))
        _record(t, arms, rewards, total, mean_reward, actions)


def play(
    agent: BanditAgent,
    bandit: BanditBatch,
    steps: int,
    actions: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Play a freshly reset ε-greedy, UCB or gradient ``agent`` on ``bandit`` (both advanced
    in place) with a kernel.

    Returns:
        Per-step reward sums (steps,), per-step counts of optimal pulls (steps,) and
        per-run reward totals (n_runs,); ``actions`` (steps, n_runs), if given, is filled.
    """
    rngs = (agent._require_reset(), bandit._rng)
    env = (bandit._means_t, bandit._noise_std, bandit._walk_std, bandit._reward == "bernoulli")
    n = bandit.n_runs
    out = (np.empty(steps), np.empty(steps, dtype=np.int64), np.zeros(n))
    acts = np.empty((0, n), dtype=np.int16) if actions is None else actions
    if isinstance(agent, GradientBandit):
        h = np.ascontiguousarray(agent._h.T)
        gradient_kernel(h, agent._rbar, agent.alpha, agent.baseline, *env, *rngs, *out, acts)
        agent._h[...] = h.T
    else:
        assert isinstance(agent, EpsilonGreedy | UCB), type(agent)  # simulate checked
        q, counts = np.ascontiguousarray(agent._q.T), np.ascontiguousarray(agent._n.T)
        # per-step ε and ln t from the agent's own formulas, so they round as in act()
        eps_t, c, log_t = np.empty(0), 0.0, np.empty(0)
        if isinstance(agent, UCB):
            c, log_t = agent.c, np.array([math.log(t + 1) for t in range(steps)])
        elif agent.schedule == "constant":
            eps_t = np.full(steps, agent.epsilon)
        else:
            eps_t = np.array([agent.epsilon_at(t) for t in range(steps)])
        alpha = 0.0 if agent.step_size is None else agent.step_size
        sample_average = agent.step_size is None
        action_value_kernel(
            q, counts, sample_average, alpha, eps_t, c, log_t, *env, *rngs, *out, acts
        )
        agent._q[...], agent._n[...] = q.T, counts.T
    agent.steps_ = steps
    bandit._best = None  # the walk may have moved the means
    return out
