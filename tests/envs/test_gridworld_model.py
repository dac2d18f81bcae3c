"""build_model against the per-outcome string formulation it replaced, bit for bit: every
built-in map with slip, bumps, wind and noisy wind, teleports, pits and cliffs, random mazes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmml.envs.gridworld.maps import GridMap, builtin_map, parse_map, random_maze
from qmml.envs.gridworld.model import ACTION_DELTAS, build_model

FIELDS = ("next_state", "prob", "reward", "terminated", "cells", "state_of")


def _passable(chars: np.ndarray, pos: np.ndarray) -> np.ndarray:
    h, w = chars.shape
    inside = (pos[..., 0] >= 0) & (pos[..., 0] < h) & (pos[..., 1] >= 0) & (pos[..., 1] < w)
    return inside & (chars[np.clip(pos[..., 0], 0, h - 1), np.clip(pos[..., 1], 0, w - 1)] != "#")


def reference_model(grid: GridMap) -> dict[str, np.ndarray]:
    """The previous build_model: (row, column) pairs and string compares per outcome."""
    chars = grid.chars
    is_open = (chars != "#") & (chars != "X")
    state_of = np.full(chars.shape, -1, dtype=np.int64)
    state_of[is_open] = np.arange(int(is_open.sum()))
    cells = np.argwhere(is_open)
    n = cells.shape[0]
    start = int(state_of[tuple(np.argwhere(chars == "S")[0])])
    if grid.slip > 0:
        offsets = np.array([0, -1, 1])
        probs = np.array([1 - grid.slip, grid.slip / 2, grid.slip / 2])
    else:
        offsets, probs = np.array([0]), np.array([1.0])
    k = offsets.size
    dirs = (np.arange(4)[:, None] + offsets[None, :]) % 4
    pos = np.broadcast_to(cells[:, None, None, :], (n, 4, k, 2))
    target = pos + ACTION_DELTAS[dirs][None]
    moved = _passable(chars, target)
    new = np.where(moved[..., None], target, pos)
    if grid.wind_noise:
        k, probs = 3 * k, np.repeat(probs / 3.0, 3)
        new, moved = np.repeat(new, 3, axis=2), np.repeat(moved, 3, axis=2)
    if grid.wind is not None:
        w = np.broadcast_to(np.asarray(grid.wind)[cells[:, 1]][:, None, None], (n, 4, k))
        if grid.wind_noise:
            w = w + np.where(w != 0, np.tile([-1, 0, 1], k // 3), 0)
        left, up = np.abs(w).copy(), -np.sign(w)
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
    cliff = land == "X"
    next_state = np.where(cliff, start, state_of[new[..., 0], new[..., 1]])
    reward = np.where(cliff, grid.cliff_reward, reward)
    own = chars[cells[:, 0], cells[:, 1]]
    for letter in "ABCDEF":
        src = np.flatnonzero(own == letter)
        if src.size:
            next_state[src] = state_of[tuple(np.argwhere(chars == letter.lower())[0])]
            reward[src] = grid.teleport_rewards.get(letter, 0.0)
            terminated[src] = False
    absorbing = np.isin(own, list("GTH"))
    next_state[absorbing] = np.arange(n)[absorbing, None, None]
    reward[absorbing] = 0.0
    terminated[absorbing] = True
    prob = np.broadcast_to(probs, (n, 4, k)).astype(np.float64)
    return dict(
        next_state=next_state,
        prob=prob,
        reward=reward,
        terminated=terminated,
        cells=cells,
        state_of=state_of,
        start=np.array(start),
    )


def assert_same_model(grid: GridMap) -> None:
    model, ref = build_model(grid), reference_model(grid)
    for f in FIELDS:
        got, want = np.asarray(getattr(model, f)), ref[f]
        assert got.dtype == want.dtype and got.shape == want.shape, f
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), f
    assert model.start == int(ref["start"])


TELEPORTS = ("S.#H.", ".X.G.", "A..#a", "#....", "..B.b", ".....")
VARIANTS = [{}, {"slip": 0.2}, {"bump_reward": -2.0, "slip": 0.1, "goal_reward": 3.0}]


@pytest.mark.parametrize("name", ["5x5", "4x4", "cliff", "windy"])
@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_builtin_maps_match_the_reference(name: str, variant: int) -> None:
    assert_same_model(builtin_map(name).replace(**VARIANTS[variant]))


@pytest.mark.parametrize(
    "settings",
    [
        {"wind_noise": True},
        {"wind_noise": True, "slip": 0.3},
        {"wind": (0, 2, -1, 0, 0), "teleport_rewards": {"A": 3.0}, "pit_reward": -7.0},
        {"wind": (0, 0, 2, 0, 1), "wind_noise": True, "slip": 0.2, "cliff_reward": -9.0},
    ],
)
def test_wind_teleports_pits_and_cliffs_match_the_reference(settings: dict) -> None:
    if "wind" in settings:
        assert_same_model(parse_map(TELEPORTS, **settings))
    else:
        assert_same_model(builtin_map("windy").replace(**settings))


@settings(max_examples=20, deadline=None)
@given(
    rows=st.integers(1, 12),
    cols=st.integers(2, 12),
    seed=st.integers(0, 10**6),
    loops=st.floats(0, 1),
    slip=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_random_mazes_match_the_reference(
    rows: int, cols: int, seed: int, loops: float, slip: float
) -> None:
    assert_same_model(random_maze((rows, cols), seed=seed, loops=loops, slip=slip))
