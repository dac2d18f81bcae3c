"""The Gymnasium ids of the market environments (``qmml/...Trading...-v0``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from qmml.envs.market.env import StockTradingEnv
from qmml.envs.market.synthetic import gbm

__all__ = ["MARKET_ENV_IDS", "make_synthetic_env", "register_market_envs"]

# one trading year per episode, random starts inside the first 70% of the data (the train
# split), so a default-made env never trains on the validation or test years
_RL = {"split": "train", "episode_length": 252, "random_start": True}

MARKET_ENV_IDS: dict[str, dict[str, Any]] = {
    "qmml/StockTrading-v0": {
        "market": "sp500-ohlcv",
        "action_mode": "discrete",
        "execution": {"allow_short": True},
        **_RL,
    },
    "qmml/StockTradingContinuous-v0": {
        "market": "sp500-ohlcv",
        "action_mode": "continuous",
        "execution": {"allow_short": True},
        **_RL,
    },
    "qmml/PortfolioTrading-v0": {
        "market": "stocks20",
        "tickers": ["AAPL", "JNJ", "JPM", "PG", "XOM"],
        "action_mode": "continuous",
        **_RL,
    },
    "qmml/StockTradingSynthetic-v0": {"action_mode": "discrete", **_RL},
}


def make_synthetic_env(
    *,
    market_seed: int = 0,
    n_days: int = 2520,
    **kwargs: Any,
) -> StockTradingEnv:
    """A :class:`StockTradingEnv` on a seeded geometric-Brownian-motion market."""
    return StockTradingEnv(gbm(n_days, seed=market_seed), **kwargs)


def register_market_envs() -> list[str]:
    """Register the market ids (idempotent); returns them."""
    for env_id, kwargs in MARKET_ENV_IDS.items():
        if env_id in gym.registry:
            continue
        entry = (
            "qmml.envs.market.registration:make_synthetic_env"
            if "Synthetic" in env_id
            else "qmml.envs.market.env:StockTradingEnv"
        )
        gym.register(id=env_id, entry_point=entry, kwargs=kwargs)
    return list(MARKET_ENV_IDS)
