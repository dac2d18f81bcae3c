"""stable-baselines3 models behind the project's agent protocol (:class:`agents.protocol.Agent`).

:class:`SB3Agent` wraps PPO, DQN, A2C and sb3-contrib's ``RecurrentPPO``: ``learn(env, budget)``
trains for ``budget`` environment steps and returns ``self``; ``predict(obs)`` returns an
action. For ``RecurrentPPO`` the LSTM state is carried from one ``predict`` call to the next
and cleared by :meth:`SB3Agent.reset` (call it at the start of every episode). With an
``eval_env`` (the validation period) the model is evaluated every ``eval_freq`` steps by SB3's
``EvalCallback`` and, after training, the best checkpoint *on that env* replaces the last one;
the test period is never looked at. With ``log_dir`` SB3's own TensorBoard logger, the periodic
checkpoints, the best and the final model are written there.

Importing this module loads neither torch nor stable-baselines3: they load when a model is
built (:func:`algos`), so a report never pays for them. The factories a spec names are in
:mod:`qmml.agents.sb3`; the saved files and the pickle trust check of :meth:`SB3Agent.save`
and :meth:`SB3Agent.load` are in :mod:`qmml.agents.sb3_io`.
"""

from __future__ import annotations

import inspect
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from qmml.agents.sb3_io import save_files, trusted_settings
from qmml.agents.sb3_training import as_monitored_vec, callback_classes, progress_callback

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["ALGO_NAMES", "SB3Agent", "algos"]

ALGO_NAMES = ("ppo", "a2c", "dqn", "recurrent-ppo")


@lru_cache(maxsize=1)
def algos() -> dict[str, type[BaseAlgorithm]]:
    """The SB3 algorithm classes by name (imports torch and stable-baselines3)."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import A2C, DQN, PPO

    return {"ppo": PPO, "a2c": A2C, "dqn": DQN, "recurrent-ppo": RecurrentPPO}


_DEFAULT_POLICY = {"recurrent-ppo": "MlpLstmPolicy"}
# SB3's DQN default buffer (1M transitions) is far larger than any budget used here.
_DEFAULTS: dict[str, dict[str, Any]] = {"dqn": {"buffer_size": 100_000}}


class SB3Agent:
    """An SB3 algorithm as a project agent.

    Args:
        algo: ``"ppo"``, ``"a2c"``, ``"dqn"`` or ``"recurrent-ppo"``.
        policy: SB3 policy name (default ``MlpPolicy``; ``MlpLstmPolicy`` for recurrent-ppo).
        seed: seeds the model (torch, its action sampling) and the training env.
        features: ``"flat"`` (the policy's own extractor on the flat observation) or
            ``"lstm"`` (:class:`~agents.lstm_features.LSTMFeatures` over the market window;
            the env must have a ``layout``).
        lstm_hidden_size, lstm_layers, lookback: settings of the LSTM extractor.
        net_arch: hidden layers of the policy/value heads (SB3 ``net_arch``).
        hyperparams: keyword arguments of the SB3 algorithm (``learning_rate``, ``n_steps``...).
        eval_freq: evaluate on ``eval_env`` every this many environment steps (0: only at the
            end when an ``eval_env`` is given).
        n_eval_episodes: episodes per evaluation.
        checkpoint_freq: save a checkpoint every this many steps under ``log_dir`` (0: none).
        log_dir: folder for TensorBoard logs (``tensorboard/``), periodic checkpoints
            (``checkpoints/``), the best model on ``eval_env`` (``best/``), the last weights
            (``last_model.zip``) and the kept agent (``agent.zip`` + ``agent.json``, for
            :meth:`load`). None: no logs; the best model then goes to a temporary folder.
        device: torch device (``"cpu"``: these networks are too small to gain from a GPU).

    Attributes:
        model_: the trained SB3 model (after :meth:`learn` or :meth:`load`).
        eval_timesteps_, eval_returns_: validation returns during training.
        train_timesteps_, train_returns_: training episode returns.
        trained_timesteps_: environment steps actually taken (>= budget: whole rollouts).
        best_timestep_: the step of the checkpoint kept (None if no evaluation ran).

    Raises:
        ValueError: unknown algorithm, feature kind or hyper-parameter.
    """

    budget_unit = "timesteps"  # learn(env, budget): budget environment steps in total

    def __init__(
        self,
        algo: str = "ppo",
        policy: str | None = None,
        *,
        seed: int | None = None,
        features: str = "flat",
        lstm_hidden_size: int = 64,
        lstm_layers: int = 1,
        lookback: int | None = None,
        net_arch: list[int] | None = None,
        hyperparams: dict[str, Any] | None = None,
        eval_freq: int = 0,
        n_eval_episodes: int = 1,
        checkpoint_freq: int = 0,
        log_dir: str | Path | None = None,
        device: str = "cpu",
    ) -> None:
        if algo not in ALGO_NAMES:
            raise ValueError(f"algo={algo!r}: choose from {', '.join(ALGO_NAMES)}")
        if features not in ("flat", "lstm"):
            raise ValueError(f"features={features!r}: choose 'flat' or 'lstm'")
        if features == "lstm" and algo == "recurrent-ppo":
            raise ValueError("features='lstm' with recurrent-ppo stacks two LSTMs; use one")
        hyperparams = dict(hyperparams or {})
        accepted = set(inspect.signature(algos()[algo].__init__).parameters) - {
            "self",
            "policy",
            "env",
            "seed",
            "device",
            "tensorboard_log",
            "_init_setup_model",
        }
        bad = sorted(set(hyperparams) - accepted)
        if bad:
            raise ValueError(
                f"hyperparams {bad[0]!r} is not an argument of {algos()[algo].__name__}; choose "
                f"from {', '.join(sorted(accepted))}"
            )
        for name, v in (("eval_freq", eval_freq), ("checkpoint_freq", checkpoint_freq)):
            if v < 0:
                raise ValueError(f"{name}={v}: must be >= 0 (0 turns it off)")
        if n_eval_episodes < 1:
            raise ValueError(f"n_eval_episodes={n_eval_episodes}: must be >= 1")
        self.algo, self.policy, self.seed, self.features = algo, policy, seed, features
        self.lstm_hidden_size, self.lstm_layers, self.lookback = (
            lstm_hidden_size,
            lstm_layers,
            lookback,
        )
        self.net_arch, self.hyperparams = net_arch, hyperparams
        self.eval_freq, self.n_eval_episodes = eval_freq, n_eval_episodes
        self.checkpoint_freq, self.log_dir, self.device = checkpoint_freq, log_dir, device
        self.model_: BaseAlgorithm | None = None
        self.reset()

    @property
    def recurrent(self) -> bool:
        """Whether the policy keeps a hidden state between steps (RecurrentPPO)."""
        return self.algo == "recurrent-ppo"

    def set_params(self, **params: Any) -> SB3Agent:
        """Change constructor arguments (e.g. the seed or log folder of a run); returns self.

        Raises:
            ValueError: an argument the constructor does not take.
        """
        current = self.get_params()
        unknown = sorted(set(params) - set(current))
        if unknown:
            raise ValueError(
                f"unknown SB3Agent parameter {unknown[0]!r}; choose from {', '.join(current)}"
            )
        fitted = self.model_
        type(self).__init__(self, **{**current, **params})  # re-validates
        self.model_ = fitted
        return self

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-able), as scikit-learn estimators expose them."""
        names = [p for p in inspect.signature(SB3Agent.__init__).parameters if p != "self"]
        out = {n: getattr(self, n) for n in names}
        out["log_dir"] = None if self.log_dir is None else str(self.log_dir)
        return out

    # -- training -------------------------------------------------------------------------------
    def _policy_kwargs(self, env: gym.Env | VecEnv) -> dict[str, Any]:
        kw: dict[str, Any] = dict(self.hyperparams.get("policy_kwargs") or {})
        if self.net_arch is not None:
            kw["net_arch"] = list(self.net_arch)
        if self.features == "lstm":
            from qmml.agents.lstm_features import LSTMFeatures

            layout = _layout_of(env)
            kw["features_extractor_class"] = LSTMFeatures
            kw["features_extractor_kwargs"] = {
                "window": int(layout.window),
                "step_features": int(layout.n_assets * layout.n_features),
                "lookback": self.lookback,
                "hidden_size": self.lstm_hidden_size,
                "num_layers": self.lstm_layers,
            }
        return kw

    def learn(
        self,
        env: gym.Env | VecEnv,
        budget: int,
        *,
        eval_env: gym.Env | VecEnv | None = None,
        progress: bool = False,
    ) -> SB3Agent:
        """Train a fresh model for ``budget`` environment steps.

        Args:
            env: training env (a VecEnv steps several copies at once; SB3 wraps a plain env).
            budget: total environment steps (summed over a VecEnv's copies).
            eval_env: validation env; when given, the best checkpoint on it is kept.
            progress: show a bar of environment steps on stderr.

        Returns:
            self.
        """
        if budget < 1:
            raise ValueError(f"budget={budget}: must be >= 1 environment step")
        import torch
        from stable_baselines3.common.callbacks import CheckpointCallback

        torch.set_num_threads(1)  # small nets: threads only add noise and contention
        env = as_monitored_vec(env)
        log_dir = None if self.log_dir is None else Path(self.log_dir)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        params = {**_DEFAULTS.get(self.algo, {}), **self.hyperparams}
        params.pop("policy_kwargs", None)
        policy = self.policy or _DEFAULT_POLICY.get(self.algo, "MlpPolicy")
        model = algos()[self.algo](
            policy,
            env,
            seed=self.seed,
            device=self.device,
            tensorboard_log=None if log_dir is None else str(log_dir / "tensorboard"),
            policy_kwargs=self._policy_kwargs(env) or None,
            **params,
        )
        vec = model.get_env()
        assert vec is not None  # the model was built on env
        n_envs = vec.num_envs
        episode_log, validation_eval = callback_classes()
        episodes = episode_log()
        callbacks: list[Any] = [episodes]
        if progress:
            callbacks.append(progress_callback(budget))
        tmp = None
        evaluator = None
        if eval_env is not None:
            if log_dir is None:
                tmp = tempfile.TemporaryDirectory(prefix="qmml-sb3-")
                best_dir = Path(tmp.name)
            else:
                best_dir = log_dir / "best"
            freq = self.eval_freq or budget
            evaluator = validation_eval(
                as_monitored_vec(eval_env),
                n_eval_episodes=self.n_eval_episodes,
                eval_freq=max(freq // n_envs, 1),
                best_model_save_path=str(best_dir),
                log_path=str(best_dir),
                deterministic=True,
                verbose=0,
                warn=False,
            )
            callbacks.append(evaluator)
        if log_dir is not None and self.checkpoint_freq:
            callbacks.append(
                CheckpointCallback(
                    max(self.checkpoint_freq // n_envs, 1),
                    str(log_dir / "checkpoints"),
                    name_prefix=self.algo,
                )
            )
        try:
            model.learn(budget, callback=callbacks, tb_log_name=self.algo, progress_bar=False)
            self.trained_timesteps_ = int(model.num_timesteps)  # rollouts may overshoot budget
            if log_dir is not None:
                model.save(str(log_dir / "last_model"))  # the last weights, kept or not
            self.train_timesteps_ = np.asarray(episodes.timesteps, dtype=np.int64)
            self.train_returns_ = np.asarray(episodes.returns, dtype=np.float64)
            self.best_timestep_ = None
            if evaluator is not None and len(evaluator.evaluations_timesteps):
                self.eval_timesteps_ = np.asarray(evaluator.evaluations_timesteps, np.int64)
                self.eval_returns_ = np.asarray(evaluator.evaluations_results).mean(axis=1)
                best = int(np.argmax(self.eval_returns_))
                self.best_timestep_ = int(self.eval_timesteps_[best])
                model = algos()[self.algo].load(
                    str(Path(evaluator.best_model_save_path) / "best_model"), device=self.device
                )
            else:
                self.eval_timesteps_ = np.zeros(0, np.int64)
                self.eval_returns_ = np.zeros(0)
        finally:
            if tmp is not None:
                tmp.cleanup()
        self.model_ = model
        if log_dir is not None:
            self.save(log_dir / "agent")  # the weights kept (best on eval_env), reloadable
        self.reset()
        return self

    # -- acting ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the recurrent state: the next :meth:`predict` starts an episode."""
        self._state: tuple[np.ndarray, ...] | None = None
        self._episode_start = True

    def predict(
        self,
        obs: Any,
        *,
        deterministic: bool = True,
        episode_start: np.ndarray | None = None,
    ) -> Any:
        """The action for ``obs`` (one observation or a batch from a VecEnv).

        Args:
            obs: an observation, or a batch of them.
            deterministic: the policy's mode instead of a sample.
            episode_start: for a batch from a VecEnv, which entries begin an episode (its
                ``dones`` of the previous step); by default only the first call after
                :meth:`reset` starts one.
        """
        model = self._fitted()
        if not self.recurrent:
            action, _ = model.predict(obs, deterministic=deterministic)
            return action
        obs = np.asarray(obs) if not isinstance(obs, dict) else obs
        batch = _batch_size(obs, model.observation_space)
        if self._state is not None and self._state[0].shape[1] != batch:
            self._state, self._episode_start = None, True  # batch changed: a new rollout
        if episode_start is None:
            episode_start = np.full(batch, self._episode_start)
        action, self._state = model.predict(
            obs,
            state=self._state,
            episode_start=np.asarray(episode_start, dtype=bool),
            deterministic=deterministic,
        )
        self._episode_start = False
        return action

    def _fitted(self) -> BaseAlgorithm:
        if self.model_ is None:
            raise RuntimeError("call learn() or SB3Agent.load() before predict()")
        return self.model_

    # -- persistence (sb3_io: the files and the pickle trust check) ---------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model to ``<path>.zip`` and the adapter settings to ``<path>.json``."""
        return save_files(self._fitted(), self.get_params(), path)

    @classmethod
    def load(cls, path: str | Path, *, trust_pickle: bool = False) -> SB3Agent:
        """An agent saved by :meth:`save` (``path`` with or without ``.zip``).

        Security: an SB3 model file is a zip holding Python pickles; loading it (here,
        through stable-baselines3's ``load``) runs whatever code the file's author put in
        them. Load only files you made or whose source you trust, as you would run their
        script. This process's own :meth:`save` output loads freely; any other file needs
        ``trust_pickle=True``. No experiment spec names a model file to load.

        Args:
            path: the saved agent (``.zip`` beside its ``.json`` settings).
            trust_pickle: confirm the file is trusted (it may run code when loaded).

        Raises:
            FileNotFoundError: no settings file beside the model.
            PermissionError: a file this process did not write, without ``trust_pickle``.
        """
        settings, path = trusted_settings(path, trust_pickle=trust_pickle)
        agent = cls(**settings)
        agent.model_ = algos()[agent.algo].load(str(path), device=agent.device)
        return agent


def _layout_of(env: gym.Env | VecEnv) -> Any:
    """The market observation layout of ``env`` (a StockTradingEnv, MarketVecEnv or wrapper)."""
    from stable_baselines3.common.vec_env import VecEnv

    try:
        layout = getattr(env, "layout", None)  # VecEnvWrappers forward to the wrapped env
        if layout is None and isinstance(env, VecEnv):
            layout = env.get_attr("layout")[0]
        elif layout is None:
            layout = getattr(env.unwrapped, "layout", None)
    except AttributeError:
        layout = None
    if layout is None:
        raise ValueError(
            "features='lstm' needs a market env with a 'layout' attribute "
            "(StockTradingEnv or MarketVecEnv)"
        )
    return layout


def _batch_size(obs: Any, space: gym.Space) -> int:
    if isinstance(obs, dict):
        assert isinstance(space, gym.spaces.Dict)  # dict observations come from a Dict space
        key = next(iter(obs))
        return 1 if np.asarray(obs[key]).shape == space[key].shape else len(obs[key])
    return 1 if obs.shape == space.shape else obs.shape[0]
