"""The trading-baselines experiment and the `qmml backtest` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmml.experiments.cli import main, resolve_spec
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import run_experiment
from qmml.experiments.spec import SpecError
from qmml.experiments.workloads.trading.plots import monthly_returns


@pytest.mark.slow
def test_quick_run_and_report(tmp_path: Path) -> None:
    spec = apply_quick(resolve_spec("trading-baselines"))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert not outcome.failed and outcome.ran == len(spec.agents) * spec.seeds
    curves, scalars = outcome.run_dir.load_tables()
    assert {"equity", "drawdown_pct", "price", "buy"} <= set(curves["metric"])
    for metric in (
        "sharpe_ratio",
        "sortino_ratio",
        "cagr_pct",
        "max_drawdown_pct",
        "max_drawdown_duration_bars",
        "turnover_annual",
        "win_rate_pct",
        "profit_factor",
        "exposure_pct",
        "n_trades",
        "calmar_ratio",
    ):
        assert metric in set(scalars["metric"])
    eq = curves[(curves["metric"] == "equity")]
    assert eq["step"].min() >= 20220103 and eq["step"].max() <= 20221228  # the test period
    costs = scalars[scalars["metric"] == "costs_pct"]["value"]
    assert (costs > 0).all()  # costs are on for every strategy that trades
    random = scalars[(scalars["agent"] == "random 5%") & (scalars["metric"] == "final_equity")]
    assert random["value"].nunique() == 2  # the seed matters for the random strategy only
    report = build_report(outcome.run_dir.path)
    html = report.read_text()
    assert "buy-and-hold has a Sharpe ratio of" in html and "beaten by" not in html
    # the uncertainty of a deterministic backtest is over time, not over seeds
    assert "Seeds change only the random strategy" in html
    assert "stationary block bootstrap" in html and "minus buy-and-hold" in html
    assert "selection bias" not in html  # one parameter set per strategy
    figures = sorted(p.name for p in (outcome.run_dir.path / "figures").iterdir())
    assert any("trades" in f for f in figures) and any("monthly" in f for f in figures)
    assert any("drawdown" in f for f in figures) and any("equity" in f for f in figures)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["env.tickers=[APPL]"], "unknown ticker 'APPL'"),
        (["env.report_ticker=MSFT"], "report_ticker 'MSFT'"),
        (["env.tickers=[AAPL]", "env.report_ticker=AAPL"], "at least 2 tickers"),
        (["env.cost_bps=-1"], "cost_bps"),
    ],
)
def test_spec_errors(tmp_path: Path, overrides: list[str], match: str) -> None:
    spec = apply_quick(resolve_spec("trading-baselines"))
    with pytest.raises(SpecError, match=match):
        run_experiment(
            apply_overrides(spec, overrides), out=tmp_path, executor="serial", progress=False
        )


def test_monthly_returns_by_hand() -> None:
    steps = np.array([20210129, 20210201, 20210226, 20210301, 20210331])
    eq = np.array([100.0, 101.0, 110.0, 99.0, 121.0])
    table = monthly_returns(steps, eq)
    assert table.loc[2021, 1] == pytest.approx(0.0)
    assert table.loc[2021, 2] == pytest.approx(10.0)
    assert table.loc[2021, 3] == pytest.approx(10.0)
    assert np.isnan(table.loc[2021, 4])


def test_cli_backtest_single_and_grid(tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "backtest",
            "sma-crossover",
            "--data",
            "sp500-ohlcv",
            "--start",
            "2015-01-01",
            "--end",
            "2018-12-31",
            "--param",
            "fast=10",
            "--param",
            "slow=50",
            "--cost-bps",
            "10",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "sharpe_ratio" in out and "report:" in out
    # the benchmark is always beside the strategy, on the same days, with the difference
    assert "period: 2015-" in out and "\nbuy-and-hold " in out
    assert "Sharpe ratio minus buy-and-hold [95% block-bootstrap interval over days]" in out
    run = next((tmp_path / "backtest-sma-crossover").iterdir())
    figs = {p.name for p in (run / "figures").iterdir()}
    assert any("trades" in f for f in figs) and any("monthly" in f for f in figs)
    scalars = pd.read_csv(run / "summary.csv")
    assert "max_drawdown_pct" in set(scalars["metric"])
    # costs as a share of what was traded: 10 bps commission + 2 bps slippage per side
    rate = scalars[
        (scalars["agent"] == "sma-crossover") & (scalars["metric"] == "costs_pct_traded")
    ]
    assert rate["mean"].iloc[0] == pytest.approx(0.12, rel=0.02)
    rc = main(
        [
            "backtest",
            "sma-crossover",
            "--data",
            "sp500-ohlcv",
            "--start",
            "2017-01-01",
            "--grid",
            "fast=5,10",
            "--grid",
            "slow=30,60",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    table = out.split("Sharpe ratio minus", 1)[0]
    assert rc == 0 and table.count("sma-crossover[fast=") == 4 and "buy-and-hold" in table
    grid_run = next(p for p in (tmp_path / "backtest-sma-crossover").iterdir() if p != run)
    assert any(
        "heatmap" in p.name or "over-fast-x-slow" in p.name
        for p in (grid_run / "figures").iterdir()
    )
    summary = (grid_run / "summary.md").read_text()
    assert "4 of sma-crossover" in summary and "selection bias" in summary
    assert "Sharpe ratio over time" in summary
    assert "## Pairwise" not in summary  # one seed: nothing for seeds to separate
    eq = pd.read_parquet(grid_run / "curves.parquet")
    days = eq[eq["metric"] == "equity"].groupby("agent")["step"].agg(["min", "max", "count"])
    assert len(days) == 5 and (days.nunique() == 1).all()  # every cell on the same days


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backtest", "sma-crosover"], "did you mean 'sma-crossover'"),
        (["backtest", "sma-crossover", "--param", "fast"], "expected KEY=VALUE"),
        (["backtest", "sma-crossover", "--param", "fast=40", "--param", "slow=10"], "fast < slow"),
        (["backtest", "sma-crossover", "--param", "fast=5", "--grid", "fast=5,10"], "both fixed"),
        (["backtest", "sma-crossover", "--grid", "fast="], "comma-separated"),
        (["backtest", "sma-crossover", "--param", "fats=5"], "did you mean 'fast'"),
        (["backtest", "buy-and-hold", "--tickers", "APPL"], "unknown ticker 'APPL'"),
        (["backtest", "buy-and-hold", "--data", "nowhere.csv"], "not found"),
        (
            ["backtest", "buy-and-hold", "--data", "sp500-ohlcv", "--start", "2030-01-01"],
            "after the data ends",
        ),
    ],
)
def test_cli_errors_are_one_line_exit_2(argv, message, tmp_path: Path, capsys) -> None:
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def _csv(tmp_path: Path, name: str, days: int, gap: bool = False) -> str:
    """A two-ticker long CSV of ``days`` business days; B misses day 5 if ``gap``."""
    dates = pd.bdate_range("2015-01-01", periods=days)
    rows = [
        f"{d.date()},{t},{100 + i + k},{101 + i + k},{99 + i + k},{100.5 + i + k}"
        for i, d in enumerate(dates)
        for k, t in enumerate(("A", "B"))
        if not (gap and t == "B" and i == 5)
    ]
    path = tmp_path / name
    path.write_text("Date,Ticker,Open,High,Low,Close\n" + "\n".join(rows) + "\n")
    return str(path)


def test_cli_user_input_errors_are_one_line(tmp_path: Path, capsys) -> None:
    short, gaps = _csv(tmp_path, "short.csv", 40), _csv(tmp_path, "gaps.csv", 60, gap=True)
    cases = [
        (["sma-crossover", "--data", "sp500", "--start", "notadate"], "--start 'notadate' is not"),
        (
            ["sma-crossover", "--end", "2020-13-45"],
            "--end '2020-13-45' is not a date; use YYYY-MM-DD",
        ),
        (
            ["ts-momentum", "--data", short],
            "ts-momentum needs 128 days of data up to 2015-02-25 (127 to look back, 0 of "
            "indicator warm-up, 1 to trade on) but short.csv has 40; use a longer period "
            "(earlier data or a later end), or a smaller lookback_days",
        ),
        (
            ["buy-and-hold", "--data", short, "--start", "2015-02-25"],
            "buy-and-hold needs 2 days from env.start 2015-02-25",
        ),
        (["buy-and-hold", "--data", gaps], "set env.fill_gaps: true (qmml backtest: --fill-gaps)"),
        (["buy-and-hold", "--tickers", "AAPL", "AAPL"], "tickers repeated"),
        (["sma-crossover", "--grid", "fast=50,60", "--grid", "slow=10,20"], "no grid combination"),
    ]
    for argv, message in cases:
        assert main(["backtest", *argv, "--out", str(tmp_path)]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "backtest-ts-momentum").exists()  # refused before running


def test_spec_start_must_be_a_date(tmp_path: Path) -> None:
    spec = apply_quick(resolve_spec("trading-baselines"))
    with pytest.raises(SpecError, match=r"'env.start': .notadate. \(not a date; use YYYY-MM-DD\)"):
        run_experiment(apply_overrides(spec, ["env.start=notadate"]), out=tmp_path, progress=False)


def test_cli_fill_gaps_and_grid_skips_invalid_combinations(tmp_path: Path, capsys) -> None:
    gaps = _csv(tmp_path, "gaps.csv", 60, gap=True)
    out = ["--out", str(tmp_path)]
    assert main(["backtest", "buy-and-hold", "--data", gaps, "--fill-gaps", *out]) == 0
    capsys.readouterr()
    argv = ["sma-crossover", "--data", gaps, "--fill-gaps", "--grid", "fast=5,10"]
    assert main(["backtest", *argv, "--grid", "slow=10,20", *out]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 of 4 grid combinations" in captured.err
    assert "sma-crossover[fast=10,slow=10]: need 1 <= fast < slow" in captured.err
    assert captured.out.count("sma-crossover[fast=") == 3
