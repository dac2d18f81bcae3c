"""Tests of the gridworld env, its maps and random mazes, and the Gambler's problem."""

from __future__ import annotations

import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import qmml.envs as envs
from qmml.envs.gambler import GamblersProblem
from qmml.envs.gridworld.env import GridWorldEnv, make_grid, register_gridworld_envs
from qmml.envs.gridworld.maps import (
    GridMap,
    MapError,
    builtin_map,
    load_map,
    parse_map,
    random_maze,
)
from qmml.envs.gridworld.model import build_model

GRID_IDS = [
    "qmml/GridWorld5x5-v0",
    "qmml/GridWorld4x4-v0",
    "qmml/CliffWalking-v0",
    "qmml/WindyGridWorld-v0",
    "qmml/WindyGridWorldStochastic-v0",
    "qmml/RandomMaze-v0",
]
LEFT, DOWN, RIGHT, UP = range(4)


def test_gridworld_ids_registered() -> None:
    assert register_gridworld_envs() == GRID_IDS
    assert set(GRID_IDS) <= set(envs.qmml_env_ids())


@pytest.mark.parametrize("env_id", GRID_IDS)
@pytest.mark.parametrize("render_mode", [None, "ansi", "rgb_array"])
def test_registered_env_passes_checkers(env_id: str, render_mode: str | None) -> None:
    env = gym.make(env_id, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a checker warning fails the test
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    env.close()


def _only(env: GridWorldEnv, s: int, a: int) -> tuple[float, int, float, bool]:
    (outcome,) = env.P[s][a]
    return outcome


def test_book_5x5_teleports_and_bumps() -> None:
    env = GridWorldEnv("5x5")
    a, a2, b, b2 = env.state(0, 1), env.state(4, 1), env.state(0, 3), env.state(2, 3)
    for act in range(4):  # every action in A (B) jumps to A' (B') paying +10 (+5)
        assert _only(env, a, act) == (1.0, a2, 10.0, False)
        assert _only(env, b, act) == (1.0, b2, 5.0, False)
    corner = env.state(4, 4)
    assert _only(env, corner, DOWN) == (1.0, corner, -1.0, False)  # off the grid: -1, stay
    assert _only(env, corner, UP) == (1.0, env.state(3, 4), 0.0, False)
    assert env.observation_space.n == 25


def test_cliff_sends_back_to_start_and_goal_terminates() -> None:
    env = GridWorldEnv("cliff")
    start = env.start_state
    assert env.cell(start) == (3, 0)
    assert env.observation_space.n == 4 * 12 - 10  # cliff cells are no states
    assert _only(env, start, RIGHT) == (1.0, start, -100.0, False)
    above_goal = env.state(2, 11)
    goal = env.state(3, 11)
    assert _only(env, above_goal, DOWN) == (1.0, goal, -1.0, True)
    assert _only(env, goal, LEFT) == (1.0, goal, 0.0, True)  # absorbing, like FrozenLake


def test_windy_pushes_up_by_the_column_left() -> None:
    env = GridWorldEnv("windy")
    # column 3 has wind 1: moving right from (3, 3) lands one row up in column 4
    assert _only(env, env.state(3, 3), RIGHT)[1] == env.state(2, 4)
    # column 6 has wind 2: from (1, 6) moving right lands at the top edge, not above it
    assert _only(env, env.state(1, 6), RIGHT)[1] == env.state(0, 7)
    # moving left from column 0 (no wind) bumps and stays
    assert _only(env, env.state(3, 0), LEFT) == (1.0, env.state(3, 0), -1.0, False)


def test_wind_and_walls_stop_the_push() -> None:
    env = GridWorldEnv(["..#", "...", "S.G"], wind=(0, 0, 3))
    # from (2, 1) moving right to (2, 2) is the goal; wind of column 1 is 0
    assert _only(env, env.state(2, 1), RIGHT)[1:] == (env.state(2, 2), -1.0, True)
    # from (1, 1) moving right to (1, 2): column 1 has no wind, so it stays there
    assert _only(env, env.state(1, 1), RIGHT)[1] == env.state(1, 2)
    # from (1, 2) moving left to (1, 1), then the wind of column 2 (3) pushes up to the top
    assert _only(env, env.state(1, 2), LEFT)[1] == env.state(0, 1)
    # from (1, 2) moving down: pushed up 3 from (2, 2)=goal... the wall at (0, 2) stops it at (1, 2)
    assert _only(env, env.state(1, 2), DOWN)[1] == env.state(1, 2)


def _outcomes(env: GridWorldEnv, s: int, a: int) -> dict[int, float]:
    """P[s][a] summed by next state (entries may repeat: calm columns, bumps)."""
    out: Counter[int] = Counter()
    for p, ns, _, _ in env.P[s][a]:
        out[ns] += p
    return {ns: pytest.approx(p) for ns, p in out.items()}


def test_stochastic_wind_varies_by_one_a_third_of_the_time() -> None:
    env = GridWorldEnv("windy", wind_noise=True)
    # column 3 has wind 1: moving right from (3, 3) is pushed up 0, 1 or 2 cells
    assert _outcomes(env, env.state(3, 3), RIGHT) == {
        env.state(3, 4): 1 / 3,
        env.state(2, 4): 1 / 3,
        env.state(1, 4): 1 / 3,
    }
    # column 6 has wind 2: from (3, 6) moving left, pushed up 1, 2 or 3 cells
    assert _outcomes(env, env.state(3, 6), LEFT) == {
        env.state(2, 5): 1 / 3,
        env.state(1, 5): 1 / 3,
        env.state(0, 5): 1 / 3,
    }
    # a calm column stays calm: column 0 has no wind
    assert _outcomes(env, env.state(3, 0), RIGHT) == {env.state(3, 1): 1.0}
    # sampling follows the model
    s = env.state(3, 3)
    env.reset(seed=0)
    counts: Counter[int] = Counter()
    for _ in range(3000):
        env.s = s
        counts[env.step(RIGHT)[0]] += 1
    for ns, p in _outcomes(env, s, RIGHT).items():
        assert counts[ns] / 3000 == pytest.approx(p.expected, abs=0.03)
    with pytest.raises(MapError, match="no wind"):
        GridWorldEnv("4x4", wind_noise=True)


def test_stochastic_wind_with_slip_multiplies_the_outcomes() -> None:
    env = GridWorldEnv("windy", wind_noise=True, slip=0.3)
    table = env.P[env.state(3, 3)][RIGHT]
    assert len(table) == 9 and sum(p for p, *_ in table) == pytest.approx(1.0)
    assert sorted({round(p, 12) for p, *_ in table}) == [round(0.05, 12), round(0.7 / 3, 12)]


def test_slip_probabilities_and_sampling_match_P() -> None:
    env = GridWorldEnv("4x4", slip=0.3)
    s = env.state(1, 1)
    table = env.P[s][RIGHT]
    assert [(p, ns) for p, ns, _, _ in table] == [
        (0.7, env.state(1, 2)),
        (0.15, env.state(2, 1)),
        (0.15, env.state(0, 1)),
    ]
    env.reset(seed=0)
    counts: Counter[int] = Counter()
    for _ in range(4000):
        env.s = s
        counts[env.step(RIGHT)[0]] += 1
    for p, ns, _, _ in table:
        assert counts[ns] / 4000 == pytest.approx(p, abs=0.03)


def test_step_and_reset_follow_the_model_and_are_seeded() -> None:
    def trajectory(seed: int) -> list[tuple[int, float, bool]]:
        env = GridWorldEnv("maze", maze_rooms=(4, 4), slip=0.2)
        obs, info = env.reset(seed=seed)
        assert obs == env.start_state and info == {"prob": 1.0}
        out = []
        for t in range(60):
            obs, r, term, trunc, info = env.step(t % 4)
            assert not trunc and info["prob"] in (0.8, 0.1)
            out.append((obs, r, term))
        return out

    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)


def test_ansi_and_rgb_render() -> None:
    env = GridWorldEnv("4x4", render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "\nT...\n.@..\n....\n...T\n"
    env.step(RIGHT)
    assert env.render() == "  (Right)\nT...\n.S@.\n....\n...T\n"
    img_env = GridWorldEnv(["S#G", "..."], render_mode="rgb_array")
    img_env.reset(seed=0)
    img = img_env.render()
    assert img.dtype == np.uint8 and img.shape == (64, 96, 3)  # 32 px cells
    assert tuple(img[16, 16]) == (220, 40, 40)  # the agent, in the start cell
    assert tuple(img[1, 1]) == (170, 200, 255)  # the start cell's border
    assert tuple(img[16, 48]) == (60, 60, 60)  # the wall
    with pytest.warns(UserWarning, match="render_mode"):
        assert GridWorldEnv("4x4").render() is None


def test_map_sources_agree(tmp_path) -> None:
    rows = ["S.#", "..G"]
    path = tmp_path / "tiny.txt"
    path.write_text("\n" + "\n".join(rows) + "\n\n")
    a, b = make_grid(rows), make_grid(str(path))
    c = make_grid("S.#\n..G")
    assert a.rows == b.rows == c.rows == tuple(rows)
    assert b.name == "tiny" and load_map(path, slip=0.1).slip == 0.1
    assert make_grid(a, slip=0.2).slip == 0.2 and a.slip == 0.0  # overrides copy
    assert make_grid("cliff", step_reward=-2.0).cliff_reward == -100.0
    assert builtin_map("windy").wind == (0, 0, 0, 1, 1, 1, 2, 2, 1, 0)


def test_state_and_cell_round_trip() -> None:
    env = GridWorldEnv(["S#", ".G"])
    assert env.observation_space.n == 3
    assert [env.cell(s) for s in range(3)] == [(0, 0), (1, 0), (1, 1)]
    assert env.state(1, 1) == 2
    with pytest.raises(ValueError, match="not a state"):
        env.state(0, 1)  # a wall
    with pytest.raises(ValueError, match="not a state"):
        env.state(5, 0)
    with pytest.raises(ValueError, match="action 4 is invalid"):
        env.step(4)


def test_random_maze_is_a_seeded_spanning_tree() -> None:
    a = random_maze((6, 9), seed=1)
    assert a.rows == random_maze((6, 9), seed=1).rows
    assert a.rows != random_maze((6, 9), seed=2).rows
    assert (a.height, a.width) == (13, 19)
    chars = a.chars
    assert chars[1, 1] == "S" and chars[11, 17] == "G"
    assert (chars != "#").sum() == 2 * 6 * 9 - 1  # rooms + (rooms - 1) passages: a tree
    full = random_maze((6, 9), seed=1, loops=1.0)
    inner_walls = 6 * 8 + 5 * 9  # every wall between two rooms
    assert (full.chars != "#").sum() == 6 * 9 + inner_walls
    assert random_maze(3, seed=0).height == 7


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 7),
    cols=st.integers(2, 7),
    seed=st.integers(0, 10**6),
    loops=st.floats(0, 1),
    slip=st.sampled_from([0.0, 0.2]),
)
def test_random_mazes_are_connected_and_stochastic(
    rows: int, cols: int, seed: int, loops: float, slip: float
) -> None:
    grid = random_maze((rows, cols), seed=seed, loops=loops, slip=slip)
    np.testing.assert_allclose(build_model(grid).prob.sum(axis=2), 1.0)
    # every cell is reachable from the start (the goal, made floor here, is absorbing and
    # may sit between the start and some rooms)
    model = build_model(grid.replace(rows=tuple(r.replace("G", ".") for r in grid.rows)))
    seen, frontier = {model.start}, [model.start]
    while frontier:
        s = frontier.pop()
        for ns in model.next_state[s].ravel():
            if int(ns) not in seen:
                seen.add(int(ns))
                frontier.append(int(ns))
    assert len(seen) == model.n_states


def test_gambler_table() -> None:
    g = GamblersProblem(p_heads=0.4)
    assert (g.n_states, g.n_actions) == (101, 51)
    assert g.P[0] == {} and g.P[100] == {}
    assert list(g.P[50]) == list(range(1, 51)) and list(g.P[99]) == [1]
    assert g.P[50][50] == [(0.4, 100, 1.0, True), (0.6, 0, 0.0, True)]
    assert g.P[30][10] == [(0.4, 40, 0.0, False), (0.6, 20, 0.0, False)]
    assert g.stakes(75) == range(1, 26)
    assert GamblersProblem(p_heads=1.0).P[10][5] == [(1.0, 15, 0.0, False)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p_heads": 1.5}, "p_heads=1.5"),
        ({"p_heads": float("nan")}, "p_heads"),
        ({"goal": 1}, "goal=1"),
        ({"goal": 10.0}, "goal=10.0"),
    ],
)
def test_gambler_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GamblersProblem(**kwargs)


@pytest.mark.parametrize(
    ("grid", "settings", "match"),
    [
        (["....", "..G."], {}, "no start 'S'"),
        (["S..", "..S", "G.."], {}, r"2 starts 'S' at \(row 0, column 0\), \(row 1, column 2\)"),
        (["S.G", ".Z."], {}, "unknown map character 'Z' at row 1, column 1"),
        (["S..G", ".."], {}, "ragged map: row 1 has 2 cells but row 0 has 4"),
        ([], {}, "the map is empty"),
        (["S#.", "##G"], {}, "goal 'G' at row 1, column 2 cannot be reached"),
        (["S.#T", "..#."], {}, "goal 'T' at row 0, column 3 cannot be reached"),
        (["SA..G"], {}, "teleport 'A' needs exactly one source 'A' and one destination 'a'"),
        (["S.G"], {"slip": 1.0}, r"slip=1.0 is out of range.*\[0, 1\)"),
        (["S.G"], {"slip": -0.1}, r"slip=-0.1 is out of range"),
        (["S.G"], {"wind": (0, 1)}, "wind has 2 entries but the map has 3 columns"),
        (["S.G"], {"step_reward": float("inf")}, "step_reward=inf must be a finite number"),
        (["S.G"], {"bump_reward": float("nan")}, "bump_reward"),
        ("nonexistent-map", {}, "unknown built-in map 'nonexistent-map'; choose from 5x5"),
    ],
)
def test_bad_maps_raise_clear_errors(grid: object, settings: dict, match: str) -> None:
    with pytest.raises(MapError, match=match):
        GridWorldEnv(grid, **settings)


def test_other_map_errors(tmp_path) -> None:
    with pytest.raises(MapError, match=r"map file .* not found"):
        load_map(tmp_path / "missing.txt")
    with pytest.raises(MapError, match="rooms=0 must be positive"):
        random_maze(0)
    with pytest.raises(MapError, match="at least 2 rooms"):
        random_maze((1, 1))
    with pytest.raises(MapError, match=r"loops=1\.5 is out of range"):
        random_maze(3, loops=1.5)
    with pytest.raises(MapError, match="teleport_rewards key 'Z'"):
        GridMap(("SG",), teleport_rewards={"Z": 1.0})
    with pytest.raises(MapError, match="map row 0 is a int"):
        parse_map([3])
    with pytest.raises(ValueError, match="render_mode='human' is not supported"):
        GridWorldEnv("4x4", render_mode="human")
    assert issubclass(MapError, ValueError)
