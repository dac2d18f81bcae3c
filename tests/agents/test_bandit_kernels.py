"""Tests of the compiled bandit kernels behind ``simulate(engine=...)``: the same bytes as the
NumPy loop (ε-greedy, UCB), the same statistics (gradient bandit, Sutton & Barto figures),
seeded determinism, coverage and fallback, and NumPy's pairwise sum."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest

from qmml.agents.bandit_kernels import _sum
from qmml.agents.bandits import (
    UCB,
    BanditAgent,
    EpsilonGreedy,
    GaussianThompson,
    GradientBandit,
    RandomAgent,
    simulate,
)
from qmml.envs.bandit import BanditBatch

FIELDS = ("mean_reward", "pct_optimal", "run_mean_reward", "actions")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _gauss(**kw: float) -> Callable[[np.random.Generator], BanditBatch]:
    return lambda rng: BanditBatch.gaussian(60, rng=rng, **kw)


def _play(agent: BanditAgent, make: Callable, steps: int, seed: int, engine: str):
    """Trace, agent, bandit and the next draw of each generator after ``simulate``."""
    agent_rng, bandit_rng = _rng(seed), _rng(seed + 1000)
    bandit = make(bandit_rng)
    trace = simulate(agent, bandit, steps, rng=agent_rng, record_actions=True, engine=engine)
    return trace, agent, bandit, (agent_rng.random(), bandit_rng.random())


ACTION_VALUE_CASES = [
    (lambda: EpsilonGreedy(epsilon=0.0), _gauss()),  # greedy: many ties early
    (lambda: EpsilonGreedy(epsilon=0.1), _gauss()),
    (lambda: EpsilonGreedy(epsilon=0.1, step_size=0.1), _gauss(walk_std=0.01)),
    (lambda: EpsilonGreedy(epsilon=0.0, initial_value=5.0, step_size=0.1), _gauss()),  # §2.6
    (lambda: EpsilonGreedy(epsilon=0.5, schedule="inverse"), _gauss(noise_std=0.0)),
    (
        lambda: EpsilonGreedy(epsilon=0.9, schedule="exponential", decay=0.97),
        lambda rng: BanditBatch.bernoulli(60, 4, rng=rng),
    ),
    (lambda: EpsilonGreedy(epsilon=1.0), _gauss(equal_start=True, walk_std=0.1)),
    (lambda: UCB(c=2.0), _gauss()),
    (lambda: UCB(c=0.0, step_size=0.2, initial_value=1.0), _gauss(walk_std=0.05)),
    (lambda: UCB(c=1.0), lambda rng: BanditBatch.bernoulli(60, 3, rng=rng)),
]


@pytest.mark.parametrize(("make_agent", "make_bandit"), ACTION_VALUE_CASES)
def test_compiled_action_value_agents_match_numpy_bit_for_bit(make_agent, make_bandit) -> None:
    fast = _play(make_agent(), make_bandit, 150, 3, "compiled")
    slow = _play(make_agent(), make_bandit, 150, 3, "numpy")
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(fast[0], field), getattr(slow[0], field))
    np.testing.assert_array_equal(fast[1].estimates_, slow[1].estimates_)
    np.testing.assert_array_equal(fast[1].counts_, slow[1].counts_)
    assert fast[1].steps_ == slow[1].steps_ == 150
    np.testing.assert_array_equal(fast[2].means, slow[2].means)  # the walk, in place
    assert fast[3] == slow[3]  # both generators advanced by exactly the same draws


@pytest.mark.parametrize("baseline", [True, False])
def test_compiled_gradient_bandit_matches_numpy_up_to_exp_rounding(baseline: bool) -> None:
    make = _gauss(mean_offset=4.0, walk_std=0.01)
    fast = _play(GradientBandit(alpha=0.1, baseline=baseline), make, 150, 4, "compiled")
    slow = _play(GradientBandit(alpha=0.1, baseline=baseline), make, 150, 4, "numpy")
    # same draws; libm's exp and NumPy's SIMD exp may differ in the last bit, which could
    # (very rarely) flip a run's arm and from there its whole history
    same = (fast[0].actions == slow[0].actions).all(axis=0)
    assert same.mean() >= 0.95
    h_fast, h_slow = fast[1].estimates_[same], slow[1].estimates_[same]
    np.testing.assert_allclose(h_fast, h_slow, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast[1].baseline_[same], slow[1].baseline_[same], atol=1e-12)
    assert fast[3] == slow[3]
    assert fast[1].steps_ == 150


@pytest.mark.parametrize(
    "make_agent",
    [lambda: EpsilonGreedy(epsilon=0.1), lambda: UCB(c=2.0), lambda: GradientBandit(alpha=0.4)],
)
def test_compiled_path_is_seeded(make_agent) -> None:
    make = _gauss(walk_std=0.01)
    a, b, c = (_play(make_agent(), make, 80, s, "compiled")[0] for s in (1, 1, 2))
    for field in FIELDS:
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    assert not np.array_equal(a.actions, c.actions)
    assert not a.mean_reward.flags.writeable


def _fig(make_agent: Callable[[], BanditAgent], engine: str, seed: int, mean_offset: float):
    runs, steps = 1000, 500
    bandit = BanditBatch.gaussian(runs, rng=_rng(seed), mean_offset=mean_offset)
    return simulate(make_agent(), bandit, steps, rng=_rng(seed + 1), engine=engine)


@pytest.mark.parametrize(
    ("make_agent", "mean_offset"),
    [
        (lambda: EpsilonGreedy(epsilon=0.1), 0.0),  # Figure 2.2
        (lambda: UCB(c=2.0), 0.0),  # Figure 2.4
        (lambda: GradientBandit(alpha=0.1, baseline=True), 4.0),  # Figure 2.5
        (lambda: GradientBandit(alpha=0.1, baseline=False), 4.0),
    ],
)
def test_compiled_path_reproduces_the_book_curves(make_agent, mean_offset: float) -> None:
    """Independent seeds on each engine: curves agree within sampling noise (4 standard
    errors of the difference; a run's average of a [0, 1] quantity has variance <= p(1 - p))."""
    fast = _fig(make_agent, "compiled", 11, mean_offset)
    slow = _fig(make_agent, "numpy", 21, mean_offset)
    runs = fast.run_mean_reward.size
    se = np.hypot(fast.run_mean_reward.std(), slow.run_mean_reward.std()) / np.sqrt(runs)
    assert abs(fast.mean_reward.mean() - slow.mean_reward.mean()) < 4 * se
    for window in (slice(0, 50), slice(200, 300), slice(-100, None)):
        p, q = fast.pct_optimal[window].mean() / 100, slow.pct_optimal[window].mean() / 100
        se_pct = np.sqrt((p * (1 - p) + q * (1 - q)) / runs)
        assert abs(p - q) < 4 * se_pct + 1e-9, (window, p, q)


def test_engine_choice_and_fallback() -> None:
    bandit = BanditBatch.gaussian(5, rng=_rng(0))
    with pytest.raises(ValueError, match="engine='fast' is unknown"):
        simulate(UCB(), bandit, 3, rng=_rng(1), engine="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="GaussianThompson has no compiled kernel"):
        simulate(GaussianThompson(), bandit, 3, rng=_rng(1), engine="compiled")

    class Greedier(EpsilonGreedy):  # a subclass may change act(): not covered
        pass

    with pytest.raises(ValueError, match="Greedier has no compiled kernel"):
        simulate(Greedier(), bandit, 3, rng=_rng(1), engine="compiled")

    class Shifted(BanditBatch):  # nor may a BanditBatch subclass (it may change _pull)
        pass

    shifted = Shifted(np.zeros((5, 3)), rng=_rng(0))
    with pytest.raises(ValueError, match="Shifted, not a BanditBatch"):
        simulate(UCB(), shifted, 3, rng=_rng(1), engine="compiled")
    # "auto" falls back to the NumPy loop, with the NumPy loop's bytes
    plain = (BanditBatch, BanditBatch, Shifted)
    for agent_cls, batch_cls in zip((RandomAgent, Greedier, EpsilonGreedy), plain, strict=True):
        auto, ref = (
            simulate(
                agent_cls(),
                batch_cls(np.eye(5, 3), rng=_rng(0)),
                20,
                rng=_rng(2),
                record_actions=True,
                engine=engine,
            )
            for engine in ("auto", "numpy")
        )
        np.testing.assert_array_equal(auto.actions, ref.actions)


def test_agent_keeps_learning_after_a_compiled_run() -> None:
    agent = EpsilonGreedy(epsilon=0.1)
    bandit = BanditBatch.gaussian(4, 3, rng=_rng(0))
    simulate(agent, bandit, 30, rng=_rng(1))
    assert agent.counts_.sum(axis=1).tolist() == [30.0] * 4
    before = agent.estimates_
    agent.update(agent.act(), np.ones(4))
    assert agent.steps_ == 31 and not np.array_equal(before, agent.estimates_)
    assert 0 <= agent.predict() < 3


@pytest.mark.parametrize("n", [*range(1, 20), 127, 128, 129, 136, 255, 257, 1000, 2000, 9999])
def test_sum_is_numpys_pairwise_sum(n: int) -> None:
    rng = _rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 8, n)
    assert _sum(a) == a.sum()
    assert np.signbit(_sum(np.full(n, -0.0))) == np.signbit(np.full(n, -0.0).sum())


def test_kernels_load_from_numbas_cache_in_a_fresh_process() -> None:
    """numba segfaults loading some cached functions (recursive ones): run the cached kernels
    in two fresh processes (the first may compile and write the cache, the second loads)."""
    code = (
        "import numpy as np\n"
        "from qmml.agents.bandits import EpsilonGreedy, GradientBandit, UCB, simulate\n"
        "from qmml.envs.bandit import BanditBatch\n"
        "for agent in (EpsilonGreedy(), UCB(), GradientBandit()):\n"
        "    b = BanditBatch.gaussian(300, rng=np.random.default_rng(0), walk_std=0.1)\n"
        "    t = simulate(agent, b, 5, rng=np.random.default_rng(1), engine='compiled')\n"
        "print('ok')\n"
    )
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
