"""The MDPs the gridworld workloads solve and learn: our gridworlds and random mazes, the
Gambler's problem, and Gymnasium's own toy-text envs, behind one ``env:`` section.

Also the helpers that turn a solved problem into the tidy curves the plots read back
(``value``, ``greedy_dirs`` and the ``layout_*`` of each state), so that a report never needs
the env again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field

from qmml.agents.mdp import MDPError, TabularMDP
from qmml.envs.gambler import GamblersProblem
from qmml.envs.gridworld.env import GridWorldEnv
from qmml.envs.gridworld.maps import MapError
from qmml.experiments.spec import SpecError
from qmml.experiments.workload import StrictModel

__all__ = [
    "Problem",
    "ProblemSection",
    "build_problem",
    "dirs_bitmask",
    "layout_curves",
    "most_likely_path",
]

# direction codes of the plots: 0 left, 1 down, 2 right, 3 up (our gridworld's actions)
_GYM_DIRS = {"FrozenLake": np.array([0, 1, 2, 3]), "CliffWalking": np.array([3, 2, 1, 0])}


class ProblemSection(StrictModel):
    """The ``env`` section shared by ``gridworld-dp`` and ``gridworld-control``.

    ``problem`` picks the MDP: ``gridworld`` (``map`` is a built-in name — 5x5, 4x4, cliff,
    windy — ``maze``, map rows or a map file; ``wind_noise`` makes the wind stochastic),
    ``gambler`` (Example 4.3) or ``gymnasium`` (``gym_id`` with ``gym_kwargs``, e.g.
    FrozenLake-v1 {map_name: 8x8}). ``gamma`` is the task's discount, used by planners and
    learners alike.
    """

    problem: Literal["gridworld", "gambler", "gymnasium"] = "gridworld"
    map: str | list[str] = "4x4"
    maze_rooms: int | tuple[int, int] = (8, 8)
    maze_seed: int | None = Field(default=None, ge=0)
    maze_loops: float = Field(default=0.0, ge=0, le=1)
    slip: float | None = None
    step_reward: float | None = None
    goal_reward: float | None = None
    wind_noise: bool | None = None  # stochastic wind on a windy map (Exercise 6.10)
    p_heads: float = Field(default=0.4, ge=0, le=1)
    gym_id: str = "FrozenLake-v1"
    gym_kwargs: dict[str, Any] = Field(default_factory=dict)
    gamma: float = Field(default=0.9, ge=0, le=1)


@dataclass
class Problem:
    """A built problem: its MDP, how episodes start, and how to draw it.

    Attributes:
        label: short description for notes.
        mdp: the compiled MDP.
        initial: (S,) initial-state distribution (None for the Gambler's problem).
        env: a fresh Gymnasium env of the problem (None for the Gambler's problem).
        layout: (row, col) of each state and the whole map as a (height, width) array of
            cell characters, or None when the states are no grid.
        dirs: direction code (0 left, 1 down, 2 right, 3 up) of each action, or None.
    """

    label: str
    mdp: TabularMDP
    initial: np.ndarray | None
    env: gym.Env | None
    layout: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    dirs: np.ndarray | None


def _maze_seed(cfg: ProblemSection, seed: np.random.SeedSequence | None) -> int:
    if cfg.maze_seed is not None:
        return cfg.maze_seed
    if seed is None:
        return 0
    return int(np.random.default_rng(seed).integers(2**31 - 1))


def build_problem(cfg: ProblemSection, seed: np.random.SeedSequence | None = None) -> Problem:
    """Build the problem of an ``env`` section; a maze without ``maze_seed`` draws its layout
    from ``seed`` (every agent of a seed index sees the same maze).

    Raises:
        SpecError: an invalid map, setting or Gymnasium id, or an env without a ``P`` table.
    """
    try:
        if cfg.problem == "gambler":
            g = GamblersProblem(p_heads=cfg.p_heads)
            return Problem(
                f"gambler p_h={cfg.p_heads:g}",
                TabularMDP.from_P(g.P, g.n_states, g.n_actions),
                None,
                None,
                None,
                None,
            )
        if cfg.problem == "gridworld":
            env = GridWorldEnv(
                cfg.map if isinstance(cfg.map, str) else list(cfg.map),
                maze_rooms=cfg.maze_rooms,
                maze_seed=_maze_seed(cfg, seed),
                maze_loops=cfg.maze_loops,
                slip=cfg.slip,
                step_reward=cfg.step_reward,
                goal_reward=cfg.goal_reward,
                wind_noise=cfg.wind_noise,
            )
            m = env.model()
            initial = np.zeros(m.n_states)
            initial[m.start] = 1.0
            return Problem(
                env.grid.name,
                TabularMDP.from_env(env),
                initial,
                env,
                (m.cells[:, 0], m.cells[:, 1], env.grid.chars),
                np.arange(4),
            )
        return _gym_problem(cfg)
    except (MapError, MDPError) as err:
        raise SpecError(f"env: {err}") from None


def _gym_problem(cfg: ProblemSection) -> Problem:
    try:
        env = gym.make(cfg.gym_id, **cfg.gym_kwargs)
    except Exception as err:  # gym raises its own error types for unknown ids and kwargs
        raise SpecError(
            f"env.gym_id: cannot make {cfg.gym_id!r} with {cfg.gym_kwargs}: {err}"
        ) from None
    base: Any = env.unwrapped  # a toy-text env: P, desc or shape depend on its family
    if not hasattr(base, "P"):
        raise SpecError(
            f"env.gym_id: {cfg.gym_id!r} has no tabular model P; use a toy-text "
            "env such as FrozenLake-v1, CliffWalking-v1 or Taxi-v4"
        )
    mdp = TabularMDP.from_env(env)
    initial = np.asarray(
        getattr(base, "initial_state_distrib", np.eye(mdp.n_states)[0]), dtype=np.float64
    )
    layout, dirs = None, None
    family = type(base).__name__.removesuffix("Env")
    if family == "FrozenLake":
        desc = np.asarray(base.desc).astype(str)
        desc = np.where(desc == "F", ".", desc)
        rows, cols = np.divmod(np.arange(mdp.n_states), desc.shape[1])
        layout = (rows, cols, desc)
    elif family == "CliffWalking":
        h, w = base.shape
        chars = np.full((h, w), ".")
        chars[h - 1, 1:-1], chars[h - 1, 0], chars[h - 1, -1] = "X", "S", "G"
        rows, cols = np.divmod(np.arange(mdp.n_states), w)
        layout = (rows, cols, chars)
    dirs = _GYM_DIRS.get(family)
    return Problem(cfg.gym_id, mdp, initial, env, layout, dirs)


def dirs_bitmask(ties: np.ndarray, dirs: np.ndarray | None) -> np.ndarray:
    """(S,) sum of 2**direction over each state's greedy actions (the arrows of a heatmap)."""
    if dirs is None:
        return np.zeros(ties.shape[0])
    weights = (2 ** dirs[: ties.shape[1]]).astype(np.float64)
    return ties[:, : weights.size] @ weights


def layout_curves(problem: Problem) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Curves as {metric: (steps, values)} that let plots redraw the grid from stored results
    alone: ``layout_row``/``layout_col`` per state (step = state), ``layout_map`` (the code
    point of every cell's character, step = row·width + column) and ``layout_shape`` (step 0:
    height, step 1: width)."""
    if problem.layout is None:
        return {}
    rows, cols, chars = problem.layout
    codes = np.array([ord(ch) for ch in chars.ravel()], dtype=np.float64)
    return {
        "layout_row": (np.arange(rows.size), rows),
        "layout_col": (np.arange(cols.size), cols),
        "layout_map": (np.arange(codes.size), codes),
        "layout_shape": (np.arange(2), np.asarray(chars.shape)),
    }


def most_likely_path(
    table: Any, policy: np.ndarray, start: int, max_steps: int = 1000
) -> np.ndarray:
    """States visited from ``start`` following ``policy`` and always the most likely outcome of
    the ``P`` table ``table``, up to the state where the episode ends (included), a repeated
    state or ``max_steps`` steps."""
    path, seen, s = [start], {start}, start
    for _ in range(max_steps):
        outcomes = table[s].get(int(policy[s]), [])
        if not outcomes:
            break
        _, s, _, done = max(outcomes, key=lambda o: o[0])
        path.append(int(s))
        if done or s in seen:
            break
        seen.add(int(s))
    return np.asarray(path, dtype=np.float64)
