"""Whether long training loops show a progress bar: off by default, switched on for the
duration of a trial by the experiment runner when one process runs the trials (with a pool of
workers, bars from many processes would garble the run's own bar)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["progress_enabled", "show_progress"]

_SHOW: ContextVar[bool] = ContextVar("qmml_show_progress", default=False)


def progress_enabled() -> bool:
    """True inside :func:`show_progress` ``(True)``."""
    return _SHOW.get()


@contextmanager
def show_progress(enabled: bool = True) -> Iterator[None]:
    """Show (or hide) the bars of training loops run inside this block."""
    token = _SHOW.set(enabled)
    try:
        yield
    finally:
        _SHOW.reset(token)
