"""Rule-based trading strategies backtested on market data, costs on (also ``qmml backtest``).

One trial backtests one strategy with the fast backtester (identical to stepping the market
environment). Curves use the date as ``step`` (YYYYMMDD): ``equity``, ``drawdown_pct``,
``gross_exposure``, the report ticker's ``price`` and its fills (``buy``/``sell`` at the
fill price). Scalars are every metric of :mod:`qmml.envs.market.backtest.metrics`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from qmml.agents.strategies import STRATEGIES
from qmml.envs.market.backtest.engine import BacktestResult, backtest
from qmml.envs.market.backtest.metrics import drawdown
from qmml.envs.market.data import DataError, GapError, Market
from qmml.envs.market.execution import ExecutionModel
from qmml.envs.market.features import FeatureTable
from qmml.envs.market.sources import load_market
from qmml.envs.market.splits import decision_range
from qmml.experiments.results import ymd
from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    TrialContext,
    TrialResult,
    Workload,
    accepts_param,
    register,
)
from qmml.experiments.workloads.trading import plots
from qmml.experiments.workloads.trading.section import (
    DEFAULT_SLIPPAGE_BPS,
    MarketSection,
    data_provenance,
)
from qmml.experiments.workloads.trading.uncertainty import (
    over_time_findings,
    selection_note,
    sharpe_over_time_table,
)

__all__ = ["BacktestSection", "TradingBaselines"]


class BacktestSection(MarketSection):
    """The ``env`` section: data, period and broker settings."""

    reads_date_format: ClassVar[bool] = True

    start: str | None = "2019-01-01"
    end: str | None = "2022-12-28"
    fill_gaps: bool = False
    slippage_bps: float = Field(default=DEFAULT_SLIPPAGE_BPS, ge=0, lt=1000)
    borrow_bps: float = Field(default=0.0, ge=0, lt=1000)
    fill: Literal["next_open", "next_close", "close"] = "next_open"
    units: Literal["fractional", "whole"] = "fractional"
    allow_short: bool = False
    max_leverage: float = Field(default=1.0, gt=0, le=10)
    initial_cash: float = Field(default=100_000.0, gt=0)
    report_ticker: str | None = None
    # decisions start once this many days of history exist: a grid (or a strategy and its
    # buy-and-hold benchmark) then covers the same days whatever each one's look-back
    warmup_days: int | None = Field(default=None, ge=1, le=100_000)

    def execution(self) -> ExecutionModel:
        """The broker settings as an :class:`ExecutionModel`."""
        return ExecutionModel(
            self.cost_bps,
            self.slippage_bps,
            self.borrow_bps,
            self.fill,
            self.units,
            self.allow_short,
            self.max_leverage,
            self.initial_cash,
        )


class TradingBaselines(Workload):
    """Backtests of rule-based strategies; the Python API is
    :func:`envs.market.backtest.backtest`."""

    name = "trading-baselines"
    description = "rule-based trading strategies on market data, after costs"
    agent_types = dict(STRATEGIES)
    Env = BacktestSection

    def market(self, env: BacktestSection) -> Market:
        """The market a trial trades: history before ``start`` is kept for warm-up."""
        if env.start and env.end and pd.Timestamp(env.start) > pd.Timestamp(env.end):
            default = "" if "start" in env.model_fields_set else " (the default)"
            raise SpecError(
                f"env.start {env.start}{default} is after env.end {env.end} (qmml backtest: "
                "--start, --end); give a start before the end"
            )
        try:
            m = load_market(
                env.data,
                tickers=env.tickers,
                end=env.end,
                fill="ffill" if env.fill_gaps else None,
                date_format=env.date_format,
            )
        except GapError as err:  # the Python hint (fill='ffill') means nothing here
            raise SpecError(
                f"env: {err.problem}; set env.fill_gaps: true (qmml backtest: --fill-gaps) "
                "to carry the last close forward, or choose another range or tickers"
            ) from None
        except DataError as err:
            raise SpecError(f"env: {_outside(env) or err}") from None
        if env.start and m.dates[-1] < pd.Timestamp(env.start):
            upto = f" up to env.end {env.end}" if env.end else ""
            raise SpecError(
                f"env.start {env.start} is after the data ends: {m.name} covers "
                f"{m.dates[0].date()}..{m.dates[-1].date()}{upto}; choose an earlier start"
            )
        return m

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        # a grid has many agents on one market: load it, and its feature warm-up, once
        markets: dict[str, Market] = {}
        warm: dict[tuple[str, tuple[str, ...]], int] = {}
        for a in agents:
            env = self.env_config(spec, a)
            key = env.model_dump_json()
            m = markets[key] = markets.get(key) or self.market(env)
            if env.report_ticker and env.report_ticker not in m.tickers:
                raise SpecError(
                    f"env.report_ticker {env.report_ticker!r} is not one of {', '.join(m.tickers)}"
                )
            try:
                strategy = self.agent_types[a.type](**a.params)
                strategy.check(m.n_assets)
            except ValueError as err:
                raise SpecError(f"agents.{a.group}: {err}") from None
            feats = tuple(strategy.features) or ("rel_close",)  # as the backtester builds
            if (key, feats) not in warm:
                warm[key, feats] = FeatureTable.build(m, feats).first_valid
            _check_room(a, strategy, m, env, warm[key, feats])

    def provenance(self, spec: ExperimentSpec) -> list[tuple[str, str]]:
        return data_provenance(BacktestSection.model_validate(spec.env).data)

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env = self.env_config(spec, agent)
        market = self.market(env)
        params = dict(agent.params)
        if agent.type == "random" and "seed" not in params:
            params["seed"] = ctx.int_seed()  # each trial its own draws
        try:
            res = backtest(
                STRATEGIES[agent.type](**params),
                market,
                start=env.start,
                end=env.end,
                execution=env.execution(),
                name=agent.name,
                warmup=env.warmup_days,
            )
        except (ValueError, DataError) as err:
            raise SpecError(f"agents.{agent.group}: {err}") from None
        return _tables(res, env.report_ticker or market.tickers[0])

    def notes(self, ctx: PlotContext) -> list[str]:
        """The period, the costs and the buy-and-hold reference in plain words."""
        env = BacktestSection.model_validate(ctx.spec.env)
        out = [
            f"Backtests from {env.start or 'the first day'} to {env.end or 'the last day'}"
            f" on '{env.data}' with "
            f"{env.cost_bps:g} bps commission per side and {env.slippage_bps:g} bps "
            f"slippage; orders fill at the {env.fill.replace('_', ' ')} after the "
            "decision (next close where the data has no opens)."
        ]
        if any(a.type != "random" for a in ctx.agents.values()):
            out.append(
                "Seeds change only the random strategy: the metrics table marks the others "
                "deterministic. The uncertainty of a backtest is in the period it covers; see "
                "the Sharpe ratios over time below."
            )
        note = selection_note(ctx)
        return out + ([note] if note else [])

    def findings(self, ctx: PlotContext) -> list[str]:
        """Beats buy-and-hold only where the interval over days excludes zero."""
        return over_time_findings(ctx)

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        """Sharpe ratios with intervals over time (block bootstrap of the days)."""
        table = sharpe_over_time_table(ctx)
        return [table] if table else []


# strategy parameters that set how many days of history a decision reads
_LOOKBACK_PARAMS = ("slow", "lookback_days", "period")


def _outside(env: BacktestSection) -> str:
    """The user's period against the data's, when the whole period lies outside the data
    (the loader alone sees only ``end``: start is applied later, after warm-up); else ''."""
    if not (env.start and env.end):
        return ""
    try:
        whole = load_market(env.data, tickers=env.tickers, date_format=env.date_format)
    except DataError:
        return ""
    first, last = whole.dates[0], whole.dates[-1]
    if pd.Timestamp(env.end) >= first and pd.Timestamp(env.start) <= last:
        return ""
    return (
        f"period {env.start}..{env.end} (env.start, env.end; qmml backtest: --start, --end) "
        f"is outside the data {whole.name!r} ({first.date()}..{last.date()}); choose dates "
        "inside it"
    )


def _check_room(
    agent: ResolvedAgent, strategy: Any, market: Market, env: BacktestSection, warm: int
) -> None:
    """Raise SpecError before running if the period leaves ``strategy`` no decision.

    A decision needs the strategy's window, warm (``warm``: the first bar its features are
    valid), on data up to ``env.end``, and a later day to trade on.
    """
    try:
        decision_range(market.dates, warm, strategy.lookback, env.start, env.end, market.name)
    except DataError:
        raise SpecError(_no_room(agent, strategy.lookback, warm, market, env)) from None


def _no_room(
    agent: ResolvedAgent, lookback: int, warm: int, market: Market, env: BacktestSection
) -> str:
    """The one-line reason a period holds no decision, and what to change."""
    need, have = warm + lookback + 1, market.n_days
    where = f"agents.{agent.group}: {agent.name}"
    if need > have:
        knobs = [p for p in _LOOKBACK_PARAMS if accepts_param(STRATEGIES[agent.type], p)]
        smaller = f", or a smaller {' or '.join(knobs)}" if knobs else ""
        return (
            f"{where} needs {need} days of data up to {market.dates[-1].date()} "
            f"({lookback} to look back, {warm} of indicator warm-up, 1 to trade on) "
            f"but {market.name} has {have}; use a longer period (earlier data or a later "
            f"end){smaller}"
        )
    left = int(market.n_days - market.dates.searchsorted(pd.Timestamp(env.start)))
    return (
        f"{where} needs 2 days from env.start {env.start} (a decision day and a later day to "
        f"trade on) but {market.name} has {left} up to {market.dates[-1].date()}; choose an "
        "earlier start"
    )


def _tables(res: BacktestResult, ticker: str) -> TrialResult:
    steps = ymd(res.dates)
    weights = res.units * res.close / res.equity[:, None]
    a = res.market.tickers.index(ticker)
    parts = [
        TrialResult.from_arrays(
            curves={
                "equity": res.equity,
                "drawdown_pct": 100 * drawdown(res.equity),
                "gross_exposure": np.abs(weights).sum(axis=1),
                "price": res.close[:, a],
            },
            steps=steps,
        ).curves
    ]
    fills = res.fills
    fills = fills[fills["ticker"] == ticker]
    for side, mask in (("buy", fills["units"] > 0), ("sell", fills["units"] < 0)):
        f = fills[mask]
        if len(f):
            parts.append(
                pd.DataFrame(
                    {
                        "step": ymd(pd.DatetimeIndex(f["date"])),
                        "metric": side,
                        "value": f["price"].to_numpy(),
                    }
                )
            )
    out = TrialResult.from_arrays(
        scalars=res.metrics(), ticker=ticker, first_decision=str(res.dates[0].date())
    )
    out.curves = pd.concat(parts, ignore_index=True)
    return out


TradingBaselines.plots = plots.BASELINE_PLOTS
register(TradingBaselines())
