"""Every Gymnasium id the package registers passes Gymnasium's and SB3's env checkers."""

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import qmml.envs as envs

IDS = envs.qmml_env_ids()


def test_ids_are_namespaced_and_versioned():
    assert "qmml/GaussianBandit-v0" in IDS and "qmml/StockPicking-v0" in IDS
    for env_id in IDS:
        assert env_id.startswith("qmml/") and env_id.rsplit("-v", 1)[1].isdigit()


@pytest.mark.parametrize("env_id", IDS)
def test_env_passes_checkers(env_id):
    env = gym.make(env_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # checker warnings are failures
            gym_check_env(env.unwrapped, skip_render_check=False)
            sb3_check_env(env.unwrapped, warn=True)
    finally:
        env.close()
