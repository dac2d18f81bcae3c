"""SMA-crossover backtests: qmml's fast backtester against backtesting.py and vectorbt.

Data: the bundled S&P 500 daily OHLCV, 2010-01-04 .. 2018-12-31 (2,264 bars). Every side uses
the same settings: long-only SMA crossover (buy on a cross above, close on a cross below,
as backtesting.py's ``crossover``), orders filled at the next bar's open, whole units sized
from all available cash, commission 5 bps of traded value per side, 100,000 cash.

* one run: backtesting.py ``Backtest.run`` against ``envs.market.backtest.backtest`` plus
  ``metrics()`` (both compute their statistics);
* a 10 x 10 grid against vectorbt (one process, numba): ``vbt.MA`` + ``crossed_above`` /
  ``crossed_below`` + ``Portfolio.from_signals`` (signals shifted one bar, ``price=open``,
  ``size_granularity=1``, ``fees=0.0005``), timed warm (after a first call), once with the
  final values only and once with ten statistics; the first (cold) call is reported too;
* the same grid against backtesting.py ``Backtest.optimize`` (a process pool over all
  cores: wall time, and CPU time of the parent plus its workers);
* cross-checks: final equity, max drawdown and trades of every grid point, against both.

Ratios are of CPU-time medians (``time.process_time``), except for ``optimize``. ``--cold``
also times the first call with numba's cache empty, in a child process, for both numba sides.

    PYTHONPATH=. .venv/bin/python benchmarks/backtest_speed.py --repeats 7 --grid-repeats 3 --cold

backtesting.py and vectorbt are benchmark-only dependencies (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one-core timing; must precede the numpy import
os.environ["TQDM_DISABLE"] = "1"  # backtesting.py draws progress bars per run otherwise

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from qmml.agents.strategies import SmaCrossover  # noqa: E402
from qmml.envs.market import ExecutionModel, load_market  # noqa: E402
from qmml.envs.market.backtest.engine import backtest, backtest_grid  # noqa: E402

FAST = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
SLOW = [60, 80, 100, 120, 140, 160, 180, 200, 220, 240]
GRID = {"fast": FAST, "slow": SLOW}
MODEL = ExecutionModel(commission_bps=5.0, units="whole", fill="next_open")

from backtesting import Backtest, Strategy  # noqa: E402  (benchmark-only dependency)
from backtesting.lib import crossover  # noqa: E402


def sma(values: np.ndarray, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    """backtesting.py's canonical SMA cross, long-only (module level: optimize pickles it)."""

    fast = 10
    slow = 30

    def init(self) -> None:
        self.f = self.I(sma, self.data.Close, self.fast)
        self.s = self.I(sma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.f, self.s):
            if not self.position:
                self.buy(size=0.999999999)  # all the cash (the default keeps 0.01%)
        elif crossover(self.s, self.f):
            self.position.close()


def _market() -> Any:
    return load_market("sp500-ohlcv", start="2010-01-01", end="2018-12-31")


def ours_grid(market: Any) -> pd.DataFrame:
    return backtest_grid(SmaCrossover, GRID, market, execution=MODEL)[0]


def vbt_grid(market: Any, stats: bool) -> pd.DataFrame:
    """The 10 x 10 grid in vectorbt: columns ordered (fast, slow) like ours."""
    import vectorbt as vbt

    idx = market.dates
    close, opn = pd.Series(market.close[:, 0], idx), pd.Series(market.open[:, 0], idx)
    fast = vbt.MA.run(close, window=FAST).ma.to_numpy()[:, np.repeat(np.arange(10), 10)]
    slow = vbt.MA.run(close, window=SLOW).ma.to_numpy()[:, np.tile(np.arange(10), 10)]
    cols = pd.MultiIndex.from_product([FAST, SLOW], names=["fast", "slow"])
    f, s = pd.DataFrame(fast, idx, cols), pd.DataFrame(slow, idx, cols)
    entries = f.vbt.crossed_above(s).vbt.fshift(1, fill_value=False)  # fill at the next open
    exits = f.vbt.crossed_below(s).vbt.fshift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=opn,
        fees=0.0005,
        size_granularity=1,
        init_cash=100_000,
        freq="1D",
    )
    out = {"final_equity": pf.final_value()}
    if stats:
        out |= {
            "total_return": pf.total_return(),
            "max_drawdown": pf.max_drawdown(),
            "sharpe": pf.sharpe_ratio(),
            "sortino": pf.sortino_ratio(),
            "calmar": pf.calmar_ratio(),
            "volatility": pf.annualized_volatility(),
            "n_trades": pf.trades.count(),
            "win_rate": pf.trades.win_rate(),
            "profit_factor": pf.trades.profit_factor(),
        }
    return pd.DataFrame(out)


def cpu_timed(fn: Callable[[], Any], repeats: int, wall: list[float] | None = None) -> tuple:
    """CPU seconds of each repeat (``process_time``: this process only) and the last output;
    wall seconds are appended to ``wall`` if given."""
    times, out = [], None
    for _ in range(repeats):
        t, w = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.process_time() - t)
        if wall is not None:
            wall.append(time.perf_counter() - w)
    return times, out


def pool_timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (this process plus its reaped worker processes)."""

    def cpu() -> float:
        me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    wall, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), cpu()
        fn()
        wall.append(time.perf_counter() - t)
        cpus.append(cpu() - c)
    return wall, cpus


def _fmt(ts: list[float], unit: float, digits: int) -> str:
    med, lo, hi = (x * unit for x in (statistics.median(ts), min(ts), max(ts)))
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def _row(label: str, peer: list[float], ours: list[float], unit: float, name: str) -> None:
    d = 3 if unit == 1 else 2
    ratio = statistics.median(peer) / statistics.median(ours)
    print(f"  {label}")
    print(
        f"    peer {_fmt(peer, unit, d)} {name}   ours {_fmt(ours, unit, d)} {name}   "
        f"ratio {ratio:.1f}x"
    )


def cold_child() -> None:
    """First calls in a fresh process whose numba cache is empty (NUMBA_CACHE_DIR set by the
    parent): the cost of compiling every kernel, ours and vectorbt's."""
    market = _market()
    out = {}
    for key, fn in (
        ("ours_grid", lambda: ours_grid(market)),
        ("ours_single", lambda: backtest(SmaCrossover(10, 30), market, execution=MODEL).metrics()),
        ("vbt_grid", lambda: vbt_grid(market, stats=True)),
    ):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out[key] = (time.perf_counter() - t, time.process_time() - c)
    print(json.dumps(out))


def report_cold() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        res = subprocess.run(
            [sys.executable, __file__, "--cold-child"], env=env, capture_output=True, text=True
        )
    if res.returncode != 0:
        print(f"\ncold start: the child failed:\n{res.stderr[-2000:]}")
        return
    cold = json.loads(res.stdout.strip().splitlines()[-1])
    print("\nfirst call with numba's cache empty (compiles everything), wall / CPU s")
    for key, label in (
        ("ours_grid", "qmml backtest_grid"),
        ("ours_single", "then qmml backtest + metrics"),
        ("vbt_grid", "vectorbt grid with statistics"),
    ):
        print(f"  {label:31s}{cold[key][0]:7.2f} / {cold[key][1]:7.2f}")


def cross_check(label: str, table: pd.DataFrame, peer: dict[tuple[int, int], tuple]) -> None:
    """``peer[(fast, slow)] = (final equity, max drawdown %, trades)`` against our table."""
    eq_rel, dd_abs, same_trades, worst = [], [], 0, (0.0, None)
    for f, s, eq, dd, n in table[
        ["fast", "slow", "final_equity", "max_drawdown_pct", "n_trades"]
    ].itertuples(index=False):
        p_eq, p_dd, p_n = peer[(f, s)]
        rel = abs(eq / p_eq - 1)
        eq_rel.append(rel)
        dd_abs.append(abs(dd - p_dd))
        same_trades += int(p_n == n)
        worst = max(worst, (rel, (f, s, p_eq, eq)), key=lambda w: w[0])
    eq_a = np.array(eq_rel)
    print(f"\ncross-check against {label} over the {len(table)} grid points")
    print(
        f"  final equity: max relative difference {eq_a.max():.2e} (median "
        f"{np.median(eq_a):.2e}); within 1e-9: {(eq_a < 1e-9).sum()}/{len(eq_a)}"
    )
    print(f"  max drawdown: max difference {max(dd_abs):.2e} percentage points")
    print(f"  trades: equal in {same_trades}/{len(table)}")
    if worst[1] is not None and worst[0] > 0:
        f, s, p_eq, eq = worst[1]
        print(f"  largest equity gap at fast={f}, slow={s}: {p_eq:.4f} vs {eq:.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--grid-repeats", type=int, default=3)
    p.add_argument("--cold", action="store_true", help="also time numba's cold compile")
    p.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.cold_child:
        return cold_child()
    market = _market()
    fields = ("open", "high", "low", "close", "volume")
    df = pd.DataFrame({f.capitalize(): getattr(market, f)[:, 0] for f in fields}, market.dates)
    bt = Backtest(
        df, SmaCross, cash=100_000, commission=0.0005, trade_on_close=False, exclusive_orders=False
    )
    warnings.simplefilter("ignore")  # backtesting.py's notes about open trades at the end
    print(
        f"data: S&P 500 daily OHLCV, {market.n_days} bars "
        f"({market.dates[0].date()} .. {market.dates[-1].date()}); "
        "median (min-max) of repeats"
    )

    # first calls in this process (numba kernels loaded from the on-disk cache)
    t = time.process_time()
    ours_grid(market)
    first_ours = time.process_time() - t
    t = time.process_time()
    vbt_grid(market, stats=True)
    first_vbt = time.process_time() - t

    def ours_one() -> dict[str, float]:
        return backtest(SmaCrossover(10, 30), market, execution=MODEL).metrics()

    ours_one()
    bt.run(fast=10, slow=30)
    t_peer, stats = cpu_timed(lambda: bt.run(fast=10, slow=30), args.repeats)
    t_ours, met = cpu_timed(ours_one, max(args.repeats, 50))
    print("\none SMA(10, 30) crossover backtest with statistics, CPU ms")
    _row("backtesting.py Backtest.run vs qmml backtest + metrics", t_peer, t_ours, 1e3, "ms")
    print(
        f"    final equity peer {stats['Equity Final [$]']:.4f} ours {met['final_equity']:.4f}; "
        f"trades peer {stats['# Trades']} ours {met['n_trades']:.0f}"
    )

    print(f"\n10 x 10 grid (fast {FAST[0]}..{FAST[-1]}, slow {SLOW[0]}..{SLOW[-1]}), one process")
    wall_ours_g: list[float] = []
    t_ours_g, table = cpu_timed(lambda: ours_grid(market), max(args.repeats, 10), wall_ours_g)
    t_vbt_min, _ = cpu_timed(lambda: vbt_grid(market, stats=False), args.repeats)
    t_vbt, vbt_table = cpu_timed(lambda: vbt_grid(market, stats=True), args.repeats)
    _row(
        "vectorbt warm, final values only vs qmml backtest_grid (17 metrics), CPU ms",
        t_vbt_min,
        t_ours_g,
        1e3,
        "ms",
    )
    _row("vectorbt warm, ten statistics vs qmml backtest_grid, CPU ms", t_vbt, t_ours_g, 1e3, "ms")
    print(
        f"  first call in this process (numba's cache on disk), CPU s: "
        f"qmml {first_ours:.3f}, vectorbt {first_vbt:.3f}"
    )

    wall_bt, cpu_bt = pool_timed(
        lambda: bt.optimize(**GRID, maximize="Equity Final [$]", return_heatmap=True),
        args.grid_repeats,
    )
    print(f"\n10 x 10 grid, backtesting.py optimize ({os.cpu_count()} processes) vs qmml")
    _row("wall s", wall_bt, wall_ours_g, 1, "s")
    _row("CPU s (optimize: parent + workers)", cpu_bt, t_ours_g, 1, "s")

    peer_bt = {}
    for f, s in table[["fast", "slow"]].itertuples(index=False):
        st = bt.run(fast=f, slow=s)
        peer_bt[(f, s)] = (st["Equity Final [$]"], st["Max. Drawdown [%]"], st["# Trades"])
    cross_check("backtesting.py", table, peer_bt)
    v = vbt_table
    peer_vbt = {
        key: (v.loc[key, "final_equity"], 100 * v.loc[key, "max_drawdown"], v.loc[key, "n_trades"])
        for key in v.index
    }
    cross_check("vectorbt", table, peer_vbt)
    if args.cold:
        report_cold()


if __name__ == "__main__":
    main()
