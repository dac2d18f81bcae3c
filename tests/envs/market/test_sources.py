"""The one data layer: every source behind ``load_market``; data.py imports nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmml.envs.market import data as mdata
from qmml.envs.market.data import DataError, parse_date
from qmml.envs.market.sources import SOURCES, load_market


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"start": "notadate"}, r"^start 'notadate' is not a date; use YYYY-MM-DD$"),
        ({"end": "2020-13-45"}, r"^end '2020-13-45' is not a date; use YYYY-MM-DD$"),
    ],
)
def test_unparsable_range_is_a_one_line_data_error(kw: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_market("stocks20", tickers=["AAPL"], **kw)


def test_parse_date_rejects_numbers_and_accepts_dates() -> None:
    # pandas would read 20200101 as nanoseconds after 1970
    with pytest.raises(DataError, match=r"--start 20200101 is not a date"):
        parse_date(20200101, "--start")
    assert parse_date("2020-01-31") == pd.Timestamp("2020-01-31")
    closes = load_market("stocks20", tickers=["AAPL"], start="2020-01-02", end="2020-01-31")
    assert closes.dates[0] == pd.Timestamp("2020-01-02") and closes.n_days == 21


def test_user_closes_with_yyyymmdd_dates(tmp_path: Path) -> None:
    f = tmp_path / "closes.csv"
    f.write_text("Date,AAA,BBB\n20200102,10,20\n20200103,11,21\n20200106,12,19\n")
    closes = load_market(str(f)).closes()
    assert str(closes.index[0].date()) == "2020-01-02"  # not 1970-01-01 plus nanoseconds
    assert list(closes.columns) == ["AAA", "BBB"]


def test_closes_frame_of_the_bundled_stocks() -> None:
    df = load_market("stocks20").closes()
    assert df.shape == (8313, 20) and df.index.name == "Date"
    assert str(df.index[0].date()) == "1990-01-02" and str(df.index[-1].date()) == "2022-12-28"
    assert (df > 0).all().all() and (df.dtypes == np.float64).all()


def test_synthetic_source_is_seeded() -> None:
    a = load_market("synthetic", tickers=["X", "Y"], seed=3, n_days=50)
    b = load_market("synthetic", tickers=["X", "Y"], seed=3, n_days=50)
    assert a.tickers == ("X", "Y") and a.n_days == 50
    np.testing.assert_array_equal(a.close, b.close)
    assert "synthetic" in SOURCES


def test_unknown_source_names_every_source() -> None:
    with pytest.raises(DataError, match=r"unknown data source 'yahooo'.*did you mean 'yahoo'"):
        load_market("yahooo")


def test_data_module_is_the_bottom() -> None:
    tree = ast.parse(Path(mdata.__file__).read_text())
    ours = [
        n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("qmml")
    ]
    ours += [
        a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for a in n.names
        if a.name.startswith("qmml")
    ]
    assert ours == []
