"""Drawing an episode: price with trades, positions and the equity curve (matplotlib)."""

from __future__ import annotations

from typing import cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

__all__ = ["episode_frame"]


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
    # every raster backend (Agg, TkAgg, QtAgg, ...) draws on an Agg canvas
    canvas = cast(FigureCanvasAgg, fig.canvas)
    frame = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return frame
