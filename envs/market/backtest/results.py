"""What a backtest returns: the per-day path of one strategy, its fills, its round-trip
trades and its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qmml.envs.market.backtest.metric_kernels import METRIC_NAMES, path_metrics
from qmml.envs.market.data import Market

__all__ = ["BacktestResult", "round_trips"]


@dataclass
class BacktestResult:
    """One strategy's path. Row 0 of the per-bar arrays is the first decision day (before
    any trade); row k is the close of the k-th day after it.

    Attributes:
        name: the strategy's label.
        market: the data traded.
        t0: bar index of the first decision.
        fill_lag: bars from a decision to its fill (1, or 0 for ``fill="close"``).
        equity, cash: (K+1,) after each bar.
        units: (K+1, N) held after each bar.
        targets: (K, N) target weights decided at each step (NaN resolved).
        costs, traded_value: (K,) commission + slippage and traded value per step.
        fill_arrays: (M, 5) one row per fill: step, asset, units, price (incl. slippage),
            commission; :attr:`fills` is the same as a table.
    """

    name: str
    market: Market
    t0: int
    fill_lag: int
    equity: np.ndarray
    cash: np.ndarray
    units: np.ndarray
    targets: np.ndarray
    costs: np.ndarray
    traded_value: np.ndarray
    fill_arrays: np.ndarray = field(repr=False)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """Dates of the equity rows."""
        return self.market.dates[self.t0 : self.t0 + len(self.equity)]

    @property
    def close(self) -> np.ndarray:
        """(K+1, N) closes of the equity rows."""
        return self.market.close[self.t0 : self.t0 + len(self.equity)]

    @property
    def fills(self) -> pd.DataFrame:
        """One row per fill: date, ticker, units (+ buy, - sell), price, commission."""
        f = self.fill_arrays
        step = f[:, 0].astype(np.intp)
        return pd.DataFrame(
            {
                "step": step,
                "date": self.market.dates[self.t0 + step + self.fill_lag],
                "ticker": np.asarray(self.market.tickers, dtype=object)[f[:, 1].astype(np.intp)],
                "units": f[:, 2],
                "price": f[:, 3],
                "commission": f[:, 4],
            }
        )

    def trades(self) -> pd.DataFrame:
        """Round trips (see :func:`round_trips`): ticker, entry and exit date, direction,
        pnl, open."""
        rows = round_trips(self.fill_arrays, self.market.n_assets, self.close[-1])
        dates = self.market.dates
        out = pd.DataFrame(
            rows, columns=["asset", "entry_step", "exit_step", "direction", "pnl", "open"]
        )
        lag = self.t0 + self.fill_lag
        return pd.DataFrame(
            {
                "ticker": [self.market.tickers[a] for a in out["asset"]],
                "entry_date": dates[out["entry_step"].to_numpy(np.intp) + lag],
                "exit_date": [
                    dates[min(e + lag, len(dates) - 1)] if not o else self.dates[-1]
                    for e, o in zip(out["exit_step"], out["open"], strict=True)
                ],
                "direction": np.where(out["direction"] > 0, "long", "short"),
                "pnl": out["pnl"].to_numpy(float),
                "open": out["open"].to_numpy(bool),
            }
        )

    def metrics(self) -> dict[str, float]:
        """Every metric of :mod:`~qmml.envs.market.backtest.metrics`, keyed by unit-bearing name:
        the return, risk and ratio statistics of the equity curve, exposure, turnover, the
        trades (``n_trades`` counts one still open; win rate and profit factor use the closed
        ones), costs in percent of the start, in money and in percent of what was traded.

        Computed by the compiled :func:`~qmml.envs.market.backtest.metric_kernels.path_metrics`,
        which equals those NumPy functions bit for bit.
        """
        out = np.empty(len(METRIC_NAMES))
        path_metrics(
            self.equity,
            self.units[1:],
            self.traded_value,
            self.costs,
            self.fill_arrays,
            self.market.n_assets,
            out,
        )
        return dict(zip(METRIC_NAMES, out.tolist(), strict=True))


def round_trips(
    fills: np.ndarray,
    n_assets: int,
    last_close: np.ndarray,
) -> list[tuple[int, int, int, int, float, bool]]:
    """Trades as round trips from fill rows ``(step, asset, units, price, commission)``.

    A trade opens when an asset's position leaves zero and closes when it returns to zero or
    reverses (a reversing fill is split pro rata between the two trades). Its ``pnl`` is the
    net cash flow of its fills after commission and slippage, plus the position valued at
    ``last_close`` if it is still open.

    Returns:
        ``(asset, entry step, exit step, direction +1/-1, pnl, open)`` per trade.
    """
    rows: list[tuple[int, int, int, int, float, bool]] = []
    pos = [0.0] * n_assets
    flow = [0.0] * n_assets
    entry = [0] * n_assets
    for step, asset, units, px, comm in fills.tolist():
        a, q = int(asset), units
        while q != 0.0:
            if pos[a] == 0.0:
                entry[a], flow[a] = int(step), 0.0
            closing = pos[a] != 0.0 and (q > 0) != (pos[a] > 0)
            part = -pos[a] if closing and abs(q) > abs(pos[a]) else q
            flow[a] += -part * px - comm * (part / units)
            direction = 1 if pos[a] > 0 or (pos[a] == 0.0 and part > 0) else -1
            pos[a] += part
            q -= part
            if closing and abs(pos[a]) <= 1e-12 * abs(part):  # back to flat: trade done
                rows.append((a, entry[a], int(step), direction, flow[a], False))
                pos[a] = 0.0
    for a in range(n_assets):
        if pos[a] != 0.0:
            rows.append(
                (
                    a,
                    entry[a],
                    -1,
                    1 if pos[a] > 0 else -1,
                    flow[a] + pos[a] * float(last_close[a]),
                    True,
                )
            )
    return rows
