"""A Gymnasium gridworld built from a text map (Sutton & Barto chapters 3-6)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from qmml.envs.gridworld.maps import (
    BUILTIN_MAPS,
    GridMap,
    MapError,
    builtin_map,
    load_map,
    parse_map,
    random_maze,
)
from qmml.envs.gridworld.model import ACTION_NAMES, GridModel, build_model

__all__ = ["GridWorldEnv", "make_grid", "register_gridworld_envs"]

# RGB colour of each cell character in ``rgb_array`` frames
_COLORS = {
    "#": (60, 60, 60),
    ".": (245, 245, 245),
    "S": (170, 200, 255),
    "G": (90, 190, 90),
    "T": (160, 160, 160),
    "H": (30, 30, 90),
    "X": (170, 40, 40),
    **{c: (250, 210, 60) for c in "ABCDEF"},
    **{c: (255, 240, 170) for c in "abcdef"},
}
_AGENT = np.array([220, 40, 40], dtype=np.uint8)


def make_grid(
    grid: str | Sequence[str] | GridMap = "4x4",
    *,
    maze_rooms: int | tuple[int, int] = (8, 8),
    maze_seed: int | None = 0,
    maze_loops: float = 0.0,
    **settings: Any,
) -> GridMap:
    """Resolve the ``grid`` argument of :class:`GridWorldEnv` into a :class:`GridMap`.

    ``grid`` is a :class:`GridMap`; a built-in name (``5x5``, ``4x4``, ``cliff``, ``windy``);
    ``"maze"`` (a random maze of ``maze_rooms`` from ``maze_seed``); map text with newlines or
    a list of rows; or the path of a map file. ``settings`` override the map's dynamics
    (``slip``, ``step_reward``, ``wind``...; None keeps the map's own).

    Raises:
        MapError: an invalid map, setting or unknown name.
    """
    settings = {k: v for k, v in settings.items() if v is not None}
    if isinstance(grid, GridMap):
        return grid.replace(**settings)
    if isinstance(grid, str) and "\n" not in grid:
        if grid == "maze":
            return random_maze(maze_rooms, seed=maze_seed, loops=maze_loops, **settings)
        if grid in BUILTIN_MAPS:
            return builtin_map(grid).replace(**settings)
        if Path(grid).is_file():
            return load_map(grid, **settings)
        builtin_map(grid)  # raises the "unknown built-in map" error
    if isinstance(grid, str | list | tuple):
        return parse_map(grid, **settings)
    raise MapError(f"grid must be a map name, map rows or a GridMap, got {type(grid).__name__}")


class GridWorldEnv(gym.Env[int | np.int64, int | np.int64]):
    """Walk a grid of cells to a goal: the gridworlds of Sutton & Barto (2018), ch. 3-6.

    ## Description
    The map (see :mod:`qmml.envs.gridworld.maps`) has walls, a start, goals and terminal cells,
    holes, cliffs that send the agent back to the start, and teleports (Example 3.5: A→A′
    +10, B→B′ +5). Moves can slip sideways and columns can have wind (Example 6.5), steady
    or stochastic (Exercise 6.10). The model
    is exposed like Gymnasium's toy-text envs: ``P[s][a] = [(prob, next_state, reward,
    terminated), ...]``; :meth:`model` gives the same as arrays, for planners on large mazes.

    ## Action Space
    ``Discrete(4)``: 0 left, 1 down, 2 right, 3 up (FrozenLake's order).

    ## Observation Space
    ``Discrete(n_states)``: the index of the agent's cell among the open cells (not walls or
    cliff cells), in row-major order; :meth:`cell` and :meth:`state` convert.

    ## Rewards
    ``step_reward`` per move (``bump_reward`` when a wall or the edge blocks it), plus
    ``goal_reward`` on entering G and ``pit_reward`` on entering H; ``cliff_reward`` for
    stepping into X; teleports pay ``teleport_rewards``.

    ## Episode End
    Terminated on entering G, T or H. Maps without them are continuing tasks: the registered
    ids truncate them with a time limit.

    ## Arguments
    ``grid`` (a built-in name, ``"maze"``, map text, rows, a file path or a GridMap),
    ``render_mode`` (``"ansi"`` or ``"rgb_array"``), ``maze_rooms``/``maze_seed``/
    ``maze_loops`` for ``grid="maze"``, and dynamics overrides ``slip``, ``step_reward``,
    ``goal_reward``, ``pit_reward``, ``cliff_reward``, ``bump_reward``, ``wind``,
    ``wind_noise`` (stochastic wind, Exercise 6.10).

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        grid: str | Sequence[str] | GridMap = "4x4",
        *,
        render_mode: str | None = None,
        maze_rooms: int | tuple[int, int] = (8, 8),
        maze_seed: int | None = 0,
        maze_loops: float = 0.0,
        slip: float | None = None,
        step_reward: float | None = None,
        goal_reward: float | None = None,
        pit_reward: float | None = None,
        cliff_reward: float | None = None,
        bump_reward: float | None = None,
        wind: Sequence[int] | None = None,
        wind_noise: bool | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; choose from "
                f"{', '.join(self.metadata['render_modes'])} or None"
            )
        self.grid = make_grid(
            grid,
            maze_rooms=maze_rooms,
            maze_seed=maze_seed,
            maze_loops=maze_loops,
            slip=slip,
            step_reward=step_reward,
            goal_reward=goal_reward,
            pit_reward=pit_reward,
            cliff_reward=cliff_reward,
            bump_reward=bump_reward,
            wind=None if wind is None else tuple(wind),
            wind_noise=wind_noise,
        )
        self._model = build_model(self.grid)
        self._cdf = np.cumsum(self._model.prob, axis=2)
        self._chars = self.grid.chars
        self.observation_space = spaces.Discrete(self._model.n_states)
        self.action_space = spaces.Discrete(4)
        self.render_mode = render_mode
        self._P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] | None = None
        self.s = self._model.start
        self.lastaction: int | None = None

    # -- the model --------------------------------------------------------------------------
    @property
    def P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        """``P[s][a] = [(prob, next_state, reward, terminated), ...]`` (built on first use)."""
        if self._P is None:
            self._P = self._model.to_P()
        return self._P

    def model(self) -> GridModel:
        """The transition model as arrays of shape (S, 4, K) (what ``P`` lists)."""
        return self._model

    @property
    def start_state(self) -> int:
        """The state every episode starts in."""
        return self._model.start

    def cell(self, state: int) -> tuple[int, int]:
        """(row, column) of ``state``."""
        r, c = self._model.cells[state]
        return int(r), int(c)

    def state(self, row: int, col: int) -> int:
        """The state of cell (row, col).

        Raises:
            ValueError: the cell is outside the map, a wall or a cliff cell.
        """
        h, w = self._model.state_of.shape
        s = int(self._model.state_of[row, col]) if 0 <= row < h and 0 <= col < w else -1
        if s < 0:
            raise ValueError(
                f"cell (row {row}, column {col}) is not a state of this map (outside "
                "it, a wall or a cliff cell)"
            )
        return s

    # -- Gymnasium API ----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.s = self._model.start
        self.lastaction = None
        return int(self.s), {"prob": 1.0}

    def step(self, action: int | np.int64) -> tuple[int, float, bool, bool, dict[str, Any]]:
        try:
            a = int(action)
        except (TypeError, ValueError):
            a = -1
        if not 0 <= a < 4 or a != action:
            raise ValueError(f"action {action!r} is invalid; expected an int in [0, 3]")
        m = self._model
        probs = m.prob[self.s, a]
        k = 0
        if probs.size > 1:  # the outcome whose cumulative probability first exceeds u
            k = min(int((self._cdf[self.s, a] <= self.np_random.random()).sum()), probs.size - 1)
        s = int(m.next_state[self.s, a, k])
        reward = float(m.reward[self.s, a, k])
        terminated = bool(m.terminated[self.s, a, k])
        self.s, self.lastaction = s, a
        return s, reward, terminated, False, {"prob": float(probs[k])}

    def render(self) -> str | np.ndarray | None:
        """The grid as text (``ansi``, the agent shown as ``@``) or an RGB image."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() was called without a render_mode; pass "
                "render_mode='ansi' or 'rgb_array' to the constructor"
            )
            return None
        if self.render_mode == "ansi":
            return self._render_text()
        return self._render_rgb()

    def _render_text(self) -> str:
        rows = [list(r) for r in self.grid.rows]
        r, c = self.cell(self.s)
        rows[r][c] = "@"
        head = f"  ({ACTION_NAMES[self.lastaction]})" if self.lastaction is not None else ""
        return head + "\n" + "\n".join("".join(row) for row in rows) + "\n"

    def _render_rgb(self) -> np.ndarray:
        h, w = self._chars.shape
        size = int(np.clip(512 // max(h, w), 1, 32))  # cell size in pixels, frames <= ~512 px
        palette = np.array([_COLORS[ch] for ch in self._chars.ravel()], dtype=np.uint8)
        img = np.repeat(np.repeat(palette.reshape(h, w, 3), size, axis=0), size, axis=1)
        r, c = self.cell(self.s)
        pad = size // 4 if size >= 4 else 0
        img[r * size + pad : (r + 1) * size - pad, c * size + pad : (c + 1) * size - pad] = _AGENT
        return img


# id -> constructor kwargs and the time limit of the registered variant
_ENV_IDS: dict[str, tuple[dict[str, Any], int]] = {
    "qmml/GridWorld5x5-v0": ({"grid": "5x5"}, 100),
    "qmml/GridWorld4x4-v0": ({"grid": "4x4"}, 100),
    "qmml/CliffWalking-v0": ({"grid": "cliff"}, 1000),
    "qmml/WindyGridWorld-v0": ({"grid": "windy"}, 1000),
    "qmml/WindyGridWorldStochastic-v0": ({"grid": "windy", "wind_noise": True}, 1000),
    "qmml/RandomMaze-v0": ({"grid": "maze", "maze_rooms": (8, 8), "maze_seed": 0}, 1000),
}


def register_gridworld_envs() -> list[str]:
    """Register the ``qmml/*`` gridworld ids with Gymnasium; safe to call more than once.

    Returns:
        The gridworld env ids (registered now or before).
    """
    for env_id, (kwargs, limit) in _ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="qmml.envs.gridworld.env:GridWorldEnv",
                kwargs=kwargs,
                max_episode_steps=limit,
            )
    return list(_ENV_IDS)
