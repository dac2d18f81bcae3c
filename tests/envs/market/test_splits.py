"""Train / validation / test splits and walk-forward windows never overlap."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmml.envs.market.data import DataError
from qmml.envs.market.splits import decision_range, split_dates, walk_forward

DATES = pd.bdate_range("2010-01-01", periods=1500)


def test_split_dates_are_consecutive() -> None:
    s = split_dates(DATES, (0.6, 0.2, 0.2))
    assert s["train"] == ("2010-01-01", str(DATES[899].date()))
    assert s["val"][0] == str(DATES[900].date()) and s["test"][1] == str(DATES[-1].date())
    with pytest.raises(DataError, match="summing to 1"):
        split_dates(DATES, (0.5, 0.2, 0.2))
    with pytest.raises(DataError, match="the val period would have"):
        split_dates(DATES[:10], (0.8, 0.01, 0.19))


@settings(max_examples=60, deadline=None)
@given(
    train=st.integers(2, 400),
    val=st.integers(2, 200),
    test=st.integers(2, 200),
    extra=st.integers(0, 100),
    anchored=st.booleans(),
)
def test_walk_forward_never_overlaps(train, val, test, extra, anchored) -> None:
    if train + val + test > len(DATES):
        return
    folds = walk_forward(
        DATES,
        train_days=train,
        val_days=val,
        test_days=test,
        step_days=test + extra,
        anchored=anchored,
    )
    assert folds
    prev_test_end = None
    for f in folds:
        assert f.train[0] <= f.train[1] < f.val[0] <= f.val[1] < f.test[0] <= f.test[1]
        n_test = ((DATES >= f.test[0]) & (DATES <= f.test[1])).sum()
        assert n_test == test
        if prev_test_end is not None:
            assert f.test[0] > prev_test_end  # test periods do not overlap
            if extra == 0:  # and tile the data
                assert (
                    DATES.get_loc(pd.Timestamp(f.test[0]))
                    == DATES.get_loc(pd.Timestamp(prev_test_end)) + 1
                )
        prev_test_end = f.test[1]
        if anchored:
            assert f.train[0] == "2010-01-01"


def test_walk_forward_and_range_errors() -> None:
    with pytest.raises(DataError, match="overlap"):
        walk_forward(DATES, train_days=100, val_days=20, test_days=50, step_days=10)
    with pytest.raises(DataError, match="needs 2000 days"):
        walk_forward(DATES, train_days=1000, val_days=500, test_days=500)
    with pytest.raises(DataError, match=">= 2 days"):
        walk_forward(DATES, train_days=100, val_days=0, test_days=5)
    assert decision_range(DATES, 10, 30, "2010-03-01", None) == (
        DATES.get_loc(pd.Timestamp("2010-03-01")),
        len(DATES) - 1,
    )
    assert decision_range(DATES, 10, 30, None, None)[0] == 39
    with pytest.raises(DataError, match="no decision possible"):
        decision_range(DATES, 10, 30, "2015-10-01", None)


def test_no_decision_messages_say_what_is_needed() -> None:
    short = DATES[:40]
    # the window needs more days than there are: say how many, not just the last date
    with pytest.raises(
        DataError,
        match=r"window of 127 days after 0 warm-up days needs 128 days of data up to "
        r"2010-02-25 \(one more to trade on\), but there are 40; use a shorter window",
    ):
        decision_range(short, 0, 127, None, None, "m")
    # enough history, but the start is the last day: nothing to trade on after it
    with pytest.raises(DataError, match=r"1 day\(s\) from the start, need 2.*earlier start"):
        decision_range(short, 0, 5, str(short[-1].date()), None, "m")
    with pytest.raises(DataError, match=r"^start 'notadate' is not a date; use YYYY-MM-DD$"):
        decision_range(short, 0, 5, "notadate", None, "m")
