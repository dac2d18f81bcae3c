"""Env step throughput: qmml's StockTradingEnv and MarketVecEnv against gym-anytrading.

Same data for both (gym-anytrading's bundled GOOGL daily OHLCV, 2,335 bars), window 30,
random discrete actions drawn in advance, episodes reset when they end.

* peer: ``gym.make("stocks-v0", df=GOOGL, window_size=30, frame_bound=(30, 2335))``;
* ours, single: ``gym.make("qmml/StockTrading-v0", market=<the same bars>, window=30, ...)``
  (next-open fills, 5 bps commission, 7 features per day, fresh observation arrays);
* ours, vectorised: ``MarketVecEnv(n, ...)`` through SB3's ``step`` (``step_async`` +
  ``step_wait``: infos, auto-reset) and the raw ``step_arrays``, against the vectorised
  peer, SB3's ``DummyVecEnv`` over n copies of our single env (n = 1024 by default). Episodes
  last 252 steps and each timed repeat runs 252 vector steps without a reset in between, so
  every repeat includes each environment's auto-reset once;
* the ceiling: ``NullEnv`` through ``gym.make``, an env that does no trading at all and only
  returns what the issue asks every step to return (a fresh observation array of our size and
  an info dict with our keys). No env that keeps those promises can step faster than this.

    PYTHONPATH=. .venv/bin/python benchmarks/env_throughput.py --steps 50000 --repeats 5

Rates are steps per second of process CPU time (``time.process_time``), medians over the
repeats: on a shared machine wall time also counts other jobs' time slices.

gym-anytrading is a benchmark-only dependency (``pip install gym-anytrading``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy import

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
import qmml.envs as envs  # noqa: E402, F401  (registers qmml/*)
from qmml.envs.market import Market, MarketVecEnv, StockTradingEnv  # noqa: E402


class NullEnv(gym.Env):
    """Does nothing but return a fresh observation copy and our info dict each step."""

    def __init__(self, obs_size: int = 212, n_bars: int = 2335) -> None:
        self.observation_space = gym.spaces.Box(-50, 50, (obs_size,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self._rows = list(np.zeros((n_bars, obs_size), np.float32))
        self._dates = list(np.arange(n_bars).astype("datetime64[D]"))
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 30
        return self._rows[self._t].copy(), {}

    def step(self, action):
        t = self._t = self._t + 1
        info = {"equity": 1.0, "cost": 0.0, "fills": 0, "t": t, "date": self._dates[t]}
        return self._rows[t].copy(), 0.0, False, t >= len(self._rows) - 1, info


def googl() -> tuple[pd.DataFrame, Market]:
    from gym_anytrading.datasets import STOCKS_GOOGL

    df = STOCKS_GOOGL
    dates = pd.DatetimeIndex(pd.to_datetime(df.index), name="Date")
    cols = {
        f: df[f.capitalize()].to_numpy(float)[:, None]
        for f in ("open", "high", "low", "close", "volume")
    }
    return df, Market(dates, ("GOOGL",), name="GOOGL", **cols)


def loop(env: gym.Env, actions: list[int]) -> float:
    env.reset(seed=0)
    t = time.process_time()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(actions) / (time.process_time() - t)


def vec_loop(vec: VecEnv, actions: np.ndarray) -> float:
    """Steps/s of ``vec.step`` (SB3's: step_async + step_wait), continuing from before."""
    t = time.process_time()
    for a in actions:
        vec.step(a)
    return actions.size / (time.process_time() - t)


def raw_loop(vec: MarketVecEnv, actions: np.ndarray) -> float:
    """Steps/s of ``step_arrays`` from a fresh reset (no episode ends within ``actions``)."""
    vec.reset()
    t = time.process_time()
    for a in actions:
        vec.step_arrays(a)
    return actions.size / (time.process_time() - t)


def median_rate(fn: Callable[[], float], repeats: int) -> tuple[float, float, float]:
    """Median, lowest and highest rate of ``repeats`` calls of ``fn``."""
    rates = [fn() for _ in range(repeats)]
    return statistics.median(rates), min(rates), max(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000, help="steps per single-env repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n-envs", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--vec-steps", type=int, default=252, help="vector steps per repeat")
    p.add_argument("--peer-n", type=int, default=1024, help="n of the DummyVecEnv peer")
    p.add_argument("--peer-steps", type=int, default=20, help="DummyVecEnv steps per repeat")
    args = p.parse_args()
    import gym_anytrading  # noqa: F401  (registers stocks-v0)

    df, market = googl()
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the peer's aliasing warning from the env checker
        peer = gym.make("stocks-v0", df=df, window_size=30, frame_bound=(30, len(df)))
        ours = gym.make(
            "qmml/StockTrading-v0",
            market=market,
            window=30,
            split=None,
            episode_length=None,
            random_start=False,
            execution={"allow_short": True, "commission_bps": 5.0},
        )
        if "qmml-bench/Null-v0" not in gym.registry:
            gym.register("qmml-bench/Null-v0", entry_point=NullEnv)
        null = gym.make("qmml-bench/Null-v0", obs_size=ours.observation_space.shape[0])
        peer_acts = rng.integers(0, 2, args.steps).tolist()
        our_acts = rng.integers(0, 3, args.steps).tolist()
        loop(peer, peer_acts[:2000])  # warm-up (and the checker's first-call checks)
        loop(ours, our_acts[:2000])
        loop(null, our_acts[:2000])
        peer_r, our_r, null_r = [], [], []
        for _ in range(args.repeats):  # interleaved, so machine noise hits all alike
            peer_r.append(loop(peer, peer_acts))
            our_r.append(loop(ours, our_acts))
            null_r.append(loop(null, our_acts))
    peer_s, our_s = statistics.median(peer_r), statistics.median(our_r)
    null_s = statistics.median(null_r)
    print(f"{market.n_days} daily bars (GOOGL), window 30, median of {args.repeats} repeats")
    print(f"{'gym-anytrading stocks-v0 (gym.make)':<46} {peer_s:>12,.0f} steps/s   1.00x")
    print(f"{'qmml StockTrading-v0 (gym.make)':<46} {our_s:>12,.0f} steps/s {our_s / peer_s:6.2f}x")
    label = "ceiling: NullEnv (gym.make, fresh obs + info)"
    print(f"{label:<46} {null_s:>12,.0f} steps/s {null_s / peer_s:6.2f}x")
    vec_kw: dict = {
        "window": 30,
        "episode_length": 252,
        "random_start": True,
        "execution": {"allow_short": True, "commission_bps": 5.0},
    }
    peer_n = args.peer_n
    dummy = DummyVecEnv([lambda: StockTradingEnv(market, **vec_kw) for _ in range(peer_n)])
    dummy.seed(0)
    dummy.reset()
    acts = rng.integers(0, 3, (args.peer_steps, peer_n))
    vec_loop(dummy, acts[:2])
    d_s, d_lo, d_hi = median_rate(lambda: vec_loop(dummy, acts), args.repeats)
    label = f"SB3 DummyVecEnv n={peer_n} of qmml StockTrading"
    print(
        f"{label:<46} {d_s:>12,.0f} steps/s {d_s / peer_s:6.2f}x   (vec peer: 1.00x; "
        f"range {d_lo:,.0f}-{d_hi:,.0f})"
    )
    for n in args.n_envs:
        vec = MarketVecEnv(n, market, seed=0, **vec_kw)
        acts = rng.integers(0, 3, (args.vec_steps, n))
        vec.reset()
        vec_loop(vec, acts[:20])
        r, lo, hi = median_rate(lambda v=vec, a=acts: vec_loop(v, a), args.repeats)
        label = f"qmml MarketVecEnv n={n} (SB3 step)"
        print(
            f"{label:<46} {r:>12,.0f} steps/s {r / peer_s:6.2f}x   (vec peer: {r / d_s:.2f}x; "
            f"range {lo:,.0f}-{hi:,.0f})"
        )
        if n == peer_n:
            step_peer_n = r
        raw_acts = acts[: min(len(acts), 250)]  # episodes last 252 steps: none ends here
        raw_loop(vec, raw_acts[:20])
        r, lo, hi = median_rate(lambda v=vec, a=raw_acts: raw_loop(v, a), args.repeats)
        label = f"qmml MarketVecEnv n={n} (step_arrays)"
        print(f"{label:<46} {r:>12,.0f} steps/s {r / peer_s:6.2f}x   (range {lo:,.0f}-{hi:,.0f})")
    if peer_n in args.n_envs:
        target = "met" if step_peer_n >= 5e6 else "NOT met"  # issue 16, at n = 1024
        print(
            f"MarketVecEnv n={peer_n} through SB3 step: {step_peer_n:,.0f} steps/s, "
            f"{step_peer_n / d_s:.1f}x the DummyVecEnv peer"
            + (f" (target >= 5,000,000 steps/s: {target})" if peer_n == 1024 else "")
        )


if __name__ == "__main__":
    main()
