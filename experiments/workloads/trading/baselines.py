"""Rule-based trading strategies backtested on market data, costs on (also ``qmml backtest``).

One trial backtests one strategy with the fast backtester (identical to stepping the market
environment). Curves use the date as ``step`` (YYYYMMDD): ``equity``, ``drawdown_pct``,
``gross_exposure``, the report ticker's ``price`` and its fills (``buy``/``sell`` at the
fill price). Scalars are every metric of :mod:`qmml.envs.market.backtest.metrics`.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field, field_validator

from qmml.agents.strategies import STRATEGIES
from qmml.envs.datasets import DataError, parse_date
from qmml.envs.market.backtest.engine import BacktestResult, backtest
from qmml.envs.market.backtest.metrics import drawdown
from qmml.envs.market.data import GapError, Market, load_market
from qmml.envs.market.execution import ExecutionModel
from qmml.envs.market.features import FeatureTable
from qmml.envs.market.render import grid_heatmap
from qmml.envs.market.splits import decision_range
from qmml.experiments.figures import agent_colors, curve_matrix, select_agents
from qmml.experiments.spec import ExperimentSpec, PlotSpec, SpecError
from qmml.experiments.stats import bootstrap_curve
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    accepts_param,
    register,
)
from qmml.experiments.workloads.trading.uncertainty import selection_note, sharpe_over_time_table

__all__ = ["TradingBaselines", "TradingEnv"]


class TradingEnv(StrictModel):
    """The ``env`` section: data, period and broker settings."""

    data: str = "stocks20"
    tickers: list[str] | None = None
    start: str | None = "2019-01-01"
    end: str | None = "2022-12-28"
    fill_gaps: bool = False
    cost_bps: float = Field(default=5.0, ge=0, lt=1000)
    slippage_bps: float = Field(default=0.0, ge=0, lt=1000)
    borrow_bps: float = Field(default=0.0, ge=0, lt=1000)
    fill: Literal["next_open", "next_close", "close"] = "next_open"
    units: Literal["fractional", "whole"] = "fractional"
    allow_short: bool = False
    max_leverage: float = Field(default=1.0, gt=0, le=10)
    initial_cash: float = Field(default=100_000.0, gt=0)
    report_ticker: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> Any:
        # YAML reads an unquoted 2018-06-01 as a date; accept it as the ISO string
        if isinstance(v, (datetime.date, datetime.datetime)):
            return v.isoformat()[:10]
        if v is not None:
            try:  # a bad date fails here, once, not as a traceback later
                parse_date(v)
            except DataError:
                raise ValueError("not a date; use YYYY-MM-DD") from None
        return v

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


def _ymd(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.strftime("%Y%m%d").astype(np.int64).to_numpy()


def _dates(steps: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(steps).astype(str), format="%Y%m%d")


class TradingBaselines(Workload):
    """Backtests of rule-based strategies; the Python API is
    :func:`envs.market.backtest.backtest`."""

    name = "trading-baselines"
    description = "rule-based trading strategies on market data, after costs"
    agent_types = dict(STRATEGIES)
    Env = TradingEnv

    def market(self, env: TradingEnv) -> Market:
        """The market a trial trades: history before ``start`` is kept for warm-up."""
        try:
            m = load_market(
                env.data, tickers=env.tickers, end=env.end, fill="ffill" if env.fill_gaps else None
            )
        except GapError as err:  # the Python hint (fill='ffill') means nothing here
            raise SpecError(
                f"env: {err.problem}; set env.fill_gaps: true (qmml backtest: --fill-gaps) "
                "to carry the last close forward, or choose another range or tickers"
            ) from None
        except DataError as err:
            raise SpecError(f"env: {err}") from None
        if env.start and m.dates[-1] < pd.Timestamp(env.start):
            raise SpecError(
                f"env.start {env.start} is after the data ends "
                f"({m.dates[-1].date()}); choose an earlier start"
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
            )
        except (ValueError, DataError) as err:
            raise SpecError(f"agents.{agent.group}: {err}") from None
        return _tables(res, env.report_ticker or market.tickers[0])

    def notes(self, ctx: PlotContext) -> list[str]:
        """The period, the costs and the buy-and-hold reference in plain words."""
        env = TradingEnv.model_validate(ctx.spec.env)
        out = [
            f"Backtests from {env.start or 'the first day'} to {env.end or 'the last day'}"
            f" on '{env.data}' with "
            f"{env.cost_bps:g} bps commission per side and {env.slippage_bps:g} bps "
            f"slippage; orders fill at the {env.fill.replace('_', ' ')} after the "
            "decision (next close where the data has no opens)."
        ]
        s = ctx.scalars[ctx.scalars["metric"] == "sharpe_ratio"]
        means = s.groupby("agent")["value"].mean()
        ref = [n for n, a in ctx.agents.items() if a.type == "buy-and-hold" and n in means]
        if ref and len(means) > 1:
            better = [n for n in means.index if n != ref[0] and means[n] > means[ref[0]]]
            out.append(
                f"Sharpe ratio of {ref[0]}: {means[ref[0]]:.2f}; "
                + (
                    f"beaten by {', '.join(better)}."
                    if better
                    else "no other strategy beats it on this period."
                )
            )
        if any(a.type != "random" for a in ctx.agents.values()):
            out.append(
                "Seeds change only the random strategy: for the others the intervals over "
                "seeds in the metrics table have zero width. The uncertainty of a backtest is "
                "in the period it covers; see the Sharpe ratios over time below."
            )
        note = selection_note(ctx)
        return out + ([note] if note else [])

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        """Sharpe ratios with intervals over time (block bootstrap of the days)."""
        table = sharpe_over_time_table(ctx)
        return [table] if table else []


# strategy parameters that set how many days of history a decision reads
_LOOKBACK_PARAMS = ("slow", "lookback_days", "period")


def _check_room(
    agent: ResolvedAgent, strategy: Any, market: Market, env: TradingEnv, warm: int
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
    agent: ResolvedAgent, lookback: int, warm: int, market: Market, env: TradingEnv
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
    steps = _ymd(res.dates)
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
                        "step": _ymd(pd.DatetimeIndex(f["date"])),
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


# -- plots ------------------------------------------------------------------------------------
def _curve_plot(
    ctx: PlotContext, plot: PlotSpec, metric: str, ylabel: str, logy: bool = False
) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    colors = agent_colors(list(ctx.agents))
    for name in select_agents(ctx, plot):
        steps, y = curve_matrix(ctx.curves, name, metric)
        if y.size == 0:
            continue
        mean, lo, hi = bootstrap_curve(y)
        d = _dates(steps)
        ax.plot(d, mean, color=colors[name], lw=1.2, label=name)
        if y.shape[0] > 1 and not np.allclose(lo, hi):
            ax.fill_between(d, lo, hi, color=colors[name], alpha=0.2, lw=0)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(plot.title or ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_equity(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Equity after costs per strategy (mean and 95% CI over seeds). Option ``logy``."""
    return _curve_plot(
        ctx, plot, "equity", "equity after costs", bool(plot.options.get("logy", False))
    )


def plot_drawdown(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Drawdown from the running peak, in percent."""
    return _curve_plot(ctx, plot, "drawdown_pct", "drawdown (%)")


def _one_agent(ctx: PlotContext, plot: PlotSpec) -> str | None:
    names = select_agents(ctx, plot)
    return plot.options.get("agent") or (names[0] if names else None)


def plot_trades(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """The report ticker's price with one strategy's buys and sells (first seed)."""
    name = _one_agent(ctx, plot)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    c = ctx.curves[ctx.curves["agent"] == name]
    seed = c["seed"].min() if len(c) else None
    c = c[c["seed"] == seed]
    price = c[c["metric"] == "price"]
    ax.plot(_dates(price["step"]), price["value"], color="0.35", lw=1, label="price")
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        f = c[c["metric"] == side]
        ax.scatter(
            _dates(f["step"]),
            f["value"],
            marker=marker,
            color=color,
            s=28,
            label=f"{side} ({len(f)})",
            zorder=3,
        )
    ax.set_title(plot.title or f"trades of {name}")
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def monthly_returns(steps: np.ndarray, equity: np.ndarray) -> pd.DataFrame:
    """Percent return of each calendar month (years x months) from an equity curve."""
    s = pd.Series(equity, index=_dates(steps))
    month_end = s.groupby([s.index.year, s.index.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = s.iloc[0]
    r = 100 * (month_end / prev - 1)
    r.index.names = ["year", "month"]
    return r.unstack("month").reindex(columns=range(1, 13))


def plot_monthly_returns(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Heatmap of one strategy's monthly returns in percent (mean equity over seeds)."""
    name = _one_agent(ctx, plot)
    steps, y = curve_matrix(ctx.curves, name, "equity")
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.4 * max(1, len(set(np.asarray(steps) // 10000)))))
    if y.size == 0:
        ax.text(0.5, 0.5, "no equity curve", ha="center", transform=ax.transAxes)
        return fig
    table = monthly_returns(steps, y.mean(axis=0))
    lim = max(1.0, float(np.nanmax(np.abs(table.to_numpy()))))
    im = ax.imshow(table.to_numpy(), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(12), ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
    ax.set_yticks(range(len(table)), table.index)
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="monthly return (%)")
    ax.set_title(plot.title or f"monthly returns of {name} (%)")
    fig.tight_layout()
    return fig


def plot_param_heatmap(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """A scalar metric over a two-parameter grid (options ``x`` and ``y``: parameter names)."""
    x, y = plot.options.get("x"), plot.options.get("y")
    if not (x and y and plot.metric):
        raise SpecError("report.plots: a 'param_heatmap' needs a metric and options x, y")
    rows = []
    for name in select_agents(ctx, plot):
        p = ctx.agents[name].params
        vals = ctx.scalars[(ctx.scalars["agent"] == name) & (ctx.scalars["metric"] == plot.metric)][
            "value"
        ]
        if x in p and y in p and len(vals):
            rows.append((p[x], p[y], float(vals.mean())))
    if not rows:
        fig, ax = plt.subplots(figsize=(6.5, 5))
        ax.text(0.5, 0.5, "no grid results", ha="center", transform=ax.transAxes)
        return fig
    table = pd.DataFrame(rows, columns=[x, y, plot.metric])
    return grid_heatmap(table, x, y, plot.metric, plot.title or f"{plot.metric} over the grid")


TradingBaselines.plots = {
    "equity": plot_equity,
    "drawdown": plot_drawdown,
    "trades": plot_trades,
    "monthly_returns": plot_monthly_returns,
    "param_heatmap": plot_param_heatmap,
}
register(TradingBaselines())
