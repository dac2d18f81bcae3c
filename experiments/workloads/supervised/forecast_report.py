"""The report side of ``lstm-forecast``: notes, the finding, tables and the equity plot, all
read from stored results (a report rebuilds without re-running anything).

"Beats the zero forecast" means: in every seed the Diebold-Mariano test (squared loss,
two-sided, HLN-corrected; the forecast more accurate) rejects at 5%. "Beats buy-and-hold"
means: in every seed the 95% block-bootstrap interval over days of the Sharpe-ratio
difference lies above zero. Anything else is reported as no detectable difference.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, curve_matrix, date_axis, select_agents
from qmml.experiments.spec import PlotSpec
from qmml.experiments.stats import bootstrap_mean
from qmml.experiments.workload import PlotContext

__all__ = ["PLOTS", "findings", "notes", "plot_equity", "tables"]


def _env(ctx: PlotContext, name: str) -> Any:
    from qmml.experiments.workloads.supervised.forecasting import ForecastSection

    return ForecastSection.model_validate({**ctx.spec.env, **ctx.agents[name].env})


def _leaks(ctx: PlotContext, name: str) -> frozenset[str]:
    return _env(ctx, name).leak_set()


def _vals(ctx: PlotContext, metric: str, name: str) -> np.ndarray:
    return np.asarray(ctx.scalar_values(metric, name), dtype=np.float64)


def _ci(ctx: PlotContext, metric: str, name: str, fmt: str = ".4g") -> str:
    ci = bootstrap_mean(_vals(ctx, metric, name))
    if ci.n == 0:
        return "—"
    if ci.n == 1 or ci.low == ci.high:
        return f"{ci.estimate:{fmt}}"
    return f"{ci.estimate:{fmt}} [{ci.low:{fmt}}, {ci.high:{fmt}}]"


def _mean(ctx: PlotContext, metric: str, name: str) -> float:
    v = _vals(ctx, metric, name)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _all(ctx: PlotContext, name: str, test: Any, *metrics: str) -> bool:
    cols = [_vals(ctx, m, name) for m in metrics]
    if not cols[0].size or any(len(c) != len(cols[0]) for c in cols):
        return False
    return bool(all(test(*row) for row in zip(*cols, strict=True)))


def notes(ctx: PlotContext) -> list[str]:
    """Settings and how to read the metrics."""
    first = next(iter(ctx.agents))
    env = _env(ctx, first)
    kind = "expanding" if env.expanding else "rolling"
    out = [
        f"Data {env.data}{' ' + ','.join(env.tickers) if env.tickers else ''}; target: the "
        f"{env.horizon}-day log return from the close of day t; {env.window} daily log-return "
        f"lags as inputs. Walk-forward ({kind}): train {env.train_days} / validation "
        f"{env.val_days} / test {env.test_days} days"
        + (f", the last {env.max_folds} fold(s)" if env.max_folds else "")
        + "; test blocks never overlap training or validation, scalers are fitted on each "
        "training block alone, networks keep their best validation checkpoint.",
        "MSE ratio: MSE / MSE of the zero-return forecast (< 1 beats it); OOS R² = 1 - ratio. "
        "Directional accuracy is compared with the always-up rate (the share of up days). DM: "
        "Diebold-Mariano against the zero forecast (negative = more accurate); PT: "
        "Pesaran-Timmermann for direction (one-sided). CIs are over seeds (network weights and "
        "batch order); the test statistics' p-values are over days.",
        f"Trading: sign{'' if env.position == 'sign' else ' / ' + env.position} of the "
        f"forecast at each close, {'long/short' if env.short else 'long/flat'}, filled at "
        f"that close, {env.cost_bps:g} bps per side, beside buy-and-hold over the same days. "
        "Sharpe intervals: stationary block bootstrap over days (mean block 21 days).",
    ]
    leaky = [n for n in ctx.agents if _leaks(ctx, n)]
    if leaky:
        out.append(
            "LEAKY agents ("
            + ", ".join(f"{n}: {'+'.join(sorted(_leaks(ctx, n)))}" for n in leaky)
            + ") repeat the notebook's mistakes: scaler fitted on all data, scored on the "
            "training rows, price levels as inputs and targets. Their 'apparent R²' is the "
            "R² the notebook printed; in-sample agents are not traded."
        )
    if ctx.spec.seeds < 2:
        out.append("One seed: the intervals over seeds collapse to points.")
    return out


def findings(ctx: PlotContext) -> list[str]:
    """Whether any model beats zero (DM at 5%), and its trade buy-and-hold after costs."""
    honest = [n for n in ctx.agents if not _leaks(ctx, n)]
    models = [n for n in honest if ctx.agents[n].type != "zero"]
    out: list[str] = []
    if models:
        beats = [
            n for n in models if _all(ctx, n, lambda s, p: s < 0 and p < 0.05, "dm_stat", "dm_p")
        ]
        worse = [
            n for n in models if _all(ctx, n, lambda s, p: s > 0 and p < 0.05, "dm_stat", "dm_p")
        ]
        best = min(models, key=lambda n: _mean(ctx, "mse_ratio", n))
        head = (
            f"{', '.join(beats)} beat{'s' if len(beats) == 1 else ''} the zero-return "
            "forecast at 5% (Diebold-Mariano, every seed)"
            if beats
            else "No model beats the zero-return forecast at 5% (Diebold-Mariano)"
        )
        out.append(
            f"{head}. Lowest MSE ratio: {best} {_ci(ctx, 'mse_ratio', best)} "
            f"(OOS R² {100 * (1 - _mean(ctx, 'mse_ratio', best)):+.2f}%, DM p "
            f"{_mean(ctx, 'dm_p', best):.2g})"
            + (f"; significantly worse than zero: {', '.join(worse)}" if worse else "")
            + "."
        )
        dirs = [n for n in models if _all(ctx, n, lambda p: p < 0.05, "pt_p")]
        up = _mean(ctx, "up_rate", models[0])
        best_dir = max(models, key=lambda n: _mean(ctx, "dir_acc", n))
        out.append(
            f"Direction: the always-up rate is {100 * up:.1f}%; best directional accuracy "
            f"{best_dir} {100 * _mean(ctx, 'dir_acc', best_dir):.1f}%; "
            + (
                f"Pesaran-Timmermann rejects chance at 5% in every seed for {', '.join(dirs)}."
                if dirs
                else "Pesaran-Timmermann finds no directional skill at 5% for any model."
            )
        )
    traded = [n for n in honest if _vals(ctx, "sharpe_ratio", n).size]
    if traded:
        ref = traded[0]
        bh = _mean(ctx, "sharpe_bh", ref)
        days = int(_mean(ctx, "trade_days", ref))
        win = [n for n in traded if _all(ctx, n, lambda lo: lo > 0, "sharpe_diff_low")]
        lose = [n for n in traded if _all(ctx, n, lambda hi: hi < 0, "sharpe_diff_high")]
        top = max(traded, key=lambda n: np.nan_to_num(_mean(ctx, "sharpe_ratio", n), nan=-np.inf))
        cost = _env(ctx, ref).cost_bps
        head = (
            f"Trading {', '.join(win)} beats buy-and-hold after {cost:g} bps costs (interval "
            "over days of the Sharpe difference above zero, every seed)"
            if win
            else f"No trading signal beats buy-and-hold after {cost:g} bps costs"
        )
        out.append(
            f"{head}: over {days} test days buy-and-hold has Sharpe {bh:.2f}; best signal "
            f"{top} {_mean(ctx, 'sharpe_ratio', top):.2f} (difference "
            f"{_mean(ctx, 'sharpe_minus_bh', top):+.2f} [{_mean(ctx, 'sharpe_diff_low', top):+.2f}"
            f", {_mean(ctx, 'sharpe_diff_high', top):+.2f}])"
            + (f"; significantly worse: {', '.join(lose)}" if lose else "")
            + "."
        )
    for n in (n for n in ctx.agents if _leaks(ctx, n)):
        twin = next((m for m in honest if ctx.agents[m].type == ctx.agents[n].type), None)
        vs = (
            f" against {_mean(ctx, 'apparent_r2', twin):.3f} for {twin} done honestly"
            if twin
            else ""
        )
        out.append(
            f"{n} ({'+'.join(sorted(_leaks(ctx, n)))}) shows an apparent R² of "
            f"{_mean(ctx, 'apparent_r2', n):.3f}{vs}; in "
            f"return units its R² against the zero forecast is "
            f"{100 * _mean(ctx, 'oos_r2', n):+.2f}%."
        )
    return out


def tables(ctx: PlotContext) -> list[tuple[str, pd.DataFrame]]:
    """Forecast accuracy and trading tables, mean over seeds [95% CI]."""
    acc, trade = [], []
    for n in ctx.agents:
        leak = "+".join(sorted(_leaks(ctx, n))) or "honest"
        acc.append(
            {
                "agent": n,
                "setup": leak,
                "MSE ratio vs zero": _ci(ctx, "mse_ratio", n, ".5f"),
                "OOS R² (%)": f"{100 * (1 - _mean(ctx, 'mse_ratio', n)):+.3f}",
                "apparent R²": _ci(ctx, "apparent_r2", n, ".4f"),
                "dir. accuracy": _ci(ctx, "dir_acc", n, ".4f"),
                "always-up": f"{_mean(ctx, 'up_rate', n):.4f}",
                "DM stat": _ci(ctx, "dm_stat", n, ".2f"),
                "DM p": _ci(ctx, "dm_p", n, ".3f"),
                "PT p": _ci(ctx, "pt_p", n, ".3f"),
            }
        )
        if _vals(ctx, "sharpe_ratio", n).size:
            trade.append(
                {
                    "agent": n,
                    "Sharpe": f"{_mean(ctx, 'sharpe_ratio', n):.3f} "
                    f"[{_mean(ctx, 'sharpe_low', n):.2f}, {_mean(ctx, 'sharpe_high', n):.2f}]",
                    "buy-and-hold": f"{_mean(ctx, 'sharpe_bh', n):.3f}",
                    "minus buy-and-hold": f"{_mean(ctx, 'sharpe_minus_bh', n):+.3f} "
                    f"[{_mean(ctx, 'sharpe_diff_low', n):+.2f}, "
                    f"{_mean(ctx, 'sharpe_diff_high', n):+.2f}]",
                    "total return %": f"{_mean(ctx, 'total_return_pct', n):.1f}",
                    "buy-and-hold %": f"{_mean(ctx, 'total_return_bh_pct', n):.1f}",
                    "costs % of capital": f"{_mean(ctx, 'cost_drag_pct', n):.1f}",
                    "turnover / yr": f"{_mean(ctx, 'turnover', n):.1f}",
                }
            )
    out = [("Out-of-sample forecast accuracy: mean over seeds [95% CI]", pd.DataFrame(acc))]
    if trade:
        out.append(
            (
                "Trading the forecasts after costs: Sharpe ratio [95% block-bootstrap interval "
                "over days, averaged over seeds] and the paired difference from buy-and-hold",
                pd.DataFrame(trade),
            )
        )
    return out


def plot_equity(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """Equity of each agent's signal (first seed) and buy-and-hold over the test days."""
    fig, ax = plt.subplots(figsize=(8, 4.4))
    colors = agent_colors(list(ctx.agents))
    bh_done = False
    for name in select_agents(ctx, plot):
        steps, y = curve_matrix(ctx.curves, name, "equity")
        if y.size == 0:
            continue
        dates = date_axis(ax, steps)
        ax.plot(dates, y[0] / y[0, 0], color=colors[name], lw=1, label=name)
        if not bh_done:
            _, b = curve_matrix(ctx.curves, name, "equity_bh")
            ax.plot(dates, b[0] / b[0, 0], "k--", lw=1.2, label="buy-and-hold")
            bh_done = True
    ax.set_yscale("log")
    ax.set_ylabel("growth of 1 (log scale, after costs)")
    ax.set_title(plot.title or "Trading the forecasts")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


PLOTS = {"equity": plot_equity}
