"""Silent misreads (robustness class 6): data that used to load as something else now loads
right or is refused with the fix: one asset's bars are never "stocks", a volume is never a
price, and dates that read both day first and month first are never guessed."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmml.envs.market.data import DataError, bar_columns
from qmml.envs.market.sources import load_csv, load_market
from qmml.envs.stock_bandit import StockPickingEnv

DAYS = pd.bdate_range("2020-01-01", periods=30)


def _bars(columns: list[str]) -> pd.DataFrame:
    base = np.linspace(10, 20, len(DAYS))
    values = {"open": base, "high": base + 1, "low": base - 1, "close": base + 0.5}
    out = {}
    for c in columns:
        key = c.lower().replace("_", " ")
        out[c] = 1e6 if "vol" in key else values.get(key, base * 0.9)
    return pd.DataFrame(out, index=pd.DatetimeIndex(DAYS, name="Date"))


OHLCV_NAMES = [
    ["Open", "High", "Low", "Close", "Volume"],
    ["open", "high", "low", "close", "adj close", "volume"],
    ["OPEN", "HIGH", "LOW", "CLOSE"],
    ["Close", "Adj_Close"],
    ["AAPL", "Volume"],
]


@pytest.mark.parametrize("columns", OHLCV_NAMES)
def test_stock_picking_env_refuses_one_assets_bars_as_stocks(columns) -> None:
    with pytest.raises(ValueError, match=r"one asset's daily bars, not one column of closes"):
        StockPickingEnv(_bars(columns))


@pytest.mark.parametrize("ticker_like", [["LOW", "KO"], ["OPEN", "PG"]])
def test_a_single_field_like_ticker_is_still_a_ticker(ticker_like) -> None:
    assert bar_columns(ticker_like) == {}
    env = StockPickingEnv(_bars(ticker_like))
    assert env.tickers == ticker_like


@pytest.mark.parametrize("columns", OHLCV_NAMES[:3])
def test_ohlcv_csv_is_one_asset_whose_close_is_close(tmp_path: Path, columns) -> None:
    path = tmp_path / "SPY.csv"
    df = _bars(columns)
    df.to_csv(path)
    m = load_market(str(path))
    assert m.tickers == ("SPY",)
    close_col = next(c for c in columns if c.lower() == "close")
    np.testing.assert_array_equal(m.closes()["SPY"].to_numpy(), df[close_col].to_numpy())


def test_wide_file_with_a_volume_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _bars(["AAPL", "MSFT", "Volume"]).to_csv(path)
    with pytest.raises(DataError, match=r"'Volume' is a volume, never a price.*drop Volume"):
        load_csv(path)


def _dates_file(tmp_path: Path, dates: list[str]) -> Path:
    path = tmp_path / "d.csv"
    rows = "".join(f"{d},{10 + i},{20 + i}\n" for i, d in enumerate(dates))
    path.write_text("Date,A,B\n" + rows)
    return path


# the 5th of every month, day first: every value also reads month first
AMBIGUOUS = [f"05/{m:02d}/2020" for m in range(1, 13)]


@pytest.mark.parametrize("sep", ["/", "."])
def test_dates_that_read_both_ways_are_refused_not_guessed(tmp_path: Path, sep) -> None:
    path = _dates_file(tmp_path, [d.replace("/", sep) for d in AMBIGUOUS])
    with pytest.raises(DataError, match=r"read both day first and month first.*date_format"):
        load_csv(path)


@pytest.mark.parametrize(
    ("date_format", "second"), [("%d/%m/%Y", "2020-02-05"), ("%m/%d/%Y", "2020-05-02")]
)
def test_date_format_decides(tmp_path: Path, date_format, second) -> None:
    m = load_csv(_dates_file(tmp_path, AMBIGUOUS), date_format=date_format)
    assert str(m.dates[1].date()) == second


@pytest.mark.parametrize(
    ("dates", "first_two"),
    [
        (["13/01/2020", "14/01/2020", "01/02/2020"], ["2020-01-13", "2020-01-14"]),
        (["01/13/2020", "01/14/2020", "02/01/2020"], ["2020-01-13", "2020-01-14"]),
    ],
)
def test_an_unambiguous_value_decides_for_every_row_with_a_warning(
    tmp_path: Path, dates, first_two
) -> None:
    with pytest.warns(UserWarning, match="set date_format to say so"):
        m = load_csv(_dates_file(tmp_path, dates))
    assert [str(d.date()) for d in m.dates[:2]] == first_two
    assert str(m.dates[2].date()) == "2020-02-01"  # read the same way as the rest


def test_iso_dates_load_without_a_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load_csv(_dates_file(tmp_path, [str(d.date()) for d in DAYS[:5]]))
    assert m.n_days == 5


def test_spec_date_format_reaches_the_loader_or_is_refused(tmp_path: Path) -> None:
    from qmml.experiments.workloads.trading.baselines import BacktestSection, TradingBaselines
    from qmml.experiments.workloads.trading.rl import TradingRLSection

    path = _dates_file(tmp_path, AMBIGUOUS)
    env = BacktestSection(data=str(path), start=None, end=None, date_format="%d/%m/%Y")
    assert str(TradingBaselines().market(env).dates[1].date()) == "2020-02-05"
    with pytest.raises(ValueError, match="date_format is not read by this experiment"):
        TradingRLSection(data=str(path), date_format="%d/%m/%Y")
