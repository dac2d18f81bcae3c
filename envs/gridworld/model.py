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


def _passable(chars: np.ndarray, pos: np.ndarray) -> np.ndarray:
    h, w = chars.shape
    inside = (pos[..., 0] >= 0) & (pos[..., 0] < h) & (pos[..., 1] >= 0) & (pos[..., 1] < w)
    r = np.clip(pos[..., 0], 0, h - 1)
    c = np.clip(pos[..., 1], 0, w - 1)
    return inside & (chars[r, c] != "#")


def build_model(grid: GridMap) -> GridModel:
    """Compute the transition arrays of ``grid`` and check that every goal can be reached.

    Raises:
        MapError: a goal ``G`` or terminal ``T`` cell the start cannot reach (walls, wind).
    """
    chars = grid.chars
    is_open = (chars != "#") & (chars != "X")
    state_of = np.full(chars.shape, -1, dtype=np.int64)
    state_of[is_open] = np.arange(int(is_open.sum()))
    cells = np.argwhere(is_open)  # row-major, like state_of
    n = cells.shape[0]
    start = int(state_of[tuple(np.argwhere(chars == "S")[0])])

    if grid.slip > 0:  # intended direction, then the two perpendicular ones
        offsets, probs = (
            np.array([0, -1, 1]),
            np.array([1 - grid.slip, grid.slip / 2, grid.slip / 2]),
        )
    else:
        offsets, probs = np.array([0]), np.array([1.0])
    k = offsets.size
    dirs = (np.arange(4)[:, None] + offsets[None, :]) % 4  # (4, K)
    pos = np.broadcast_to(cells[:, None, None, :], (n, 4, k, 2))
    target = pos + ACTION_DELTAS[dirs][None]
    moved = _passable(chars, target)
    new = np.where(moved[..., None], target, pos)
    if grid.wind_noise:  # three wind outcomes after every move outcome: -1, 0, +1 cell
        k, probs = 3 * k, np.repeat(probs / 3.0, 3)
        new, moved = np.repeat(new, 3, axis=2), np.repeat(moved, 3, axis=2)
    if grid.wind is not None:  # pushed cell by cell, stopped by walls and edges
        w = np.broadcast_to(np.asarray(grid.wind)[cells[:, 1]][:, None, None], (n, 4, k))
        if grid.wind_noise:  # a column without wind stays calm
            w = w + np.where(w != 0, np.tile([-1, 0, 1], k // 3), 0)
        left = np.abs(w).copy()
        up = -np.sign(w)
        for _ in range(int(left.max(initial=0))):
            trial = new + np.stack([up, np.zeros_like(up)], axis=-1)
            ok = (left > 0) & _passable(chars, trial)
            new = np.where(ok[..., None], trial, new)
            left = np.where(ok, left - 1, 0)
    land = chars[new[..., 0], new[..., 1]]
    base = grid.step_reward if grid.bump_reward is None else grid.bump_reward
    reward = np.where(moved, grid.step_reward, base).astype(np.float64)
    reward += np.where(land == "G", grid.goal_reward, 0.0) + np.where(
        land == "H", grid.pit_reward, 0.0
    )
    terminated = np.isin(land, list("GTH"))
    next_state = state_of[new[..., 0], new[..., 1]]
    cliff = land == "X"
    next_state = np.where(cliff, start, next_state)
    reward = np.where(cliff, grid.cliff_reward, reward)
    prob = np.broadcast_to(probs, (n, 4, k)).astype(np.float64)

    own = chars[cells[:, 0], cells[:, 1]]
    for letter in "ABCDEF":  # every action in a teleport cell jumps to its destination
        src = np.flatnonzero(own == letter)
        if src.size:
            dst = state_of[tuple(np.argwhere(chars == letter.lower())[0])]
            next_state[src] = dst
            reward[src] = grid.teleport_rewards.get(letter, 0.0)
            terminated[src] = False
    absorbing = np.isin(own, list("GTH"))  # like FrozenLake: stay, 0 reward, terminated
    next_state[absorbing] = np.arange(n)[absorbing, None, None]
    reward[absorbing] = 0.0
    terminated[absorbing] = True

    model = GridModel(next_state, prob, reward, terminated, cells, state_of, start)
    _check_reachable(model, own)
    return model


def _check_reachable(model: GridModel, own: np.ndarray) -> None:
    goals = np.flatnonzero(np.isin(own, ["G", "T"]))
    if goals.size == 0:
        return
    n = model.n_states
    src = np.broadcast_to(np.arange(n)[:, None, None], model.next_state.shape)
    keep = model.prob > 0
    graph = sp.csr_matrix(
        (np.ones(int(keep.sum())), (src[keep], model.next_state[keep])), shape=(n, n)
    )
    seen = np.zeros(n, dtype=bool)
    seen[breadth_first_order(graph, model.start, directed=True, return_predecessors=False)] = True
    missing = goals[~seen[goals]]
    if missing.size:
        r, c = model.cells[missing[0]]
        sr, sc = model.cells[model.start]
        raise MapError(
            f"goal {str(own[missing[0]])!r} at row {r}, column {c} cannot be reached from "
            f"the start at row {sr}, column {sc} ({missing.size} unreachable goal "
            "cell(s)); open a path through the walls '#' or change the wind"
        )
