"""The transition model of a gridworld map, computed as arrays (no loop over cells).

:func:`build_model` turns a :class:`~envs.gridworld_maps.GridMap` into ``K`` possible outcomes
per (state, action) — K = 1 for deterministic moves, 3 with slip — which
:class:`envs.gridworld.GridWorldEnv` samples from, exposes as a Gymnasium-style ``P`` table and
hands to planners as arrays (fast enough for mazes of 10^6 cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from qmml.envs.gridworld.maps import GridMap, MapError

__all__ = ["ACTION_DELTAS", "ACTION_NAMES", "GridModel", "build_model"]

ACTION_NAMES = ("Left", "Down", "Right", "Up")  # Gymnasium FrozenLake's order
ACTION_DELTAS = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]])  # (row, column) per action


@dataclass(frozen=True)
class GridModel:
    """Every outcome of every (state, action): arrays of shape (S, 4, K).

    Attributes:
        next_state: state after the outcome.
        prob: probability of the outcome (sums to 1 over K).
        reward: reward of the outcome.
        terminated: whether the outcome ends the episode.
        cells: (S, 2) row and column of each state (open cells in row-major order).
        state_of: (height, width) state index of each cell, -1 for walls and cliff cells.
        start: the start state.
    """

    next_state: np.ndarray
    prob: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    cells: np.ndarray
    state_of: np.ndarray
    start: int

    @property
    def n_states(self) -> int:
        """Number of states (open cells)."""
        return int(self.cells.shape[0])

    def to_P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        """The Gymnasium toy-text table ``P[s][a] = [(prob, next_state, reward, terminated)]``
        (zero-probability outcomes left out)."""
        ns, pr = self.next_state.tolist(), self.prob.tolist()
        rw, te = self.reward.tolist(), self.terminated.tolist()
        return {
            s: {
                a: [
                    (pr[s][a][k], ns[s][a][k], rw[s][a][k], te[s][a][k])
                    for k in range(len(pr[s][a]))
                    if pr[s][a][k] > 0
                ]
                for a in range(4)
            }
            for s in range(self.n_states)
        }


def _char_codes(grid: GridMap) -> np.ndarray:
    """(height·width,) code point of every cell, row-major: integer compares and gathers are
    many times faster than on an array of one-character strings."""
    return np.frombuffer("".join(grid.rows).encode("utf-32-le"), dtype=np.uint32)


def _codes(letters: str) -> list[int]:
    return [ord(c) for c in letters]


_WALL, _CLIFF, _START, _GOAL, _PIT = _codes("#XSGH")


def build_model(grid: GridMap) -> GridModel:
    """Compute the transition arrays of ``grid`` and check that every goal can be reached.

    Cells are handled by their flat index ``row·width + column``; each open cell's four moves
    are worked out once and the K outcomes of every action pick from them.

    Raises:
        MapError: a goal ``G`` or terminal ``T`` cell the start cannot reach (walls, wind).
    """
    h, w = grid.height, grid.width
    code = _char_codes(grid)
    open_idx = np.flatnonzero((code != _WALL) & (code != _CLIFF))  # row-major, like state_of
    n = open_idx.size
    state_flat = np.full(h * w, -1, dtype=np.int64)
    state_flat[open_idx] = np.arange(n)
    cells = np.stack([open_idx // w, open_idx % w], axis=1)
    start = int(state_flat[np.flatnonzero(code == _START)[0]])

    if grid.slip > 0:  # intended direction, then the two perpendicular ones
        offsets, probs = (
            np.array([0, -1, 1]),
            np.array([1 - grid.slip, grid.slip / 2, grid.slip / 2]),
        )
    else:
        offsets, probs = np.array([0]), np.array([1.0])
    k = offsets.size
    dirs = (np.arange(4)[:, None] + offsets[None, :]) % 4  # (4, K)
    # (S, 4): the cell each direction leads to, staying put at walls and edges
    tr = cells[:, :1] + ACTION_DELTAS[:, 0]
    tc = cells[:, 1:] + ACTION_DELTAS[:, 1]
    inside = (tr >= 0) & (tr < h) & (tc >= 0) & (tc < w)
    target = np.where(inside, tr * w + tc, 0)
    moved4 = inside & (code[target] != _WALL)
    dest4 = np.where(moved4, target, open_idx[:, None])
    if grid.wind is None:  # outcomes depend on the direction only: (S, 4), spread at the end
        new, moved = dest4, moved4
    else:
        new, moved = dest4[:, dirs], moved4[:, dirs]  # (S, 4, K) flat cells
        if grid.wind_noise:  # three wind outcomes after every move outcome: -1, 0, +1 cell
            k, probs = 3 * k, np.repeat(probs / 3.0, 3)
            new, moved = np.repeat(new, 3, axis=2), np.repeat(moved, 3, axis=2)
        new = _blow(grid, code, cells, new)
    base = grid.step_reward if grid.bump_reward is None else grid.bump_reward
    reward = np.where(moved, grid.step_reward, base).astype(np.float64, copy=False)
    # what landing on a cell adds, per cell, then gathered (the same sums, far fewer compares)
    landing = np.where(code == _GOAL, grid.goal_reward, 0.0)
    landing += np.where(code == _PIT, grid.pit_reward, 0.0)
    reward += landing[new]
    terminated = np.isin(code, _codes("GTH"))[new]
    cliff = (code == _CLIFF)[new]
    next_state = np.where(code == _CLIFF, start, state_flat)[new]  # a cliff sends to the start
    reward[cliff] = grid.cliff_reward
    if grid.wind is None:
        next_state, reward, terminated = next_state[:, dirs], reward[:, dirs], terminated[:, dirs]
    prob = np.broadcast_to(probs, (n, 4, k)).astype(np.float64)

    own = code[open_idx]
    for letter in "ABCDEF":  # every action in a teleport cell jumps to its destination
        src = np.flatnonzero(own == ord(letter))
        if src.size:
            dst = state_flat[np.flatnonzero(code == ord(letter.lower()))[0]]
            next_state[src] = dst
            reward[src] = grid.teleport_rewards.get(letter, 0.0)
            terminated[src] = False
    absorbing = np.isin(own, _codes("GTH"))  # like FrozenLake: stay, 0 reward, terminated
    next_state[absorbing] = np.arange(n)[absorbing, None, None]
    reward[absorbing] = 0.0
    terminated[absorbing] = True

    state_of = state_flat.reshape(h, w)
    model = GridModel(next_state, prob, reward, terminated, cells, state_of, start)
    _check_reachable(model, own)
    return model


def _blow(grid: GridMap, code: np.ndarray, cells: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The flat cells ``new`` (S, 4, K) after the wind of the column each state is in pushed
    them cell by cell, stopped by walls and edges."""
    assert grid.wind is not None
    h, w = grid.height, grid.width
    n, _, k = new.shape
    wind = np.broadcast_to(np.asarray(grid.wind)[cells[:, 1]][:, None, None], (n, 4, k))
    if grid.wind_noise:  # a column without wind stays calm
        wind = wind + np.where(wind != 0, np.tile([-1, 0, 1], k // 3), 0)
    left = np.abs(wind).copy()
    up = -np.sign(wind)
    for _ in range(int(left.max(initial=0))):
        row = new // w + up
        ok = (left > 0) & (row >= 0) & (row < h)
        trial = np.where(ok, new + up * w, new)
        ok &= code[trial] != _WALL
        new = np.where(ok, trial, new)
        left = np.where(ok, left - 1, 0)
    return new


def _check_reachable(model: GridModel, own: np.ndarray) -> None:
    goals = np.flatnonzero(np.isin(own, _codes("GT")))
    if goals.size == 0:
        return
    n = model.n_states
    # every (s, a, k) outcome is an edge; a zero-probability one becomes a harmless self-loop,
    # so the CSR rows have a fixed length and need no sorting
    m = model.next_state[0].size
    idx = np.int32 if model.next_state.size < 2**31 else np.int64  # csgraph's own index type
    to = model.next_state.astype(idx)
    np.copyto(to, np.arange(n, dtype=idx)[:, None, None], where=model.prob <= 0)
    nnz = to.size
    ones = np.broadcast_to(1.0, nnz)  # the search reads only the structure: no 8·nnz bytes
    graph = sp.csr_matrix((ones, to.reshape(-1), np.arange(0, nnz + 1, m, dtype=idx)), (n, n))
    seen = np.zeros(n, dtype=bool)
    seen[breadth_first_order(graph, model.start, directed=True, return_predecessors=False)] = True
    missing = goals[~seen[goals]]
    if missing.size:
        r, c = model.cells[missing[0]]
        sr, sc = model.cells[model.start]
        raise MapError(
            f"goal {chr(own[missing[0]])!r} at row {r}, column {c} cannot be reached from "
            f"the start at row {sr}, column {sc} ({missing.size} unreachable goal "
            "cell(s)); open a path through the walls '#' or change the wind"
        )
