"""Gridworlds from text maps (Sutton & Barto chapters 3-6): the map format (``maps``), the
exact transition model for dynamic programming (``model``) and the Gymnasium env (``env``)."""

from qmml.envs.gridworld.env import GridWorldEnv, make_grid, register_gridworld_envs
from qmml.envs.gridworld.maps import BUILTIN_MAPS, GridMap, MapError, builtin_map, parse_map
from qmml.envs.gridworld.model import GridModel, build_model

__all__ = [
    "BUILTIN_MAPS",
    "GridMap",
    "GridModel",
    "GridWorldEnv",
    "MapError",
    "build_model",
    "builtin_map",
    "make_grid",
    "parse_map",
    "register_gridworld_envs",
]
