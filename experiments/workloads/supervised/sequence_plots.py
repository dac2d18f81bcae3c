"""Plot kinds of ``sequence-basics``, drawn from stored curves only.

- ``horizon_errors``: held-out MSE against the horizon (log-log), mean over seeds with a 95%
  band, direct forecasts (``mse``, solid) and free-running ones (``mse_free``, dashed), with
  the generator's noise floor (from the spec's ``env``) in black.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from qmml.experiments.figures import agent_colors, band_curve, curve_matrix, select_agents
from qmml.experiments.spec import PlotSpec
from qmml.experiments.workload import PlotContext

__all__ = ["SEQUENCE_PLOTS", "plot_horizon_errors"]


def plot_horizon_errors(ctx: PlotContext, plot: PlotSpec) -> Figure:
    """MSE against horizon per agent; option ``mode``: ``both`` (default), ``direct``,
    ``free``."""
    from qmml.experiments.workloads.supervised.sequences import SeriesSection, noise_floor

    mode = plot.options.get("mode", "both")
    env = SeriesSection.model_validate(ctx.spec.env)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    colors = agent_colors(list(ctx.agents), {n: a.group for n, a in ctx.agents.items()})
    metrics = {"both": ("mse", "mse_free"), "direct": ("mse",), "free": ("mse_free",)}[mode]
    for name in select_agents(ctx, plot):
        for metric in metrics:
            steps, y = curve_matrix(ctx.curves, name, metric)
            if y.size == 0:
                continue
            free = metric == "mse_free"
            label = f"{name} ({'free' if free else 'direct'}, n={y.shape[0]})"
            marker: dict[str, Any] = {} if free else {"marker": "o", "ms": 3}
            band_curve(
                ax, steps, y, color=colors[name], label=label, ls="--" if free else "-", **marker
            )
    h = np.arange(1, max(env.horizons) + 1)
    ax.plot(h, [noise_floor(env, int(k)) for k in h], "k:", lw=1.5, label="noise floor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon (steps ahead)")
    ax.set_ylabel("held-out MSE")
    ax.set_title(plot.title or "Error against horizon")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


SEQUENCE_PLOTS = {"horizon_errors": plot_horizon_errors}
