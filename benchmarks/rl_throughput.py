"""Training throughput of LSTM-feature PPO against sb3-contrib RecurrentPPO on the market env.

Both train on the same vectorised market (``MarketVecEnv``: S&P 500 daily OHLCV, window 30,
short / flat / long, 5 bps per side, random one-year episodes inside 2004-2013), with the same
number of environments, steps, rollout length, minibatch size, epochs and LSTM hidden size.
Throughput is environment steps per second of ``model.learn`` (no evaluation inside). Each
repeat uses a new seed; afterwards every trained policy trades the test years (2015-2018)
once, deterministically, in ``StockTradingEnv`` and its Sharpe ratio is reported, so a speed-up
is not bought with a worse trader. One untimed warm-up training of each comes first (the
first LSTM training in a process is several times slower). Medians over repeats.

    PYTHONPATH=. .venv/bin/python benchmarks/rl_throughput.py --steps 8192 --repeats 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy/torch imports

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.agents.sb3 import SB3Agent  # noqa: E402
from qmml.agents.strategies import BuyAndHold  # noqa: E402
from qmml.envs.market import load_market  # noqa: E402
from qmml.envs.market.env import StockTradingEnv  # noqa: E402
from qmml.envs.market.vec_env import MarketVecEnv  # noqa: E402
from qmml.experiments.workloads.trading.walk_forward import evaluate, summary_metrics  # noqa: E402

ENV = {
    "window": 30,
    "action_mode": "discrete",
    "execution": {"allow_short": True, "commission_bps": 5.0},
}
TRAIN, TEST = ("2004-01-01", "2013-12-31"), ("2015-01-01", "2018-12-31")


def make(kind: str, seed: int, args: argparse.Namespace) -> SB3Agent:
    hp = {"n_steps": args.n_steps, "batch_size": args.batch_size, "n_epochs": args.n_epochs}
    if kind == "ppo-lstm":
        return SB3Agent(
            "ppo", seed=seed, features="lstm", lstm_hidden_size=args.hidden, hyperparams=hp
        )
    hidden = args.rppo_hidden or args.hidden
    return SB3Agent(
        "recurrent-ppo",
        seed=seed,
        hyperparams={**hp, "policy_kwargs": {"lstm_hidden_size": hidden}},
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8192, help="environment steps per training")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--n-steps", type=int, default=256, help="PPO rollout length per env")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--n-epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=32, help="LSTM hidden units (both)")
    p.add_argument(
        "--rppo-hidden",
        type=int,
        default=None,
        help="RecurrentPPO's hidden units if different (its default is 256)",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    market = load_market("sp500-ohlcv")
    test_env = StockTradingEnv(market, start=TEST[0], end=TEST[1], **ENV)
    fps: dict[str, list[float]] = {"ppo-lstm": [], "recurrent-ppo": []}
    sharpe: dict[str, list[float]] = {"ppo-lstm": [], "recurrent-ppo": []}
    print(
        f"{args.steps} steps, {args.n_envs} envs, n_steps {args.n_steps}, batch "
        f"{args.batch_size}, {args.n_epochs} epochs, hidden {args.hidden} / "
        f"{args.rppo_hidden or args.hidden}, torch threads {torch.get_num_threads()}"
    )
    for kind in fps:  # untimed warm-up: the first LSTM training in a process runs slower
        warm = MarketVecEnv(
            args.n_envs,
            market,
            seed=99,
            start=TRAIN[0],
            end=TRAIN[1],
            random_start=True,
            episode_length=252,
            **ENV,
        )
        make(kind, 99, args).learn(warm, args.n_envs * args.n_steps)
    for r in range(args.repeats):
        for kind in fps:  # alternate, so machine noise hits both alike
            venv = MarketVecEnv(
                args.n_envs,
                market,
                seed=r,
                start=TRAIN[0],
                end=TRAIN[1],
                random_start=True,
                episode_length=252,
                **ENV,
            )
            agent = make(kind, r, args)
            t0 = time.perf_counter()
            agent.learn(venv, args.steps)
            wall = time.perf_counter() - t0
            fps[kind].append(agent.trained_timesteps_ / wall)
            sharpe[kind].append(summary_metrics(evaluate(agent, test_env))["sharpe_ratio"])
            print(
                f"  repeat {r} {kind:14s} {fps[kind][-1]:8.1f} steps/s  "
                f"({agent.trained_timesteps_} steps in {wall:.1f} s), "
                f"test Sharpe {sharpe[kind][-1]:+.3f}",
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in fps.items()}
    print("\n| agent | steps/s (median) | test Sharpe (median) | test Sharpe (mean) |")
    print("|---|---|---|---|")
    for k in fps:
        print(
            f"| {k} | {med[k]:.1f} | {statistics.median(sharpe[k]):+.3f} | "
            f"{statistics.mean(sharpe[k]):+.3f} |"
        )
    bh_env = StockTradingEnv(
        market, start=TEST[0], end=TEST[1], **{**ENV, "action_mode": "weights"}
    )
    bh = summary_metrics(evaluate(BuyAndHold().learn(bh_env), bh_env))["sharpe_ratio"]
    print(f"| buy-and-hold (reference) | - | {bh:+.3f} | {bh:+.3f} |")
    print(
        f"\nspeed-up of ppo-lstm over recurrent-ppo: {med['ppo-lstm'] / med['recurrent-ppo']:.2f}x"
        " (target >= 5x)"
    )


if __name__ == "__main__":
    main()
