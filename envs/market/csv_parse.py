"""Reading a market CSV and validating what is in it, for
:func:`~qmml.envs.market.sources.load_csv` and the bundled files: the read itself (every OS
or format failure as one :class:`~qmml.envs.market.data.DataError` line), the date column
(including the day-first or month-first reading of slash dates), repeated or unsorted dates
and non-numeric price columns.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from qmml.envs.market.data import DataError, parse_date_column

__all__: list[str] = []  # helpers of qmml.envs.market.sources, imported by name there


def _read_file(path: Path, fix: str) -> pd.DataFrame:
    """``pd.read_csv(path)``; every OS or format failure as one DataError line (path, cause,
    ``fix``): unreadable, not gzip, truncated, binary, empty."""
    try:
        return pd.read_csv(path)
    except PermissionError:
        raise DataError(
            f"{path}: permission denied; make the file readable (chmod u+r) or copy it"
        ) from None
    except (OSError, EOFError, zlib.error) as err:  # a .gz that is not gzip, or cut short
        raise DataError(f"{path}: cannot read ({_first_line(err)}); {fix}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; {fix}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: cannot read as CSV ({_first_line(err)}); {fix}") from None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


# dates like 01/02/2020: 1 February or January 2? pandas alone reads each value month first
# unless its day is > 12, so a file can even mix both readings
_SLASH_DATE = r"^\s*(\d{1,2})[/.](\d{1,2})[/.]\d{2,4}"
_FORMAT_FIX = (
    "set date_format ('%d/%m/%Y' day first, '%m/%d/%Y' month first; in a spec env.date_format)"
    " or write the dates as YYYY-MM-DD"
)


def _day_first(text: pd.Series, path: Path, col: str) -> bool:
    """Whether slash/dot dates are day first, from a value only one reading allows.

    Raises:
        DataError: every date reads both ways (all fields <= 12), or the file has both.
    """
    parts = text.str.extract(_SLASH_DATE).dropna().astype(int)
    a, b = parts[0], parts[1]
    day_first, month_first = bool((a > 12).any()), bool((b > 12).any())
    if day_first and month_first:
        raise DataError(
            f"{path}: column {col!r} mixes day-first ({text[a > 12].iloc[0]}) and month-first "
            f"({text[b > 12].iloc[0]}) dates; write every date the same way, as YYYY-MM-DD"
        )
    if not (day_first or month_first):
        raise DataError(
            f"{path}: dates in column {col!r} such as {text.iloc[0]!r} read both day first "
            f"and month first (no day is above 12); {_FORMAT_FIX}"
        )
    example = text[a > 12].iloc[0] if day_first else text[b > 12].iloc[0]
    warnings.warn(
        f"{path}: dates in column {col!r} read {'day' if day_first else 'month'} first "
        f"(as {example!r} allows only that); set date_format to say so",
        stacklevel=4,  # the caller of load_csv
    )
    return day_first


def _dates(
    df: pd.DataFrame, path: Path, date_format: str | None = None
) -> tuple[pd.DataFrame, str, str]:
    """Parse the date column in place (with ``date_format`` if given).

    Slash or dot dates (``01/02/2020``) without ``date_format`` are read day first or month
    first as a value above 12 shows (with a warning), and refused when every value reads both
    ways.

    Returns:
        The frame with parsed dates, the date column's name and a hint to add to an
        "unsorted" error.
    """
    cols = {str(c).strip().lower(): c for c in df.columns}
    key = next((k for k in ("date", "datetime", "time", "timestamp") if k in cols), None)
    if key is None:
        raise DataError(
            f"{path}: no date column; columns are {', '.join(map(str, df.columns))}"
            "; add a 'Date' column"
        )
    col = cols[key]
    raw = df[col]
    text = raw.astype(str)
    slash = not pd.api.types.is_numeric_dtype(raw) and bool(text.str.match(_SLASH_DATE).any())
    if date_format is not None:
        dates = pd.to_datetime(raw.astype(str), format=date_format, errors="coerce")
        fix = f"each date must match date_format {date_format!r}"
    elif slash:
        dayfirst = _day_first(text, path, str(col))
        dates = pd.to_datetime(text, format="mixed", dayfirst=dayfirst, errors="coerce")
        fix = "use YYYY-MM-DD"
    else:
        dates = parse_date_column(raw, path, col)
        fix = "use YYYY-MM-DD"
    if dates.isna().any():
        bad = raw[dates.isna()].iloc[0]
        bad = bad.item() if isinstance(bad, np.generic) else bad  # 20201345, not np.int64(...)
        raise DataError(f"{path}: unparsable date {bad!r} in column {col!r}; {fix}")
    hint = " (or check the day/month order: set date_format)" if slash else ""
    return df.assign(**{col: dates}), col, hint


def _unique_sorted(dates: pd.Series, path: Path, what: str = "", hint: str = "") -> None:
    """Raise DataError for a repeated date or dates out of order (``hint`` for the latter)."""
    if dates.duplicated().any():
        day = dates[dates.duplicated()].iloc[0].date()
        raise DataError(f"{path}: duplicate date {day}{what}; each date must appear once")
    if not dates.is_monotonic_increasing:
        i = int(np.argmax(np.diff(dates.to_numpy()) < np.timedelta64(0)))
        raise DataError(
            f"{path}: rows are not sorted by date ({dates.iloc[i].date()} comes "
            f"before {dates.iloc[i + 1].date()}{what}); sort them ascending{hint}"
        )


def _numeric(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    """Raise DataError naming the first non-numeric price column, value and line."""
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if not bad:
        return
    col = df[bad[0]]
    wrong = col.notna() & pd.to_numeric(col, errors="coerce").isna()
    where = ""
    if wrong.any():
        row = int(np.argmax(wrong.to_numpy()))
        where = f" (e.g. {col.iloc[row]!r} on line {row + 2})"  # line 1 is the header
    raise DataError(
        f"{path}: non-numeric values in column(s) {', '.join(map(str, bad))}{where}; prices "
        "must be numbers without thousands separators (use an empty cell for a missing price)"
    )
