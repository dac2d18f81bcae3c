"""The bundled close-price loader: dates a user types are checked, not passed to pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from qmml.envs.datasets import DataError, load_closes, load_stock_closes, parse_date


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"start": "notadate"}, r"^start 'notadate' is not a date; use YYYY-MM-DD$"),
        ({"end": "2020-13-45"}, r"^end '2020-13-45' is not a date; use YYYY-MM-DD$"),
    ],
)
def test_unparsable_range_is_a_one_line_data_error(kw: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_closes(None, ["AAPL"], **kw)


def test_parse_date_rejects_numbers_and_accepts_dates() -> None:
    # pandas would read 20200101 as nanoseconds after 1970
    with pytest.raises(DataError, match=r"--start 20200101 is not a date"):
        parse_date(20200101, "--start")
    assert parse_date("2020-01-31") == pd.Timestamp("2020-01-31")
    closes = load_stock_closes(["AAPL"], "2020-01-02", "2020-01-31")
    assert closes.index[0] == pd.Timestamp("2020-01-02") and len(closes) == 21


def test_user_closes_with_yyyymmdd_dates(tmp_path) -> None:
    f = tmp_path / "closes.csv"
    f.write_text("Date,AAA,BBB\n20200102,10,20\n20200103,11,21\n20200106,12,19\n")
    closes = load_closes(str(f), None, None, None)
    assert str(closes.index[0].date()) == "2020-01-02"  # not 1970-01-01 plus nanoseconds
    assert list(closes.columns) == ["AAA", "BBB"]
