"""``StepInfos``: the per-environment info dicts of one :class:`MarketVecEnv` step, made on
first access.

An SB3 ``VecEnv`` returns one info dict per environment every step. With 1,024
environments, building 1,024 dicts (all empty but for the few environments whose episode
ended) took as long as the whole trading arithmetic; most steps nobody reads them. This
sequence holds the dicts of the finished environments and makes an empty dict for any
other index the first time it is read, then returns that same dict again, so code that
writes into ``infos[i]`` (SB3's VecNormalize, VecTransposeImage) still sees its changes.
Iterating, slicing, ``list(infos)`` or comparing builds the whole list once, the same dicts
the old list held.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any, overload

__all__ = ["StepInfos"]

Info = dict[str, Any]


class StepInfos(Sequence[Info]):
    """``n`` info dicts: ``done_infos[i]`` for the environments that finished, ``{}`` else.

    Args:
        n: number of environments.
        done_infos: the info dict of each environment whose episode ended this step.
    """

    __slots__ = ("_list", "_made", "_n")

    def __init__(self, n: int, done_infos: dict[int, Info]) -> None:
        self._n = n
        self._made = done_infos  # index -> the dict handed out for it (stable identity)
        self._list: list[Info] | None = None

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Info: ...

    @overload
    def __getitem__(self, i: slice) -> list[Info]: ...

    def __getitem__(self, i: int | slice) -> Info | list[Info]:
        if self._list is not None or isinstance(i, slice):
            return self.as_list()[i]
        k = operator.index(i)
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError(f"info index {i} out of range for {self._n} environments")
        info = self._made.get(k)
        if info is None:
            info = self._made[k] = {}
        return info

    def __iter__(self) -> Iterator[Info]:
        return iter(self.as_list())

    def as_list(self) -> list[Info]:
        """All ``n`` dicts as a plain list (built once; later reads index it)."""
        if self._list is None:
            full: list[Info] = [{} for _ in range(self._n)]
            for k, info in self._made.items():
                full[k] = info
            self._list = full
        return self._list

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (StepInfos, list, tuple)):
            return len(other) == self._n and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it stands for

    def __repr__(self) -> str:
        return f"StepInfos({self.as_list()!r})"
