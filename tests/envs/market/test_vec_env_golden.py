"""MarketVecEnv gives the same bytes as before its step was made faster (issue 16).

The digests below were recorded with the implementation of 2026-11-24 (before the compiled
observation kernels and the lazy infos) over seeded rollouts that cover every action mode
and reward, several markets, forced rebalances, fixed starts, wiped-out portfolios
(terminated episodes) and ``step_arrays``; the cases named ``-gather`` were recorded on the
old per-step gather of windows, the others on its precomputed window table (the kernel that
replaced both must reproduce every digest). A digest covers every observation, reward, done flag and
info dict (keys in order, terminal observations, equity and truncation flags) of the
rollout, so any change to any value, dtype or key shows here.

``test_equals_single_envs`` in ``test_vec_env.py`` checks the same behaviour against the
single environment on any machine; these digests pin the exact bytes (NumPy's ``log`` may
round differently on CPUs with other SIMD extensions, which would move a digest without any
change of the code; then regenerate with ``python tests/envs/market/test_vec_env_golden.py``
from the last commit before the change under test).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qmml.envs.market import Market, MarketVecEnv
from qmml.envs.market.synthetic import gbm

# name: (n_envs, markets, env kwargs, seed, options, step_arrays steps, steps)
CASES: dict[str, tuple[int, Any, dict[str, Any], int | None, Any, int, int]] = {
    "discrete-1-table": (
        64,
        lambda: gbm(400, 1, seed=1, sigma=0.5),
        {
            "window": 30,
            "episode_length": 50,
            "random_start": True,
            "execution": {"allow_short": True},
        },
        0,
        None,
        20,
        160,
    ),
    "continuous-3-gather": (
        37,
        lambda: gbm(300, 3, seed=2, sigma=0.4),
        {
            "window": 8,
            "action_mode": "continuous",
            "reward": "differential_sharpe",
            "episode_length": (15, 45),
            "random_start": True,
            "execution": {"slippage_bps": 3.0, "borrow_bps": 50.0, "allow_short": True},
        },
        3,
        None,
        10,
        150,
    ),
    "two-markets-risk": (
        33,
        lambda: [gbm(250, 2, seed=4), gbm(250, 2, seed=5, sigma=0.6)],
        {
            "window": 5,
            "reward": "risk_adjusted",
            "rebalance_every": 5,
            "episode_length": 30,
            "random_start": True,
            "execution": {"units": "whole", "fill": "close"},
        },
        11,
        None,
        20,
        120,
    ),
    "weights-wipeout": (
        16,
        lambda: gbm(300, 2, seed=6, sigma=3.0),
        {
            "window": 4,
            "action_mode": "weights",
            "episode_length": 60,
            "random_start": True,
            "execution": {"allow_short": True, "max_leverage": 10.0, "fill": "next_close"},
        },
        5,
        None,
        0,
        150,
    ),
    "fixed-start-whole-period": (
        3,
        lambda: gbm(120, 1, seed=7),
        {"window": 10, "reward_scale": 100.0},
        None,
        {"start": 50},
        5,
        140,
    ),
    "exact-zero": (
        8,
        lambda: _zero_market(),
        {"window": 5, "execution": {"allow_short": True, "commission_bps": 0.0, "fill": "close"}},
        None,
        {"start": 296},
        0,
        12,
    ),
}

DIGESTS = {
    "discrete-1-table": "46adf2f0338193e382a29a0a819a196aa8520e0c6a0a23a67b789b0242ee3f9b",
    "continuous-3-gather": "5975ca9663052e76b6e738094b6064ad8a6341b118c77c17e7048f3ccb883e9c",
    "two-markets-risk": "5038f70289a1d0505aa17c1bae6f6fefc69bd81819830d70af1d8f90a9f57365",
    "weights-wipeout": "64f18b109f97883981ab0b00cb2e56054bf94b54c16635cbfcc9ab8a849d7da3",
    "fixed-start-whole-period": "1e5891b1f011cce41c46976efbf936296fb82409cfede83dcb04954578a84588",
    "exact-zero": "850c2c8b0f9aa56a8e3b2872a8a3639db3afa5d92184e4d72c7c70adcad7b388",
}


def _zero_market() -> Market:
    # a short of all the equity at 100 whose price doubles on the last day leaves exactly 0.0
    close = np.full((300, 1), 100.0)
    close[-1, 0] = 200.0
    return Market(pd.bdate_range("2020-01-01", periods=300), ("X",), close=close)


def _actions(vec: MarketVecEnv, rng: np.random.Generator) -> np.ndarray:
    tpl, n = vec.template, vec.num_envs
    n_assets = tpl.market.n_assets
    if tpl.action_mode == "discrete":
        a = rng.integers(0, len(tpl.levels), (n, n_assets))
        return a[:, 0] if n_assets == 1 else a
    return rng.uniform(-1.5, 1.5, (n, n_assets)).astype(np.float32)


def rollout_digest(name: str) -> str:
    """sha256 of everything a seeded rollout of case ``name`` returns."""
    n, markets, kw, seed, options, n_raw, n_steps = CASES[name]
    vec = MarketVecEnv(n, markets(), seed=seed, **kw)
    h = hashlib.sha256()

    def put(*arrays: Any) -> None:
        for a in arrays:
            a = np.asarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())

    if options is not None:
        vec.set_options(options)
    put(vec.reset())
    rng = np.random.default_rng(42)
    for _ in range(n_raw):
        put(*vec.step_arrays(_actions(vec, rng)))
    for _ in range(n_steps):
        obs, rew, done, infos = vec.step(_actions(vec, rng))
        put(obs, rew, done, vec.equity)
        assert len(infos) == n
        for info in infos:
            h.update(repr(list(info)).encode())
            for value in info.values():
                put(value) if isinstance(value, np.ndarray) else h.update(repr(value).encode())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_rollout_bytes_unchanged(name: str, recorded_math: None) -> None:
    assert rollout_digest(name) == DIGESTS[name]


if __name__ == "__main__":
    for case in CASES:
        print(f'    "{case}": "{rollout_digest(case)}",')
