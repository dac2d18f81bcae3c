"""Bandits trade stocks: each arm is a stock of real daily data (the lecture study, honestly).

Agents are compared with two kinds of random null (their distributions, and the empirical
p-value of the agent's final wealth against each): random pickers, who pick a stock at random
every day, and random holders, who buy one random stock on day one and hold it (the fairer
null for an agent that trades little: daily pickers pay costs daily). Also beside them: an
equal-weight buy-and-hold portfolio and the best single stock in hindsight (a look-ahead
oracle: no agent could know it in advance).
Curves use the close date as ``step`` (an integer YYYYMMDD).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field

from qmml.agents.bandits import AGENTS, simulate
from qmml.envs.market.data import DataError
from qmml.envs.market.sources import load_market
from qmml.envs.stock_bandit import StockBanditBatch, costs_and_wealth, kept_after
from qmml.experiments.figures import (
    agent_colors,
    band_curve,
    curve_matrix,
    select_agents,
)
from qmml.experiments.results import dates_of, ymd
from qmml.experiments.spec import ExperimentSpec, PlotSpec, SpecError
from qmml.experiments.stats import rank_p_value
from qmml.experiments.workload import (
    PlotContext,
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
    register,
)
from qmml.experiments.workloads.trading.section import MarketSection, data_provenance

_BASELINES = ("equal-weight", "best-stock-hindsight")
_NULLS = {"random": "random pickers", "random-held": "random holders"}  # agent type -> label


def _baseline(name: str, doc: str | None = None):
    def factory() -> str:
        return name

    factory.__doc__ = doc or f"baseline {name} (no parameters)"
    return factory


class StocksSection(MarketSection):
    """The ``env`` section: which prices (daily closes), which period, what trading costs."""

    start: str = "2015-01-01"
    end: str = "2022-12-31"
    cost_bps: float = Field(default=5.0, ge=0, le=1000)


class StocksBudgetSection(StrictModel):
    """The ``budget`` section: copies of a learning agent per trial, random pickers (and
    random holders) per trial."""

    runs: int = Field(default=1, ge=1, le=100_000)
    random_pickers: int = Field(default=1000, ge=1, le=1_000_000)


class BanditStocks(Workload):
    """Stock-picking bandits on bundled (or user) daily closes."""

    name = "bandit-stocks"
    description = "bandit agents pick one stock a day; compared with random pickers and holders"
    agent_types = {
        **AGENTS,
        **{b: _baseline(b) for b in _BASELINES},
        "random-held": _baseline(
            "random-held",
            "random null: buy one random stock on day one and hold it "
            "(budget.random_pickers runs per seed; no parameters)",
        ),
    }
    Env = StocksSection
    Budget = StocksBudgetSection

    def closes(self, env: StocksSection) -> pd.DataFrame:
        try:
            return load_market(env.data, tickers=env.tickers, start=env.start, end=env.end).closes()
        except DataError as err:
            raise SpecError(f"env: {err}") from None

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        for a in agents:
            closes = self.closes(self.env_config(spec, a))
            if closes.shape[1] < 2:
                raise SpecError(
                    f"env.tickers: {closes.shape[1]} stock; a bandit needs at least 2 arms "
                    "to choose between: list 2 or more tickers"
                )

    def provenance(self, spec: ExperimentSpec) -> list[tuple[str, str]]:
        return data_provenance(StocksSection.model_validate(spec.env).data)

    def run_trial(
        self, spec: ExperimentSpec, agent: ResolvedAgent, ctx: TrialContext
    ) -> TrialResult:
        env = self.env_config(spec, agent)
        budget = self.budget_config(spec)
        closes = self.closes(env)
        prices = closes.to_numpy()
        returns = prices[1:] / prices[:-1] - 1.0
        dates = ymd(closes.index[1:])
        tickers = list(closes.columns)
        bought = kept_after(1.0, env.cost_bps)  # one purchase, held: one side of costs
        if agent.type in _BASELINES:
            growth = prices[1:] / prices[0]
            if agent.type == "equal-weight":
                wealth = growth.mean(axis=1) * bought
            else:  # best single stock, chosen with knowledge of the final prices
                wealth = growth[:, int(np.argmax(growth[-1]))] * bought
            return TrialResult.from_arrays(
                curves={"wealth": wealth}, steps=dates, scalars={"final_wealth": wealth[-1]}
            )
        if agent.type == "random-held":  # a random stock bought on day one and held
            rng = np.random.default_rng(ctx.seeds(1)[0])
            picks = rng.integers(0, len(tickers), budget.random_pickers)
            wealth = (prices[1:] / prices[0])[:, picks] * bought
            return TrialResult.from_arrays(
                curves={"wealth": wealth.mean(axis=1), **_quantile_curves(wealth)},
                steps=dates,
                scalars={"final_wealth": wealth[-1]},
            )
        n_runs = budget.random_pickers if agent.type == "random" else budget.runs
        batch = StockBanditBatch(returns, n_runs, cost_bps=env.cost_bps)
        trace = simulate(
            AGENTS[agent.type](**agent.params),
            batch,
            len(returns),
            rng=np.random.default_rng(ctx.seeds(1)[0]),
            record_actions=True,
        )
        actions = trace.actions
        assert actions is not None  # record_actions=True
        net, wealth = costs_and_wealth(returns, actions, env.cost_bps)
        curves: dict[str, Any] = {"wealth": wealth.mean(axis=1)}
        if agent.type == "random":
            curves.update(_quantile_curves(wealth))
        else:
            for i, t in enumerate(tickers):
                curves[f"pick:{t}"] = (actions == i).mean(axis=1)
        switches = (actions[1:] != actions[:-1]).sum(axis=0)
        return TrialResult.from_arrays(
            curves=curves,
            steps=dates,
            scalars={
                "final_wealth": wealth[-1],
                "n_switches": switches.astype(float),
                "mean_daily_return_bps": 1e4 * net.mean(axis=0),
            },
            tickers=tickers,
        )

    # -- report -----------------------------------------------------------------------------
    def notes(self, ctx: PlotContext) -> list[str]:
        """What the random nulls did, the costs, and a plain verdict."""
        refs = self._null_wealth(ctx)
        env = self.env_config(ctx.spec)
        out = [
            f"Period {env.start} to {env.end}, costs {env.cost_bps:g} bps per side on "
            "every purchase and sale (a switch pays two sides). Wealth starts at 1.0."
        ]
        for kind, ref in refs.items():
            what = (
                "switch almost every day, so they pay costs almost daily"
                if kind == "random"
                else "buy one random stock on day one and hold it, paying costs once"
            )
            out.append(
                f"{_NULLS[kind].capitalize()} ({ref.size} runs) {what}: median final "
                f"wealth {np.median(ref):.3f}, 95% between {np.percentile(ref, 2.5):.3f} "
                f"and {np.percentile(ref, 97.5):.3f}."
            )
        if "random" in refs and "random-held" not in refs:
            out.append(
                "Only the daily random pickers are in this run: their costs flatter any "
                "agent that trades less; add a `random-held` agent for the fairer null."
            )
        table = self._versus_random(ctx, refs)
        ew = table[table["agent type"] == "equal-weight"]["final wealth (mean)"]
        learners = table[~table["agent type"].isin(_BASELINES)]
        if len(ew) and len(learners):
            beat = learners[learners["final wealth (mean)"] > float(ew.iloc[0])]
            if beat.empty:
                out.append(
                    "No bandit agent ended with more wealth than equal-weight "
                    "buy-and-hold: on this data, after costs, learning to pick one "
                    "stock a day did not pay."
                )
            else:
                out.append(
                    f"{len(beat)} of {len(learners)} bandit agents ended above "
                    "equal-weight buy-and-hold on mean final wealth; check the seed "
                    "spread and the p-values before believing it."
                )
        return out

    def tables(self, ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
        refs = self._null_wealth(ctx)
        if not refs:
            return []
        against = " and ".join(_NULLS[k] for k in refs)
        return [
            (
                f"Final wealth against the {against} (empirical one-sided p-values)",
                self._versus_random(ctx, refs),
            )
        ]

    @staticmethod
    def _null_wealth(ctx: PlotContext) -> dict[str, np.ndarray]:
        """Final wealth of every run of each random null in the results, by agent type."""
        s = ctx.scalar("final_wealth")
        refs = {}
        for kind in _NULLS:
            names = [n for n, a in ctx.agents.items() if a.type == kind]
            ref = s[s["agent"].isin(names)]["value"].to_numpy()
            if ref.size:
                refs[kind] = ref
        return refs

    @staticmethod
    def _versus_random(ctx: PlotContext, refs: dict[str, np.ndarray]) -> pd.DataFrame:
        s = ctx.scalar("final_wealth")
        rows = []
        for n, a in ctx.agents.items():
            if a.type in _NULLS:
                continue
            per_seed = s[s["agent"] == n].groupby("seed")["value"].mean().to_numpy()
            if per_seed.size == 0:
                continue
            row = {
                "agent": n + (" (look-ahead oracle)" if a.type == _BASELINES[1] else ""),
                "agent type": a.type,
                "seeds": per_seed.size,
                "final wealth (mean)": per_seed.mean(),
            }
            for kind, ref in refs.items():
                p = np.array([rank_p_value(v, ref) for v in per_seed])
                row[f"median p vs {_NULLS[kind]}"] = float(np.median(p))
                row[f"share p < 0.05 vs {_NULLS[kind]}"] = float(np.mean(p < 0.05))
            rows.append(row)
        return pd.DataFrame(rows)


def _quantile_curves(wealth: np.ndarray) -> dict[str, np.ndarray]:
    """The 2.5%, 50% and 97.5% quantiles of many runs' wealth, day by day."""
    return {f"wealth_q{q:g}": np.percentile(wealth, q, axis=1) for q in (2.5, 50.0, 97.5)}


def plot_random_band(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Agents' wealth (mean, 95% CI over seeds) against the random nulls' 95% bands."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    for name in select_agents(ctx, plot):
        a = ctx.agents[name]
        if a.type in _NULLS:
            steps, lo = curve_matrix(ctx.curves, name, "wealth_q2.5")
            _, hi = curve_matrix(ctx.curves, name, "wealth_q97.5")
            _, med = curve_matrix(ctx.curves, name, "wealth_q50")
            if lo.size:
                d = dates_of(steps)
                grey = "grey" if a.type == "random" else "tan"
                label = _NULLS[a.type]
                ax.fill_between(
                    d,
                    lo.min(axis=0),
                    hi.max(axis=0),
                    color=grey,
                    alpha=0.25,
                    label=f"{label}, 95% band",
                )
                ax.plot(d, med.mean(axis=0), color=grey, lw=1, label=f"{label}, median")
            continue
        steps, y = curve_matrix(ctx.curves, name, "wealth")
        if y.size == 0:
            continue
        style = "--" if a.type in _BASELINES else "-"
        label = name + (" (look-ahead oracle)" if a.type == _BASELINES[1] else "")
        band_curve(ax, dates_of(steps), y, color=colors[name], label=label, ls=style, lw=1.3)
    ax.set_yscale("log")
    ax.set_ylabel("wealth (log scale, start = 1, after costs)")
    ax.set_title(plot.title or "cumulative wealth against random pickers")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_pick_frequency(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """How often an agent picks each stock over time (share of days per window, over seeds).

    Options: ``window`` in trading days (default 63, about a quarter).
    """
    names = [
        n for n in select_agents(ctx, plot) if ctx.agents[n].type not in (*_BASELINES, *_NULLS)
    ]
    name = names[0] if names else None
    mine = ctx.curves[ctx.curves["agent"] == name]
    sub = mine[mine["metric"].str.startswith("pick:")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if sub.empty:
        ax.text(0.5, 0.5, "no pick data", ha="center", transform=ax.transAxes)
        return fig
    wide = sub.pivot_table(index="step", columns="metric", values="value", aggfunc="mean")
    window = int(plot.options.get("window", 63))
    binned = wide.groupby(np.arange(len(wide)) // window).mean()
    starts = dates_of(wide.index.to_numpy()[::window])
    im = ax.imshow(
        binned.T.to_numpy(), aspect="auto", cmap="viridis", vmin=0, interpolation="nearest"
    )
    ax.set_yticks(
        range(len(binned.columns)), [c.split(":", 1)[1] for c in binned.columns], fontsize=7
    )
    ticks = np.linspace(0, len(starts) - 1, min(8, len(starts))).astype(int)
    ax.set_xticks(ticks, [str(starts[i].date()) for i in ticks], rotation=30, fontsize=7)
    fig.colorbar(im, ax=ax, label=f"share of picks per {window}-day window")
    ax.set_title(plot.title or f"picks of {name} over time")
    fig.tight_layout()
    return fig


BanditStocks.plots = {"random_band": plot_random_band, "pick_frequency": plot_pick_frequency}
register(BanditStocks())
