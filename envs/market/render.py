"""Drawing an episode: price with trades, positions and the equity curve (matplotlib)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # frames are arrays; never open a window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["episode_frame", "grid_heatmap"]


def episode_frame(
    dates: np.ndarray,
    close: np.ndarray,
    equity: np.ndarray,
    weights: np.ndarray,
    buys: np.ndarray,
    sells: np.ndarray,
    tickers: tuple[str, ...],
    title: str = "",
) -> np.ndarray:
    """An RGB image (H, W, 3) uint8 of one episode so far.

    Args:
        dates: (K,) dates of the bars shown.
        close: (K, N) closes; the first asset is drawn with its trades.
        equity: (K,) equity after each bar.
        weights: (K, N) portfolio weights after each bar.
        buys, sells: (K,) bools: the first asset was bought / sold at that bar.
        tickers: asset names.
        title: figure title.
    """
    fig, axes = plt.subplots(
        3, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3, 2]}
    )
    ax = axes[0]
    ax.plot(dates, close[:, 0], color="0.3", lw=1, label=tickers[0])
    ax.scatter(
        dates[buys], close[buys, 0], marker="^", color="tab:green", s=30, label="buy", zorder=3
    )
    ax.scatter(
        dates[sells], close[sells, 0], marker="v", color="tab:red", s=30, label="sell", zorder=3
    )
    ax.set_ylabel("price")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=9)
    for i, t in enumerate(tickers[:8]):
        axes[1].step(dates, weights[:, i], where="post", lw=1, label=t)
    axes[1].axhline(0.0, color="k", lw=0.5)
    axes[1].set_ylabel("weight")
    if len(tickers) > 1:
        axes[1].legend(fontsize=6, ncol=4, loc="upper left")
    axes[2].plot(dates, equity, color="tab:blue", lw=1.2)
    axes[2].set_ylabel("equity")
    for a in axes:
        a.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.canvas.draw()
    frame = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return frame


def grid_heatmap(
    table: pd.DataFrame, x: str, y: str, metric: str = "sharpe_ratio", title: str = ""
) -> Figure:
    """A heatmap of ``metric`` over a two-parameter grid (the table of
    :func:`envs.market.backtest.backtest_grid`); returns the matplotlib Figure.

    Raises:
        ValueError: ``x``, ``y`` or ``metric`` is not a column of the table.
    """
    for col in (x, y, metric):
        if col not in table.columns:
            raise ValueError(
                f"{col!r} is not a column of the grid table; columns: "
                f"{', '.join(map(str, table.columns))}"
            )
    grid = table.pivot_table(index=y, columns=x, values=metric, dropna=False)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    if not np.isfinite(grid.to_numpy()).any():  # e.g. no trades in a short period: no Sharpe
        ax.text(0.5, 0.5, f"no finite {metric} on this grid", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    im = ax.imshow(grid.to_numpy(), cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (i, j), v in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(v):  # dark text on the bright end of the colour map, white elsewhere
            r, g, b, _ = im.cmap(im.norm(v))
            ink = "k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w"
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=ink)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_title(title or f"{metric} over {x} x {y}")
    fig.tight_layout()
    return fig
