"""Out-of-sample periods: train / validation / test date splits and walk-forward windows.

Periods are inclusive ``(start, end)`` ISO dates of consecutive, non-overlapping trading days.
An environment limited to a period never fills, marks or rewards on a day outside it; its
observations may look back before ``start`` (past data only), which is why the first test
decision is not starved of indicator warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qmml.envs.market.data import DataError, parse_date

__all__ = ["WalkForwardWindow", "decision_range", "split_dates", "walk_forward"]


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d")


def split_dates(
    dates: pd.DatetimeIndex,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> dict[str, tuple[str, str]]:
    """Chronological train / val / test periods covering ``dates`` in the given proportions.

    Raises:
        DataError: fractions that are not positive or do not sum to 1, or a period with fewer
            than 2 days.
    """
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise DataError(
            f"split fractions {tuple(fractions)} must be three positive numbers "
            "summing to 1, e.g. (0.7, 0.15, 0.15)"
        )
    n = len(dates)
    cut1 = round(n * fractions[0])
    cut2 = round(n * (fractions[0] + fractions[1]))
    bounds = {"train": (0, cut1 - 1), "val": (cut1, cut2 - 1), "test": (cut2, n - 1)}
    for name, (lo, hi) in bounds.items():
        if hi - lo + 1 < 2:
            raise DataError(
                f"the {name} period would have {max(hi - lo + 1, 0)} day(s) of "
                f"{n}; use more data or a larger {name} fraction"
            )
    return {k: (_iso(dates[lo]), _iso(dates[hi])) for k, (lo, hi) in bounds.items()}


@dataclass(frozen=True)
class WalkForwardWindow:
    """One fold: consecutive train, validation and test periods (inclusive ISO dates)."""

    index: int
    train: tuple[str, str]
    val: tuple[str, str]
    test: tuple[str, str]


def walk_forward(
    dates: pd.DatetimeIndex,
    *,
    train_days: int,
    val_days: int,
    test_days: int,
    step_days: int | None = None,
    anchored: bool = False,
    start: str | None = None,
) -> list[WalkForwardWindow]:
    """Rolling (or anchored) walk-forward folds over ``dates``.

    Fold k trains on ``train_days`` days, validates on the next ``val_days`` and tests on the
    next ``test_days``; the next fold moves ``step_days`` (default ``test_days``) later, so
    the test periods tile the data without overlapping and stitch into one out-of-sample
    curve. ``anchored=True`` keeps every training period starting at the first day.

    Raises:
        DataError: non-positive lengths, a step shorter than the test period (test periods
            would overlap), or data too short for one fold.
    """
    step = test_days if step_days is None else step_days
    if min(train_days, val_days, test_days) < 2 or step < 1:
        raise DataError(
            f"walk-forward lengths must be >= 2 days (train={train_days}, "
            f"val={val_days}, test={test_days}) and the step >= 1"
        )
    if step < test_days:
        raise DataError(
            f"step_days={step} < test_days={test_days}: test periods would "
            "overlap; use step_days >= test_days"
        )
    first = 0 if start is None else int(dates.searchsorted(parse_date(start, "start")))
    need = train_days + val_days + test_days
    if len(dates) - first < need:
        raise DataError(
            f"walk-forward needs {need} days for one fold but the data has "
            f"{len(dates) - first} from {_iso(dates[min(first, len(dates) - 1)])}; "
            "shorten the periods or use more data"
        )
    out = []
    k, lo = 0, first
    while lo + need <= len(dates):
        t0 = first if anchored else lo
        tr_end = lo + train_days - 1
        va_end = tr_end + val_days
        te_end = va_end + test_days
        out.append(
            WalkForwardWindow(
                k,
                (_iso(dates[t0]), _iso(dates[tr_end])),
                (_iso(dates[tr_end + 1]), _iso(dates[va_end])),
                (_iso(dates[va_end + 1]), _iso(dates[te_end])),
            )
        )
        k += 1
        lo += step
    return out


def decision_range(
    dates: pd.DatetimeIndex,
    first_valid: int,
    window: int,
    start: str | None,
    end: str | None,
    name: str = "market",
) -> tuple[int, int]:
    """Bar indices ``(first decision, last bar)`` of a period: decisions run from the first
    day >= ``start`` whose whole observation window is warm (``first_valid + window - 1``) to
    the day before the last day <= ``end``, whose bar takes the last fill and mark.

    Raises:
        DataError: no decision possible (the window and warm-up leave no room).
    """
    lo = 0 if start is None else int(dates.searchsorted(parse_date(start, "start"), side="left"))
    hi = (
        len(dates) - 1
        if end is None
        else int(dates.searchsorted(parse_date(end, "end"), side="right")) - 1
    )
    first = max(lo, first_valid + window - 1)
    if hi - first < 1:
        raise DataError(_no_decision(dates, first_valid, window, lo, hi, start, end, name))
    return first, hi


def _no_decision(
    dates: pd.DatetimeIndex,
    first_valid: int,
    window: int,
    lo: int,
    hi: int,
    start: str | None,
    end: str | None,
    name: str,
) -> str:
    """Why a period holds no decision: too little data for the warm-up, or no day after
    ``start`` (a decision needs one later day to fill on)."""
    period = f"{start or _iso(dates[0])}..{end or _iso(dates[-1])}"
    need, have = first_valid + window + 1, hi + 1
    if need > have:
        upto = f" up to {_iso(dates[hi])}" if hi >= 0 else ""
        return (
            f"{name}: no decision possible in {period}: a window of {window} days after "
            f"{first_valid} warm-up days needs {need} days of data{upto} (one more to "
            f"trade on), but there are {have}; use a shorter window or a longer period"
        )
    return (
        f"{name}: no decision possible in {period}: {hi - lo + 1} day(s) from the start, "
        "need 2 (a decision day and a later day to trade on); choose an earlier start "
        "or a later end"
    )
