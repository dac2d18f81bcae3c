"""SMA-crossover backtests: qmml's fast backtester against backtesting.py, with a cross-check.

Data: the bundled S&P 500 daily OHLCV, 2010-01-04 .. 2018-12-31 (2,264 bars). Both sides use
the same settings: long-only SMA crossover (buy on a cross above, close on a cross below,
as backtesting.py's ``crossover``), orders filled at the next bar's open, whole units sized
from all available cash, commission 5 bps of traded value per side, 100,000 cash.

* one run: backtesting.py ``Backtest.run`` against ``envs.market.backtest.backtest`` plus
  ``metrics()`` (both compute their statistics);
* a 10 x 10 grid: backtesting.py ``Backtest.optimize`` (which uses a process pool over all
  cores) against ``backtest_grid`` (one process, all combinations as one batch);
* cross-check: final equity and max drawdown of every grid point, both ways.

    PYTHONPATH=. .venv/bin/python benchmarks/backtest_speed.py --repeats 5

backtesting.py is a benchmark-only dependency (``pip install backtesting``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy import
os.environ["TQDM_DISABLE"] = "1"  # backtesting.py draws progress bars per run otherwise

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.agents.strategies import SmaCrossover  # noqa: E402
from qmml.envs.market import ExecutionModel, load_market  # noqa: E402
from qmml.envs.market.backtest.engine import backtest, backtest_grid  # noqa: E402

FAST = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
SLOW = [60, 80, 100, 120, 140, 160, 180, 200, 220, 240]
MODEL = ExecutionModel(commission_bps=5.0, units="whole", fill="next_open")


from backtesting import Backtest, Strategy  # noqa: E402  (benchmark-only dependency)
from backtesting.lib import crossover  # noqa: E402


def sma(values: np.ndarray, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    """backtesting.py's canonical SMA cross, long-only (module level: optimize pickles it)."""

    fast = 10
    slow = 30

    def init(self):
        self.f = self.I(sma, self.data.Close, self.fast)
        self.s = self.I(sma, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s):
            if not self.position:
                self.buy(size=0.999999999)  # all the cash (the default keeps 0.01%)
        elif crossover(self.s, self.f):
            self.position.close()


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--grid-repeats", type=int, default=3)
    args = p.parse_args()
    market = load_market("sp500-ohlcv", start="2010-01-01", end="2018-12-31")
    df = pd.DataFrame(
        {
            f.capitalize(): getattr(market, f)[:, 0]
            for f in ("open", "high", "low", "close", "volume")
        },
        index=market.dates,
    )
    bt = Backtest(
        df, SmaCross, cash=100_000, commission=0.0005, trade_on_close=False, exclusive_orders=False
    )
    warnings.simplefilter("ignore")  # backtesting.py's notes about open trades at the end

    def ours_one():
        r = backtest(SmaCrossover(10, 30), market, execution=MODEL)
        return r, r.metrics()

    ours_one()
    bt.run(fast=10, slow=30)
    t_peer, stats = timed(lambda: bt.run(fast=10, slow=30), args.repeats)
    t_ours, (_, met) = timed(ours_one, max(args.repeats, 20))
    print(
        f"data: S&P 500 daily OHLCV, {market.n_days} bars "
        f"({market.dates[0].date()} .. {market.dates[-1].date()}); medians of repeats"
    )
    print("\none SMA(10, 30) crossover backtest with statistics")
    print(f"  backtesting.py Backtest.run      {t_peer * 1e3:9.2f} ms")
    print(f"  qmml backtest + metrics          {t_ours * 1e3:9.2f} ms   {t_peer / t_ours:7.1f}x")
    print(
        f"  final equity   peer {stats['Equity Final [$]']:14.4f}   ours "
        f"{met['final_equity']:14.4f}"
    )
    print(
        f"  max drawdown % peer {stats['Max. Drawdown [%]']:14.6f}   ours "
        f"{met['max_drawdown_pct']:14.6f}"
    )
    print(f"  trades         peer {stats['# Trades']:14d}   ours {met['n_trades']:14.0f}")

    grid = {"fast": FAST, "slow": SLOW}
    t_peer_g, _ = timed(
        lambda: bt.optimize(**grid, maximize="Equity Final [$]", return_heatmap=True),
        args.grid_repeats,
    )
    t_ours_g, (table, _) = timed(
        lambda: backtest_grid(SmaCrossover, grid, market, execution=MODEL), args.grid_repeats
    )
    print(f"\n10 x 10 grid (fast {FAST[0]}..{FAST[-1]}, slow {SLOW[0]}..{SLOW[-1]})")
    print(f"  backtesting.py optimize ({os.cpu_count()} procs) {t_peer_g:9.3f} s")
    print(f"  qmml backtest_grid (1 process)   {t_ours_g:9.3f} s   {t_peer_g / t_ours_g:7.1f}x")

    # cross-check every grid point: final equity and max drawdown
    rows = []
    for f, s in zip(table["fast"], table["slow"], strict=True):
        st = bt.run(fast=f, slow=s)
        ours = table[(table["fast"] == f) & (table["slow"] == s)].iloc[0]
        rows.append(
            (
                f,
                s,
                st["Equity Final [$]"],
                ours["final_equity"],
                st["Max. Drawdown [%]"],
                ours["max_drawdown_pct"],
                st["# Trades"],
                ours["n_trades"],
            )
        )
    cmp = pd.DataFrame(
        rows,
        columns=[
            "fast",
            "slow",
            "eq_peer",
            "eq_ours",
            "dd_peer",
            "dd_ours",
            "trades_peer",
            "trades_ours",
        ],
    )
    eq_rel = np.abs(cmp["eq_ours"] / cmp["eq_peer"] - 1)
    dd_abs = np.abs(cmp["dd_ours"] - cmp["dd_peer"])
    print("\ncross-check over the 100 grid points")
    print(
        f"  final equity: max relative difference {eq_rel.max():.2e} "
        f"(median {eq_rel.median():.2e}); identical to 1e-9: {(eq_rel < 1e-9).sum()}/100"
    )
    print(f"  max drawdown: max difference {dd_abs.max():.2e} percentage points")
    print(
        f"  trades: equal in {(cmp['trades_peer'] == cmp['trades_ours']).sum()}/100 "
        "(ours also counts a trade still open at the end)"
    )
    worst = cmp.iloc[int(np.argmax(eq_rel))]
    print(
        f"  largest equity gap at fast={worst.fast}, slow={worst.slow}: "
        f"{worst.eq_peer:.4f} vs {worst.eq_ours:.4f}"
    )


if __name__ == "__main__":
    main()
