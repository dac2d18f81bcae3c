"""Environments of qmml-lab; importing this package registers the ``qmml/*`` Gymnasium ids."""

import gymnasium as gym

from qmml.envs.bandit import (
    BanditBatch,
    BernoulliBanditEnv,
    GaussianBanditEnv,
    register_bandit_envs,
)
from qmml.envs.gridworld.env import GridWorldEnv, register_gridworld_envs
from qmml.envs.market.registration import register_market_envs
from qmml.envs.stock_bandit import StockBanditBatch, StockPickingEnv

__all__ = [
    "BanditBatch",
    "BernoulliBanditEnv",
    "GaussianBanditEnv",
    "GridWorldEnv",
    "StockBanditBatch",
    "StockPickingEnv",
    "qmml_env_ids",
    "register_bandit_envs",
    "register_gridworld_envs",
    "register_market_envs",
]

register_bandit_envs()
register_gridworld_envs()
register_market_envs()
if "qmml/StockPicking-v0" not in gym.registry:
    gym.register(id="qmml/StockPicking-v0", entry_point="qmml.envs.stock_bandit:StockPickingEnv")


def qmml_env_ids() -> list[str]:
    """Every Gymnasium id this package registers (``qmml/...``), sorted."""
    return sorted(i for i in gym.registry if i.startswith("qmml/"))
