"""Market data: CSV layouts, every validation error, bundled data, the Yahoo cache offline."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmml.envs.market import data as mdata
from qmml.envs.market import yahoo
from qmml.envs.market.data import DataError, Market, market_from_frames
from qmml.envs.market.sources import load_bundled, load_csv, load_market

OHLCV = """Date,Open,High,Low,Close,Volume
2020-01-02,10,11,9,10.5,100
2020-01-03,10.5,12,10,11,200
2020-01-06,11,11.5,10.5,11.2,150
2020-01-07,11.2,11.4,10.8,11.0,120
"""


def _write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_single_asset_ohlcv(tmp_path: Path) -> None:
    m = load_csv(_write(tmp_path, OHLCV, "SPY.csv"))
    assert m.tickers == ("SPY",) and m.n_days == 4 and m.has_open
    assert m.close[:, 0].tolist() == [10.5, 11, 11.2, 11.0]
    assert m.open[1, 0] == 10.5 and m.volume[2, 0] == 150
    named = load_csv(_write(tmp_path, OHLCV), tickers=["XYZ"], start="2020-01-03", end="2020-01-06")
    assert named.tickers == ("XYZ",) and named.n_days == 2


def test_adj_close_used_when_no_close(tmp_path: Path) -> None:
    m = load_csv(_write(tmp_path, "date,adj close\n2020-01-02,5\n2020-01-03,6\n"))
    assert m.close[:, 0].tolist() == [5.0, 6.0] and not m.has_open


def test_wide_close_only_and_gzip(tmp_path: Path) -> None:
    text = "Date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,1.5,2.5\n2020-01-06,2,3\n"
    p = tmp_path / "wide.csv.gz"
    p.write_bytes(gzip.compress(text.encode()))
    m = load_csv(p, tickers=["BBB"])
    assert m.tickers == ("BBB",) and m.close[:, 0].tolist() == [2, 2.5, 3]
    assert m.open is None


def test_long_format_many_tickers(tmp_path: Path) -> None:
    text = (
        "Date,Ticker,Open,Close\n2020-01-02,A,1,1.1\n2020-01-02,B,2,2.1\n"
        "2020-01-03,A,1.1,1.2\n2020-01-03,B,2.1,2.2\n"
    )
    m = load_csv(_write(tmp_path, text))
    assert m.tickers == ("A", "B")
    np.testing.assert_array_equal(m.close, [[1.1, 2.1], [1.2, 2.2]])
    np.testing.assert_array_equal(m.open, [[1, 2], [1.1, 2.1]])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Day,Close\n2020-01-02,1\n2020-01-03,2\n", "no date column"),
        ("Date,Open,High\n2020-01-02,1,2\n2020-01-03,1,2\n", "missing column 'Close'"),
        ("Date,Close\n2020-01-02,1\nnot-a-date,2\n", "unparsable date 'not-a-date'"),
        ("Date,Close\n2020-01-02,1\n2020-01-02,2\n2020-01-03,2\n", "duplicate date 2020-01-02"),
        ("Date,Close\n2020-01-03,1\n2020-01-02,2\n", "not sorted"),
        ("Date,Close\n2020-01-02,1\n2020-01-03,0\n", "non-positive close"),
        ("Date,Close\n2020-01-02,1\n2020-01-03,-2\n", "non-positive close"),
        ("Date,Close\n2020-01-02,1\n2020-01-03,abc\n", "non-numeric"),
        ("Date,Close\n2020-01-02,1\n2020-01-03,\n2020-01-06,2\n", "1 missing close value"),
        (
            "Date,Open,High,Low,Close\n2020-01-02,1,0.5,2,1\n2020-01-03,1,2,0.5,1\n",
            "high below low",
        ),
        ("Date,Open,High,Close\n2020-01-02,1,2,1\n2020-01-03,1,2,1\n", "come together"),
        ("Date,Close,Volume\n2020-01-02,1,-5\n2020-01-03,1,5\n", "negative volume"),
        (
            "Date,Ticker,Close\n2020-01-02,A,1\n2020-01-02,A,2\n",
            "duplicate date 2020-01-02 for 'A'",
        ),
        ("Date,Close\n2020-01-02,1\n", "need at least 2"),
    ],
)
def test_validation_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_csv(_write(tmp_path, text))


def test_gaps_reported_then_filled_only_when_asked(tmp_path: Path) -> None:
    text = "Date,A,B\n2020-01-02,1,2\n2020-01-03,,2.5\n2020-01-06,2,\n2020-01-07,3,4\n"
    p = _write(tmp_path, text)
    with pytest.raises(
        DataError,
        match=r"2 missing close value\(s\), first for 'A' on "
        r"2020-01-03; pass fill='ffill'",
    ):
        load_csv(p)
    m = load_csv(p, fill="ffill")
    np.testing.assert_array_equal(m.close, [[1, 2], [1, 2.5], [2, 2.5], [3, 4]])
    lead = _write(tmp_path, "Date,A\n2020-01-02,\n2020-01-03,1\n", "lead.csv")
    with pytest.raises(DataError, match="forward-fill cannot invent a first price"):
        load_csv(lead, fill="ffill")
    with pytest.raises(DataError, match="fill='bfill'"):
        load_csv(p, fill="bfill")


def test_file_ticker_and_range_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_csv(tmp_path / "missing.csv")
    p = _write(tmp_path, "Date,AAPL,MSFT\n2020-01-02,1,2\n2020-01-03,1,2\n2020-01-06,1,2\n")
    with pytest.raises(DataError, match=r"unknown ticker 'APPL'.*did you mean 'AAPL'"):
        load_csv(p, tickers=["APPL"])
    with pytest.raises(DataError, match="tickers repeated"):
        load_csv(p, tickers=["AAPL", "AAPL"])
    with pytest.raises(DataError, match="fewer than 2 days"):
        load_csv(p, start="2021-01-01")
    one = _write(tmp_path, OHLCV, "one.csv")
    with pytest.raises(DataError, match="holds one asset but 2 tickers"):
        load_csv(one, tickers=["A", "B"])
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage\x00")
    with pytest.raises(DataError, match="cannot read as CSV"):
        load_csv(bad)


def test_market_object_validation() -> None:
    dates = pd.bdate_range("2020-01-01", periods=3)
    with pytest.raises(DataError, match="shape"):
        Market(dates, ("A",), np.ones((3, 2)))
    with pytest.raises(DataError, match="finite and > 0"):
        Market(dates, ("A",), np.array([[1.0], [np.nan], [1.0]]))
    with pytest.raises(DataError, match="strictly increasing"):
        Market(dates[::-1], ("A",), np.ones((3, 1)))
    m = Market(dates, ("A",), np.ones((3, 1)))
    with pytest.raises(ValueError, match="read-only"):
        m.close[0, 0] = 2.0  # shared by envs: prices cannot be edited in place
    with pytest.raises(DataError, match="no close prices"):
        market_from_frames({"open": pd.DataFrame({"A": [1.0, 2.0]}, index=dates[:2])})


def test_bundled_sets() -> None:
    spx = load_bundled("sp500-ohlcv")
    assert spx.n_days == 5031 and spx.has_open and spx.tickers == ("SP500",)
    assert str(spx.dates[0].date()) == "1999-01-04" and str(spx.dates[-1].date()) == "2018-12-31"
    assert (spx.high >= np.maximum(spx.open, spx.close) - 1e-9).all()
    ndx = load_market("nasdaq-ohlcv", start="2010-01-01", end="2010-12-31")
    assert ndx.n_days == 252 and ndx.tickers == ("NASDAQ",)
    stocks = load_market("stocks20", tickers=["AAPL", "MSFT"], start="2020-01-01", end="2020-12-31")
    assert stocks.tickers == ("AAPL", "MSFT") and not stocks.has_open
    assert load_market("sp500", start="2020-01-01", end="2020-02-01").tickers == ("SP500",)
    with pytest.raises(DataError, match="did you mean 'sp500-ohlcv'"):
        load_market("sp500-ohlc")
    with pytest.raises(DataError, match="unknown ticker"):
        load_bundled("nasdaq-ohlcv", tickers=["AAPL"])
    with pytest.raises(DataError, match="needs tickers"):
        load_market("yahoo")


def test_package_does_not_import_arch() -> None:
    root = Path(mdata.__file__).parents[1]
    for py in root.rglob("*.py"):
        assert "import arch" not in py.read_text() and "from arch" not in py.read_text()


def _yahoo_frame(tickers: list[str]) -> pd.DataFrame:
    idx = pd.DatetimeIndex(["2021-01-04", "2021-01-05", "2021-01-06"], name="Date")
    cols = pd.MultiIndex.from_product(
        [["Close", "High", "Low", "Open", "Volume"], tickers], names=["Price", "Ticker"]
    )
    vals = (
        np.tile(np.array([[10.0, 11.0, 9.0, 10.0, 100.0]]).repeat(len(tickers), axis=1), (3, 1))
        * np.array([1.0, 1.1, 1.2])[:, None]
    )
    return pd.DataFrame(vals, index=idx, columns=cols)


def test_yahoo_downloads_once_then_reads_cache(tmp_path: Path, monkeypatch) -> None:
    import yfinance

    calls = []

    def fake(tickers, **kw):
        calls.append((list(tickers), kw["start"], kw["end"]))
        return _yahoo_frame(list(tickers))

    monkeypatch.setattr(yfinance, "download", fake)
    m = yahoo.download(["AAA", "BBB"], start="2021-01-04", end="2021-01-06", cache=tmp_path)
    assert m.tickers == ("AAA", "BBB") and m.n_days == 3 and m.has_open
    assert calls == [(["AAA", "BBB"], "2021-01-04", "2021-01-07")]  # yfinance's end: exclusive
    assert yahoo.cached_files(tmp_path) == ["AAA-BBB__2021-01-04__2021-01-06"]

    def offline(*a, **kw):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(yfinance, "download", offline)
    again = yahoo.download(["AAA", "BBB"], start="2021-01-04", end="2021-01-06", cache=tmp_path)
    np.testing.assert_array_equal(again.close, m.close)  # cache hit: the network is not asked
    assert len(calls) == 1


def test_yahoo_offline_error_names_cached_alternatives(tmp_path: Path, monkeypatch) -> None:
    import yfinance

    monkeypatch.setattr(yfinance, "download", lambda tickers, **kw: _yahoo_frame(list(tickers)))
    yahoo.download(["AAA"], start="2021-01-04", end="2021-01-06", cache=tmp_path)

    def offline(*a, **kw):
        raise OSError("Could not resolve host: query1.finance.yahoo.com")

    monkeypatch.setattr(yfinance, "download", offline)
    with pytest.raises(
        DataError,
        match=r"cannot download MSFT.*no network.*cached downloads in "
        r".*AAA__2021-01-04__2021-01-06.*bundled data set",
    ):
        yahoo.download(["MSFT"], cache=tmp_path)
    monkeypatch.setattr(yfinance, "download", lambda *a, **kw: pd.DataFrame())
    with pytest.raises(DataError, match="Yahoo returned no rows"):
        yahoo.download(["MSFT"], cache=tmp_path / "empty")
    with pytest.raises(DataError, match="nothing cached"):
        yahoo.download(["MSFT"], cache=tmp_path / "empty")
    monkeypatch.setenv("QMML_CACHE", str(tmp_path / "env"))
    assert yahoo.cache_dir() == tmp_path / "env" / "yahoo"


GAP = (
    "Date,Ticker,Open,High,Low,Close,Volume\n"
    "2020-01-02,A,10,11,9,10,100\n2020-01-02,B,20,21,19,20,100\n"
    "2020-01-03,A,10,11,9,10.5,100\n2020-01-03,B,25,26.5,24,26,100\n"
    "2020-01-06,A,10.5,11,10,10.8,100\n"  # B's exchange is closed on 2020-01-06
    "2020-01-07,A,10.8,11,10,10.9,100\n2020-01-07,B,26,27,25,26.5,100\n"
)


def test_ffill_gap_day_is_a_flat_bar_at_the_last_close(tmp_path: Path) -> None:
    m = load_csv(_write(tmp_path, GAP), fill="ffill")
    b, gap = m.tickers.index("B"), 2
    # never the previous day's open (25), high or low: prices seen before the last close
    for field in ("open", "high", "low", "close"):
        assert getattr(m, field)[gap, b] == 26.0, field
    assert m.volume[gap, b] == 0.0  # no bar, no trading
    np.testing.assert_array_equal(m.open[:, 0], [10, 10, 10.5, 10.8])  # A: untouched


def test_order_before_a_gap_day_fills_at_the_carried_close(tmp_path: Path) -> None:
    from qmml.agents.strategies import BuyAndHold
    from qmml.envs.market.backtest.engine import backtest
    from qmml.envs.market.execution import ExecutionModel

    m = load_csv(_write(tmp_path, GAP), fill="ffill").select(["B"])
    # decided at the close of 2020-01-03 (26), filled at the next open: the gap day's
    res = backtest(BuyAndHold(), m, start="2020-01-03", execution=ExecutionModel(0.0))
    fill = res.fills.iloc[0]
    assert str(fill["date"].date()) == "2020-01-06" and fill["price"] == 26.0


def test_gap_fill_keeps_partial_bars_consistent() -> None:
    dates = pd.bdate_range("2020-01-01", periods=3)
    frame = lambda *v: pd.DataFrame({"A": v}, index=dates)  # noqa: E731
    m = market_from_frames(
        {
            "open": frame(10.0, np.nan, 12.0),  # the close is known: open from the last close
            "high": frame(11.0, np.nan, 13.0),
            "low": frame(9.0, np.nan, 11.0),
            "close": frame(10.5, 11.5, 12.5),
        },
        fill="ffill",
    )
    assert (m.open[1, 0], m.high[1, 0], m.low[1, 0]) == (10.5, 11.5, 10.5)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("Date,Close\n20200102,1\n20200103,2\n20200106,3\n", "2020-01-02", "2020-01-06"),
        (  # a daylight-saving change: offsets differ; the local date is kept
            "Date,Close\n2015-03-06 00:00:00-05:00,1\n2015-03-09 00:00:00-04:00,2\n"
            "2015-03-10 23:30:00-04:00,3\n",
            "2015-03-06",
            "2015-03-10",
        ),
    ],
)
def test_yyyymmdd_and_mixed_offset_dates(tmp_path: Path, text: str, first: str, last: str) -> None:
    m = load_csv(_write(tmp_path, text))
    assert m.n_days == 3 and m.dates.tz is None
    assert str(m.dates[0].date()) == first and str(m.dates[-1].date()) == last


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "Date,Close\n1577836800,1\n1577923200,2\n",
            r"'Date' holds numbers \(1577836800\).*YYYY-MM-DD",
        ),
        ("Date,Close\n20200102.5,1\n20200103,2\n", "holds numbers"),
        ("Date,Close\n20201345,1\n20201346,2\n", "unparsable date 20201345"),
        ("Date,Close\n2015-03-06 00:00:00-05:00,1\nnope,2\n", "unparsable date 'nope'"),
        (  # day first on one line, month first on the next: never read both ways
            "Date,Close\n13/01/2020,1\n01/14/2020,2\n",
            "mixes day-first .13/01/2020. and month-first .01/14/2020.",
        ),
        (  # every date reads both ways: refused, not guessed (tests/envs/market/test_misreads)
            "Date,Close\n12/01/2020,1\n01/02/2020,2\n",
            "read both day first and month first.*date_format",
        ),
        ("Date,Open,High,Low,Close,Volume\n", "no data rows"),
        (
            'Date,Close\n2020-01-02,1\n2020-01-03,"1,234.5"\n',
            r"column\(s\) Close \(e.g. '1,234.5' on line 3\)",
        ),
        ("Date,Ticker,Close\n2020-01-02,A,1\n2020-01-02,B,x\n", r"column\(s\) Close \(e.g. 'x'"),
    ],
)
def test_date_and_number_errors_name_the_column(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_csv(_write(tmp_path, text, "SPY.csv"))


def test_bad_start_end_and_open_ranges_are_one_line(tmp_path: Path) -> None:
    m = load_csv(_write(tmp_path, OHLCV))
    with pytest.raises(DataError, match=r"^date 'notadate' is not a date; use YYYY-MM-DD$"):
        m.index_of("notadate")
    with pytest.raises(DataError, match="'2020-13-45' is not a date"):
        load_csv(_write(tmp_path, OHLCV), end="2020-13-45")
    with pytest.raises(DataError, match="'notadate' is not a date"):
        load_market("stocks20", start="notadate")
    with pytest.raises(DataError, match=r"in the start of the data\.\.2020-01-01 "):
        m.slice(None, "2020-01-01")


def test_stocks20_rejects_repeated_tickers() -> None:
    with pytest.raises(DataError, match=r"tickers repeated in \['AAPL', 'AAPL'\]; list each once"):
        load_bundled("stocks20", tickers=["AAPL", "AAPL"])


def _gap_cache(tmp_path: Path) -> None:
    days = pd.bdate_range("2021-01-04", periods=4)
    rows = [
        {
            "date": d,
            "ticker": t,
            "open": 10.0 + i,
            "high": 11.0 + i,
            "low": 9.0 + i,
            "close": 10.5 + i,
            "volume": 100.0,
        }
        for t in ("SPY", "EWJ")
        for i, d in enumerate(days)
        if not (t == "EWJ" and i == 2)  # a Tokyo holiday
    ]
    tmp_path.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(tmp_path / "SPY-EWJ__first__last.parquet", index=False)


def test_yahoo_fill_reaches_the_download(tmp_path: Path, monkeypatch) -> None:
    _gap_cache(tmp_path / "yahoo")
    monkeypatch.setenv("QMML_CACHE", str(tmp_path))
    with pytest.raises(
        mdata.GapError, match=r"1 missing open.*'EWJ' on 2021-01-06; pass fill='ffill'"
    ):
        load_market("yahoo", tickers=["SPY", "EWJ"])
    m = load_market("yahoo", tickers=["SPY", "EWJ"], fill="ffill")
    assert m.n_days == 4 and m.open[2, 1] == m.close[1, 1] == 11.5
    with pytest.raises(DataError, match="end 'soon' is not a date"):
        yahoo.download(["SPY"], end="soon", cache=tmp_path)
