"""Report figures are readable: titles fit their figure, wide-ranging data gets a log axis,
long legends leave the data area, an empty figure is not drawn; and reports name their data."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from qmml.experiments.figures import finish_figure
from qmml.experiments.workloads.trading.section import data_provenance

LONG = (
    "Sharpe ratio over time: 95% intervals from a stationary block bootstrap of the daily "
    "returns, every strategy on the same resampled days, and the difference from buy-and-hold"
)


def test_a_long_title_is_wrapped_inside_its_figure() -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([1, 2, 3], [1, 2, 3])
    ax.set_title(LONG)
    assert finish_figure(fig) is None
    fig.canvas.draw()
    title = ax.title.get_window_extent()
    box = fig.bbox
    assert "\n" in ax.title.get_text()
    assert box.x0 <= title.x0 and title.x1 <= box.x1, (title, box)
    plt.close(fig)


def test_data_over_two_orders_of_magnitude_gets_a_log_axis() -> None:
    fig, (a, b) = plt.subplots(1, 2)
    a.bar(range(7), [12, 30, 40, 55, 80, 120, 30_776])  # one bar would hide six
    b.plot([1, 2, 3], [1.0, 1.5, 2.0])
    finish_figure(fig)
    assert a.get_yscale() == "log" and b.get_yscale() == "linear"
    plt.close(fig)


def test_a_long_legend_moves_out_of_the_data() -> None:
    fig, ax = plt.subplots()
    for i in range(8):
        ax.plot(np.arange(5), np.arange(5) + i, label=f"agent {i}")
    ax.legend()
    finish_figure(fig)
    (legend,) = [c for c in ax.get_children() if isinstance(c, matplotlib.legend.Legend)]
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1
    plt.close(fig)


def test_an_empty_figure_says_why_instead_of_being_drawn() -> None:
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "no data for metric 'train_return'", transform=ax.transAxes)
    assert finish_figure(fig) == "no data for metric 'train_return'"
    plt.close(fig)


def test_market_data_provenance_names_file_and_hash(tmp_path: Path) -> None:
    ((_, line),) = data_provenance("stocks20")
    f = Path(
        str(resources.files("qmml.envs") / "data" / "us_stocks_20_daily_close_1990_2022.csv.gz")
    )
    assert f.name in line and hashlib.sha256(f.read_bytes()).hexdigest()[:16] in line
    csv = tmp_path / "mine.csv"
    csv.write_text("Date,A\n2020-01-02,1\n")
    ((_, line),) = data_provenance(str(csv))
    assert str(csv.resolve()) in line and hashlib.sha256(csv.read_bytes()).hexdigest()[:16] in line
    assert "synthetic" in data_provenance("synthetic")[0][1]
