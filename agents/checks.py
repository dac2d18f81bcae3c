"""One validator for the numeric arguments of every agent in :mod:`qmml.agents`.

:func:`check_number` replaces the per-module range checks the agents used to hand-roll, so
every bad number gets the same one-line message: the parameter, the value given and what is
allowed, e.g. ``alpha=0.0 is out of range; expected a finite number in (0, 1]``.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

__all__ = ["check_number"]


def _bound(x: float) -> str:
    return str(x) if isinstance(x, int | np.integer) else f"{x:g}"


@overload
def check_number(
    name: str,
    value: object,
    *,
    low: float | None = ...,
    high: float | None = ...,
    low_open: bool = ...,
    high_open: bool = ...,
    integer: Literal[False] = ...,
    hint: str = ...,
) -> float: ...


@overload
def check_number(
    name: str,
    value: object,
    *,
    low: float | None = ...,
    high: float | None = ...,
    low_open: bool = ...,
    high_open: bool = ...,
    integer: Literal[True],
    hint: str = ...,
) -> int: ...


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    hint: str = "",
) -> float | int:
    """``value`` as a float (or an int with ``integer=True``) after checking its range.

    Args:
        name: the parameter's name, as the caller spells it.
        value: what the caller gave.
        low: smallest allowed value (None: no lower bound).
        high: largest allowed value (None: no upper bound).
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.
        integer: require a Python or NumPy int (a float such as 2.0 is refused) and return
            an int; otherwise return a float, which must be finite.
        hint: appended to the message in parentheses (a unit or an example value).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, None...).
        ValueError: a real number that is not finite, not an int although ``integer`` is set,
            or outside the range.
    """
    kind = "an int" if integer else "a finite number"
    if low is None and high is None:
        allowed = kind
    else:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + _bound(low)
        hi = "inf)" if high is None else _bound(high) + (")" if high_open else "]")
        allowed = f"{kind} in {lo}, {hi}"
    tail = f"; expected {allowed}" + (f" ({hint})" if hint else "")
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}, not a number{tail}")
    if integer and not isinstance(value, int | np.integer):
        raise ValueError(f"{name}={value!r} is not an int{tail}")
    number = int(value) if integer else float(value)
    if (
        not math.isfinite(number)
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and (number >= high if high_open else number > high))
    ):
        raise ValueError(f"{name}={value!r} is out of range{tail}")
    return number
