"""``qmml backtest STRATEGY``: backtest a rule-based strategy (or a grid of its parameters)
and build a report. A thin front end to the ``trading-baselines`` workload: the run is
stored like any experiment (so ``qmml report`` rebuilds it) and reported through the same
report module.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import sys
from typing import Any

import yaml

from qmml.experiments.spec import SpecError, did_you_mean, spec_from_dict

__all__ = ["add_parser", "build_spec"]

_EPILOG = """examples:
  qmml backtest sma-crossover --tickers AAPL --start 2015-01-01 --end 2022-12-28
  qmml backtest sma-crossover --data sp500-ohlcv --param fast=20 --param slow=100
  qmml backtest sma-crossover --data sp500-ohlcv --grid fast=5,10,20 --grid slow=50,100,200
  qmml backtest xs-momentum --tickers AAPL MSFT JPM XOM PG --param top=0.4 --cost-bps 10
  qmml backtest buy-and-hold --data my_prices.csv --fill next_close --units whole

--data: a bundled set (stocks20, sp500, sp500-ohlcv, nasdaq-ohlcv), 'yahoo' (downloads
once into a cache) or a CSV path. Orders fill at the next bar's open (next close without
opens) unless --fill says otherwise; costs are on by default (5 bps per side)."""


def _value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for raw in items:
        if "=" not in raw or not raw.split("=", 1)[0]:
            raise SpecError(f"{flag} {raw!r}: expected KEY=VALUE, e.g. {flag} fast=20")
        k, v = raw.split("=", 1)
        out[k.strip()] = v
    return out


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The experiment spec (as a dict) that ``qmml backtest`` runs.

    Raises:
        SpecError: an unknown strategy, a malformed ``--param``/``--grid``, a parameter
            both fixed and swept, a ``--start``/``--end`` that is not a date, a grid whose
            every combination the strategy rejects.
    """
    from qmml.agents.strategies import STRATEGIES

    if args.strategy not in STRATEGIES:
        raise SpecError(
            f"unknown strategy {args.strategy!r}; choose from {', '.join(STRATEGIES)}"
            + did_you_mean(args.strategy, list(STRATEGIES))
        )
    _check_dates(args)
    params = {k: _value(v) for k, v in _pairs(args.param, "--param").items()}
    if args.allow_short:
        if "allow_short" not in inspect.signature(STRATEGIES[args.strategy]).parameters:
            raise SpecError(
                f"--allow-short: strategy {args.strategy!r} cannot go short; "
                "drop the flag or pick sma-crossover, ts-momentum, xs-momentum "
                "or random"
            )
        params.setdefault("allow_short", True)
    grid = {
        k: [_value(x) for x in v.split(",") if x.strip()]
        for k, v in _pairs(args.grid, "--grid").items()
    }
    for k, vals in grid.items():
        if not vals:
            raise SpecError(f"--grid {k}=: give comma-separated values, e.g. {k}=5,10,20")
        if k in params:
            raise SpecError(f"parameter {k!r} is both fixed (--param) and swept (--grid); keep one")
    env: dict[str, Any] = {
        "data": args.data,
        "cost_bps": args.cost_bps,
        "slippage_bps": args.slippage_bps,
        "initial_cash": args.cash,
        "max_leverage": args.size,
        "fill": args.fill,
        "fill_gaps": args.fill_gaps,
        "units": args.units,
        "allow_short": args.allow_short,
        "start": args.start,
        "end": args.end,
    }
    if args.tickers:
        env["tickers"] = args.tickers
    name = args.strategy
    plots: list[dict[str, Any]] = []
    if not grid:
        agents = [{"name": name, "type": args.strategy, "params": params}]
        env["warmup_days"] = _lookback(args.strategy, params)
        plots = [
            {"plot": "equity", "title": f"{name}: equity after costs"},
            {"plot": "drawdown", "title": "drawdown from the running peak"},
            {"plot": "trades", "title": f"{name}: trades on the price chart"},
            {"plot": "monthly_returns", "title": f"{name}: monthly returns (%)"},
        ]
    else:
        keys = list(grid)
        agents = _grid_agents(args.strategy, params, grid)
        # every cell (and the benchmark) on the same days: the longest look-back's
        env["warmup_days"] = max(_lookback(a["type"], a["params"]) for a in agents)
        metric = "sharpe_ratio"
        if len(keys) >= 2:
            plots.append(
                {
                    "plot": "param_heatmap",
                    "metric": metric,
                    "options": {"x": keys[0], "y": keys[1]},
                    "title": f"{name}: {metric} over {keys[0]} x {keys[1]}",
                }
            )
            plots.append(
                {
                    "plot": "param_heatmap",
                    "metric": "max_drawdown_pct",
                    "options": {"x": keys[0], "y": keys[1]},
                    "title": f"{name}: max drawdown (%) over the grid",
                }
            )
        plots.append({"plot": "bar", "metric": metric, "title": f"{metric} per combination"})
        plots.append({"plot": "equity", "title": "equity after costs, every combination"})
    if args.strategy != "buy-and-hold":  # the benchmark is always beside the strategy
        agents.append({"name": "buy-and-hold", "type": "buy-and-hold"})
    where = " ".join(args.tickers) if args.tickers else args.data
    period = f"{args.start or 'the first day'} to {args.end or 'the last day'}"
    return {
        "name": f"backtest-{name}",
        "kind": "trading-baselines",
        "seeds": args.seeds,
        "seed": args.seed,
        "description": f"qmml backtest {name}",
        "env": env,
        "agents": agents,
        "report": {
            "primary": "sharpe_ratio",
            "question": f"Does {name} beat buying and holding {where} from {period}, after "
            f"{args.cost_bps:g} bps commission and {args.slippage_bps:g} bps slippage per side?",
            "baselines": ["buy-and-hold"],
            "plots": plots,
        },
    }


def _lookback(strategy: str, params: dict[str, Any]) -> int:
    """Days of history a strategy reads before its first decision (1 if it cannot be built:
    the spec check then names the problem)."""
    from qmml.agents.strategies import STRATEGIES

    try:
        return int(getattr(STRATEGIES[strategy](**params), "lookback", 1))
    except (TypeError, ValueError):
        return 1


def _check_dates(args: argparse.Namespace) -> None:
    """Raise SpecError for a ``--start``/``--end`` that is not a date (not a traceback), or
    a ``--start`` after ``--end``."""
    # imported here: `qmml --help` must not load the environments
    from qmml.envs.market.data import DataError, parse_date

    dates = {}
    for flag, value in (("--start", args.start), ("--end", args.end)):
        if value is not None:
            try:
                dates[flag] = parse_date(value, flag)
            except DataError as err:
                raise SpecError(str(err)) from None
    if len(dates) == 2 and dates["--start"] > dates["--end"]:
        raise SpecError(
            f"--start {args.start} is after --end {args.end}; swap them (--start is the "
            "first day, --end the last)"
        )


def _grid_agents(
    strategy: str, params: dict[str, Any], grid: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """One agent per grid combination the strategy accepts; the rest are skipped with a note.

    Overlapping ranges (``fast=10,20,50 slow=20,50,100``) are the natural way to sweep, so
    a combination the strategy rejects (``fast=50,slow=20``) is skipped, not fatal.

    Raises:
        SpecError: the strategy rejects every combination (naming the first and why).
    """
    from qmml.agents.strategies import STRATEGIES

    agents, skipped = [], []
    for combo in itertools.product(*grid.values()):
        p = dict(zip(grid, combo, strict=True))
        label = f"{strategy}[{','.join(f'{k}={v}' for k, v in p.items())}]"
        try:
            STRATEGIES[strategy](**params, **p)
        except ValueError as err:  # a constraint between values
            skipped.append(f"{label}: {err}")
            continue
        except TypeError:
            pass  # an unknown or mistyped parameter: the spec check names it
        agents.append(
            {"name": label, "type": strategy, "params": {**params, **p}, "group": strategy}
        )
    if not agents:
        raise SpecError(f"no grid combination is valid, e.g. {skipped[0]}; change the values")
    if skipped:
        print(
            f"note: skipped {len(skipped)} of {len(skipped) + len(agents)} grid combinations "
            f"that {strategy} rejects, e.g. {skipped[0]}",
            file=sys.stderr,
        )
    return agents


def _cmd_backtest(args: argparse.Namespace) -> int:
    from qmml.experiments.report import build_report
    from qmml.experiments.runner import run_experiment

    spec = spec_from_dict(build_spec(args), source="qmml backtest")
    outcome = run_experiment(spec, out=args.out, executor="serial", progress=False, fresh=True)
    if outcome.failed:
        raise SpecError(f"the backtest failed; see {outcome.run_dir.path / 'run.log'}")
    import pandas as pd

    curves, scalars = outcome.run_dir.load_tables()
    table = scalars.groupby(["agent", "metric"], sort=False)["value"].mean().unstack()
    cols = [
        "total_return_pct",
        "cagr_pct",
        "sharpe_ratio",
        "sortino_ratio",
        "max_drawdown_pct",
        "n_trades",
        "exposure_pct",
        "costs",
        "costs_pct_traded",
    ]
    table = table[cols].sort_values("sharpe_ratio", ascending=False)
    eq = curves[curves["metric"] == "equity"]["step"]
    if len(eq):
        first, last = str(int(eq.min())), str(int(eq.max()))
        print(
            f"period: {first[:4]}-{first[4:6]}-{first[6:]} .. {last[:4]}-{last[4:6]}-{last[6:]} "
            f"({eq.nunique() - 1} trading days, every row on the same days)"
        )
    shown = table.head(15)
    if "buy-and-hold" in table.index and "buy-and-hold" not in shown.index:
        shown = pd.concat([shown, table.loc[["buy-and-hold"]]])
    print(shown.to_string(float_format=lambda v: f"{v:.3f}"))
    if len(table) > 15:
        print(f"... {len(table) - 15} more combinations in the report")
    _print_versus_benchmark(outcome.run_dir.path)
    print(f"\nreport: {build_report(outcome.run_dir.path)}")
    return 0


def _print_versus_benchmark(run_dir: Any) -> None:
    """Each strategy's Sharpe ratio minus buy-and-hold's, with its block-bootstrap interval
    over the days, and the finding the report states."""
    from qmml.experiments.report import context_of
    from qmml.experiments.store import RunDir
    from qmml.experiments.workloads.trading.uncertainty import (
        over_time_findings,
        sharpe_over_time_table,
    )

    run = RunDir(run_dir)
    ctx = context_of(run, run.load_spec())
    made = sharpe_over_time_table(ctx)
    if made is None or "minus buy-and-hold" not in made[1]:
        return
    t = made[1].dropna(subset=["minus buy-and-hold"]).sort_values("minus buy-and-hold")
    print("\nSharpe ratio minus buy-and-hold [95% block-bootstrap interval over days]:")
    for r in t.tail(10).iloc[::-1].itertuples(index=False):
        d, lo, hi = r[5], r[6], r[7]  # minus buy-and-hold, diff CI low, diff CI high
        print(f"  {r[0]:<40} {d:+.3f}  [{lo:+.3f}, {hi:+.3f}]")
    for sentence in over_time_findings(ctx):
        print(f"\n{sentence}")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``backtest`` command to ``qmml``'s subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    sp = subparsers.add_parser(
        "backtest",
        help="backtest a rule-based trading strategy (or a parameter grid)",
        formatter_class=fmt,
        epilog=_EPILOG,
        description="Backtest a rule-based strategy on daily bars with costs, store the run "
        "and build a report: equity and drawdown curves, the metrics table, "
        "trades on the price chart and monthly returns (a heatmap over the "
        "grid with --grid).",
    )
    sp.add_argument(
        "strategy",
        help="buy-and-hold, equal-weight, sma-crossover, ts-momentum, "
        "xs-momentum, rsi-reversion, bollinger-reversion, random",
    )
    sp.add_argument(
        "--data", default="stocks20", help="bundled name, 'yahoo' or a CSV path (default: stocks20)"
    )
    sp.add_argument("--tickers", nargs="+", default=None, help="tickers to trade (default: all)")
    sp.add_argument(
        "--start",
        default=None,
        help="first decision day, YYYY-MM-DD (default: as early as the strategy's "
        "look-back allows; earlier data is used only as history)",
    )
    sp.add_argument("--end", default=None, help="last day, YYYY-MM-DD (default: the last)")
    sp.add_argument(
        "--cost-bps",
        type=float,
        default=5.0,
        help="commission per side in basis points (default 5)",
    )
    sp.add_argument(
        "--slippage-bps",
        type=float,
        default=2.0,
        help="slippage per side in basis points (default 2, as every trading command)",
    )
    sp.add_argument("--cash", type=float, default=100_000.0, help="starting cash (default 100000)")
    sp.add_argument(
        "--size",
        type=float,
        default=1.0,
        help="the most of the equity a position may take, as a fraction (default 1.0 = all "
        "of it; 0.5 invests at most half; with --allow-short, up to 10 for leverage)",
    )
    sp.add_argument(
        "--fill",
        choices=["next_open", "next_close", "close"],
        default="next_open",
        help="when orders fill (default: next bar's open)",
    )
    sp.add_argument(
        "--fill-gaps",
        action="store_true",
        help="carry a ticker's last close over days it has no price (e.g. holidays of "
        "another exchange); default: report gaps as an error",
    )
    sp.add_argument(
        "--units",
        choices=["fractional", "whole"],
        default="fractional",
        help="fractional or whole units (default fractional)",
    )
    sp.add_argument(
        "--allow-short",
        action="store_true",
        help="let the strategy go short (and the broker accept short positions)",
    )
    sp.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a strategy parameter; repeatable (e.g. --param fast=20)",
    )
    sp.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="sweep a parameter over values; repeat for a 2-D grid and heatmap",
    )
    sp.add_argument("--seeds", type=int, default=1, help="seeds (only 'random' uses them)")
    sp.add_argument("--seed", type=int, default=0, help="base seed")
    sp.add_argument("--out", default="runs", help="results root folder (default: runs)")
    sp.set_defaults(func=_cmd_backtest)
    return sp
