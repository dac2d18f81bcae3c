"""What :meth:`~agents.sb3_agent.SB3Agent.learn` wires around an SB3 model: monitored VecEnvs
and the two callbacks (training episode returns, validation evaluation).

The callback classes subclass SB3's, so they are defined on first use: importing this module
loads neither torch nor stable-baselines3.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import gymnasium as gym

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["as_monitored_vec", "callback_classes", "progress_callback"]


@lru_cache(maxsize=1)
def callback_classes() -> tuple[type, type]:
    """The two callback classes (defined on first use: they subclass SB3's)."""
    from stable_baselines3.common.callbacks import BaseCallback, EvalCallback

    class _EpisodeLog(BaseCallback):
        """Collects (timestep, return) of every finished training episode (from VecMonitor)."""

        def __init__(self) -> None:
            super().__init__()
            self.timesteps: list[int] = []
            self.returns: list[float] = []

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                ep = info.get("episode")
                if ep is not None:
                    self.timesteps.append(int(self.num_timesteps))
                    self.returns.append(float(ep["r"]))
            return True

    class _ValidationEval(EvalCallback):
        """SB3's EvalCallback that also evaluates the final weights when the last periodic
        evaluation fell before the end of training."""

        def _on_training_end(self) -> None:
            if (
                not self.evaluations_timesteps
                or self.evaluations_timesteps[-1] != self.num_timesteps
            ):
                self.n_calls = self.eval_freq  # the parent evaluates when n_calls % eval_freq == 0
                self._on_step()

    return _EpisodeLog, _ValidationEval


def as_monitored_vec(env: gym.Env | VecEnv) -> VecEnv:
    """A monitored VecEnv (episode returns for the logs; train and eval env wrapped alike)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

    if isinstance(env, VecEnv):
        vec = env
    else:
        plain: gym.Env = env  # the narrowed type, for the closure
        vec = DummyVecEnv([lambda: plain])
    return vec if isinstance(vec, VecMonitor) else VecMonitor(vec)


def progress_callback(total: int) -> object:
    """A callback drawing a tqdm bar of environment steps (on stderr, removed when done)."""
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm.auto import tqdm

    class _Progress(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=total, unit="step", leave=False, desc="training")

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return _Progress()
