"""Gridworld maps: the text format, the built-in maps of Sutton & Barto and a seeded random
maze generator.

A map is rows of characters (one cell each), all rows the same length:

====  ==================================================================================
char  cell
====  ==================================================================================
``#``  wall: cannot be entered
``.``  floor
``S``  the start (exactly one)
``G``  goal: terminal, entering it pays ``step_reward + goal_reward``
``T``  terminal cell without a bonus (the grey corners of Example 4.1)
``H``  hole / pit: terminal, entering it pays ``step_reward + pit_reward``
``X``  cliff: entering it pays ``cliff_reward`` and sends the agent back to the start
``A``-``F``  teleport: every action taken *in* this cell moves the agent to the matching
       lower-case cell ``a``-``f`` and pays ``teleport_rewards[letter]`` (Example 3.5)
``a``-``f``  teleport destination (a floor cell)
====  ==================================================================================

Dynamics settings travel with the map (:class:`GridMap`) so that a built-in map carries the
book's rewards; :class:`envs.gridworld.GridWorldEnv` can override any of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack, cast

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import minimum_spanning_tree

__all__ = [
    "BUILTIN_MAPS",
    "CELL_CHARS",
    "GridMap",
    "MapError",
    "builtin_map",
    "load_map",
    "parse_map",
    "random_maze",
]

CELL_CHARS: dict[str, str] = {
    "#": "wall",
    ".": "floor",
    "S": "start",
    "G": "goal",
    "T": "terminal",
    "H": "hole",
    "X": "cliff",
    **{c: "teleport" for c in "ABCDEF"},
    **{c: "teleport destination" for c in "abcdef"},
}
_TERMINAL = "GTH"


class MapError(ValueError):
    """A gridworld map or its settings are invalid (the message names the problem and fix)."""


@dataclass(frozen=True)
class GridMap:
    """A validated gridworld: the cells and the dynamics settings that go with them.

    Attributes:
        rows: the map, one string per row (see the module docstring for the characters).
        name: a label for reports.
        step_reward: reward of every move (also on entering a goal, hole or terminal cell).
        goal_reward: extra reward on entering ``G``.
        pit_reward: extra reward on entering ``H``.
        cliff_reward: reward on entering ``X`` (replaces ``step_reward``; back to start).
        bump_reward: reward of a move blocked by a wall or the edge; None: ``step_reward``.
        teleport_rewards: reward of a teleport ``A``-``F`` by its letter (default 0).
        slip: probability that a move goes to one of the two perpendicular directions
            (half each) instead of the intended one, in [0, 1).
        wind: per column, cells the agent is pushed up (negative: down) after moving, taken
            from the column it moved from (Example 6.5); None: no wind.
        wind_noise: stochastic wind (Exercise 6.10): in a column with wind, the push is the
            column's strength, one cell more or one cell less, each a third of the time.

    Raises:
        MapError: empty or ragged map, unknown characters, no start or several, a teleport
            without its destination, a slip outside [0, 1), wind of the wrong length,
            wind_noise without wind.
    """

    rows: tuple[str, ...]
    name: str = "custom"
    step_reward: float = -1.0
    goal_reward: float = 0.0
    pit_reward: float = -100.0
    cliff_reward: float = -100.0
    bump_reward: float | None = None
    teleport_rewards: Mapping[str, float] = field(default_factory=dict)
    slip: float = 0.0
    wind: tuple[int, ...] | None = None
    wind_noise: bool = False

    def __post_init__(self) -> None:
        rows = tuple(self.rows)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "teleport_rewards", dict(self.teleport_rewards))
        _check_cells(rows)
        for name in ("step_reward", "goal_reward", "pit_reward", "cliff_reward"):
            _check_finite(name, getattr(self, name))
        if self.bump_reward is not None:
            _check_finite("bump_reward", self.bump_reward)
        for letter, r in self.teleport_rewards.items():
            if letter not in "ABCDEF" or len(letter) != 1:
                raise MapError(
                    f"teleport_rewards key {letter!r} is not a teleport letter; "
                    "use one of A B C D E F"
                )
            _check_finite(f"teleport_rewards[{letter!r}]", r)
        slip = float(self.slip)
        if not 0.0 <= slip < 1.0:
            raise MapError(
                f"slip={self.slip!r} is out of range; the slip probability must be "
                "in [0, 1) (0: deterministic moves)"
            )
        object.__setattr__(self, "slip", slip)
        if self.wind is not None:
            wind = tuple(int(w) for w in self.wind)
            if len(wind) != self.width:
                raise MapError(
                    f"wind has {len(wind)} entries but the map has {self.width} "
                    "columns; give one wind strength per column"
                )
            object.__setattr__(self, "wind", wind)
        if self.wind_noise and not any(self.wind or ()):
            raise MapError(
                "wind_noise=True but the map has no wind; give wind strengths per column "
                "(e.g. grid='windy') or drop wind_noise"
            )

    @property
    def height(self) -> int:
        """Number of rows."""
        return len(self.rows)

    @property
    def width(self) -> int:
        """Number of columns."""
        return len(self.rows[0])

    @property
    def chars(self) -> np.ndarray:
        """The map as a (height, width) array of one-character strings."""
        return np.array([list(r) for r in self.rows], dtype="<U1")

    def replace(self, **changes: Unpack[GridChanges]) -> GridMap:
        """A copy with some settings changed (validated again); None values are ignored."""
        # a sub-dict of ``changes``, so still GridChanges (the comprehension loses the keys)
        kept = cast(GridChanges, {k: v for k, v in changes.items() if v is not None})
        return dataclasses.replace(self, **kept)


class GridChanges(TypedDict, total=False):
    """The fields of :class:`GridMap`, as keyword arguments of :meth:`GridMap.replace`."""

    rows: tuple[str, ...]
    name: str
    step_reward: float
    goal_reward: float
    pit_reward: float
    cliff_reward: float
    bump_reward: float | None
    teleport_rewards: Mapping[str, float]
    slip: float
    wind: tuple[int, ...] | None
    wind_noise: bool


def _check_finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise MapError(f"{name}={value!r} must be a finite number")


def _check_cells(rows: tuple[str, ...]) -> None:
    if not rows or not rows[0]:
        raise MapError("the map is empty; give at least one row of cells such as 'S..G'")
    for i, row in enumerate(rows):
        if not isinstance(row, str):
            raise MapError(f"map row {i} is a {type(row).__name__}, not a string of cells")
        if len(row) != len(rows[0]):
            raise MapError(
                f"ragged map: row {i} has {len(row)} cells but row 0 has "
                f"{len(rows[0])}; every row must have the same length"
            )
        for j, ch in enumerate(row):
            if ch not in CELL_CHARS:
                allowed = ", ".join(
                    f"{c!r} {k}" for c, k in CELL_CHARS.items() if c not in "BCDEFbcdef"
                )
                raise MapError(
                    f"unknown map character {ch!r} at row {i}, column {j}; allowed: "
                    f"{allowed} (teleports A-F to a-f)"
                )
    starts = [(i, j) for i, row in enumerate(rows) for j, ch in enumerate(row) if ch == "S"]
    if not starts:
        raise MapError(
            "the map has no start 'S'; put exactly one S on the cell where episodes begin"
        )
    if len(starts) > 1:
        where = ", ".join(f"(row {i}, column {j})" for i, j in starts)
        raise MapError(f"the map has {len(starts)} starts 'S' at {where}; keep exactly one")
    text = "".join(rows)
    for src in "ABCDEF":
        n_src, n_dst = text.count(src), text.count(src.lower())
        if n_src == 0 and n_dst == 0:
            continue
        if n_src != 1 or n_dst != 1:
            raise MapError(
                f"teleport {src!r} needs exactly one source {src!r} and one "
                f"destination {src.lower()!r}; found {n_src} and {n_dst}"
            )


def parse_map(text: str | Sequence[str], **settings: object) -> GridMap:
    """A :class:`GridMap` from map text (rows separated by newlines) or a list of rows.

    Blank lines before and after the map and trailing spaces are ignored; ``settings`` are
    :class:`GridMap` fields (``step_reward``, ``slip``, ``wind``...).

    Raises:
        MapError: see :class:`GridMap`.
    """
    lines = text.splitlines() if isinstance(text, str) else list(text)
    lines = [ln.rstrip() if isinstance(ln, str) else ln for ln in lines]
    while lines and lines[0] == "":
        lines.pop(0)
    while lines and lines[-1] == "":
        lines.pop()
    return GridMap(rows=tuple(lines), **settings)  # type: ignore[arg-type]


def load_map(path: str | Path, **settings: object) -> GridMap:
    """Read a map file (plain text, one row per line).

    Raises:
        MapError: the file is missing or its map is invalid.
    """
    p = Path(path)
    if not p.is_file():
        raise MapError(
            f"map file {str(p)!r} not found; give the path of a text file with one "
            "row of cells per line"
        )
    settings.setdefault("name", p.stem)
    return parse_map(p.read_text(encoding="utf-8"), **settings)


# -- built-in maps (Sutton & Barto 2018) ----------------------------------------------------


def _book_5x5() -> GridMap:
    # Example 3.5 / Figure 3.2: A=(0,1) -> A'=(4,1) +10, B=(0,3) -> B'=(2,3) +5, -1 off-grid.
    return GridMap(
        ("SA.B.", ".....", "...b.", ".....", ".a..."),
        name="5x5",
        step_reward=0.0,
        bump_reward=-1.0,
        teleport_rewards={"A": 10.0, "B": 5.0},
    )


def _book_4x4() -> GridMap:
    # Example 4.1: terminal corners, -1 on every transition.
    return GridMap(("T...", ".S..", "....", "...T"), name="4x4", step_reward=-1.0)


def _cliff() -> GridMap:
    # Example 6.6: 4x12, -1 per step, -100 and back to start for stepping into the cliff.
    return GridMap(
        ("............", "............", "............", "SXXXXXXXXXXG"),
        name="cliff",
        step_reward=-1.0,
        cliff_reward=-100.0,
    )


def _windy() -> GridMap:
    # Example 6.5: 7x10, wind strengths per column, -1 per step until the goal.
    rows = [".........."] * 7
    rows[3] = "S......G.."
    return GridMap(tuple(rows), name="windy", step_reward=-1.0, wind=(0, 0, 0, 1, 1, 1, 2, 2, 1, 0))


BUILTIN_MAPS = {"5x5": _book_5x5, "4x4": _book_4x4, "cliff": _cliff, "windy": _windy}


def builtin_map(name: str) -> GridMap:
    """A built-in map: ``5x5`` (Figure 3.2), ``4x4`` (Example 4.1), ``cliff`` (Example 6.6),
    ``windy`` (Example 6.5).

    Raises:
        MapError: unknown name, with the built-ins listed.
    """
    if name not in BUILTIN_MAPS:
        raise MapError(
            f"unknown built-in map {name!r}; choose from "
            f"{', '.join(BUILTIN_MAPS)}, 'maze', map rows or a map file"
        )
    return BUILTIN_MAPS[name]()


def random_maze(
    rooms: int | tuple[int, int],
    *,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
    loops: float = 0.0,
    **settings: object,
) -> GridMap:
    """A random maze of ``rooms`` = (rows, columns) rooms on a (2r+1)×(2c+1) grid.

    The passages are a minimum spanning tree of the room grid under random edge weights
    (randomised Kruskal), so every room is reachable; ``loops`` then knocks down that fraction
    of the remaining inner walls to add cycles. Start top-left, goal bottom-right. The maze has
    2·r·c − 1 open cells plus the loops, so (707, 707) rooms give about 10^6 states.

    Args:
        rooms: rooms per side, or (rows, columns); each at least 1.
        seed: the maze's own seed (a problem instance is fixed by it).
        loops: fraction of non-tree inner walls removed, in [0, 1].
        **settings: :class:`GridMap` fields (``slip``, ``step_reward``...).

    Raises:
        MapError: rooms < 1 or loops outside [0, 1].
    """
    r, c = (rooms, rooms) if isinstance(rooms, int | np.integer) else tuple(rooms)
    if int(r) < 1 or int(c) < 1 or r != int(r) or c != int(c):
        raise MapError(f"maze rooms={rooms!r} must be positive integers (rows, columns)")
    r, c = int(r), int(c)
    if r * c == 1:
        raise MapError("a maze needs at least 2 rooms (start and goal); give rooms >= (1, 2)")
    if not 0.0 <= float(loops) <= 1.0:
        raise MapError(f"maze loops={loops!r} is out of range; give a fraction in [0, 1]")
    rng = np.random.default_rng(seed)
    idx = np.arange(r * c).reshape(r, c)
    # edges between horizontally then vertically adjacent rooms
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    n_edges = u.size
    tree = np.zeros(n_edges, dtype=bool)
    if n_edges:
        # distinct random weights 1..n (0 would mean "no edge" to csgraph)
        rank = rng.permutation(n_edges) + 1
        g = sp.coo_matrix((rank.astype(np.float64), (u, v)), shape=(r * c, r * c)).tocsr()
        mst = minimum_spanning_tree(g).tocoo()
        by_rank = np.empty(n_edges + 1, dtype=np.int64)
        by_rank[rank] = np.arange(n_edges)
        tree[by_rank[mst.data.astype(np.int64)]] = True
        rest = np.flatnonzero(~tree)
        n_open = round(float(loops) * rest.size)
        if n_open:
            tree[rng.choice(rest, size=n_open, replace=False)] = True
    grid = np.full((2 * r + 1, 2 * c + 1), "#", dtype="<U1")
    grid[1::2, 1::2] = "."
    ur, uc = np.divmod(u[tree], c)
    vr, vc = np.divmod(v[tree], c)
    grid[ur + vr + 1, uc + vc + 1] = "."  # the wall cell between the two rooms
    grid[1, 1] = "S"
    grid[2 * r - 1, 2 * c - 1] = "G"
    settings.setdefault("name", f"maze{r}x{c}")
    return GridMap(tuple("".join(row) for row in grid), **settings)  # type: ignore[arg-type]
