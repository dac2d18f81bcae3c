"""Market data, a stock-trading Gymnasium environment, its vectorised form and a fast
backtester that share one accounting kernel.

``MarketVecEnv`` (which imports stable-baselines3) is loaded on first use.
"""

from __future__ import annotations

from typing import Any

from qmml.envs.market.backtest.engine import BacktestResult, backtest, backtest_batch, backtest_grid
from qmml.envs.market.data import DataError, GapError, Market
from qmml.envs.market.env import StockTradingEnv
from qmml.envs.market.execution import ExecutionModel
from qmml.envs.market.features import DEFAULT_FEATURES, FEATURES, FeatureTable, ObservationLayout
from qmml.envs.market.registration import MARKET_ENV_IDS, register_market_envs
from qmml.envs.market.sources import BUNDLED, load_bundled, load_csv, load_market
from qmml.envs.market.splits import WalkForwardWindow, split_dates, walk_forward

__all__ = [
    "BUNDLED",
    "DEFAULT_FEATURES",
    "FEATURES",
    "MARKET_ENV_IDS",
    "BacktestResult",
    "DataError",
    "ExecutionModel",
    "FeatureTable",
    "GapError",
    "Market",
    "MarketVecEnv",
    "ObservationLayout",
    "StockTradingEnv",
    "WalkForwardWindow",
    "backtest",
    "backtest_batch",
    "backtest_grid",
    "load_bundled",
    "load_csv",
    "load_market",
    "register_market_envs",
    "split_dates",
    "walk_forward",
]


def __getattr__(name: str) -> Any:
    if name == "MarketVecEnv":
        from qmml.envs.market.vec_env import MarketVecEnv

        return MarketVecEnv
    raise AttributeError(f"module 'qmml.envs.market' has no attribute {name!r}")
