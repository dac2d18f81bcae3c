"""The fast backtester: ``engine`` runs strategies through the market's accounting kernel
(``qmml.envs.market.execution``, shared with :class:`~qmml.envs.market.env.StockTradingEnv`),
``results`` holds a path and its trades, ``metrics`` the statistics of an equity curve."""

from qmml.envs.market.backtest.engine import (
    SignalStrategy,
    backtest,
    backtest_batch,
    backtest_grid,
)
from qmml.envs.market.backtest.results import BacktestResult, round_trips

__all__ = [
    "BacktestResult",
    "SignalStrategy",
    "backtest",
    "backtest_batch",
    "backtest_grid",
    "round_trips",
]
