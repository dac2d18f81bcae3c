"""SB3Agent: the project's agent protocol around stable-baselines3 models."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from qmml.agents.lstm_features import LSTMFeatures
from qmml.agents.protocol import Agent
from qmml.agents.sb3 import SB3Agent
from qmml.envs.market.synthetic import gbm
from qmml.envs.market.vec_env import MarketVecEnv

ENV = {"window": 10, "action_mode": "discrete", "execution": {"allow_short": True}}
SMALL_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 2}


def _market():
    return gbm(400, seed=3)


def _train_env(seed=0, n=4):
    return MarketVecEnv(
        n, _market(), seed=seed, end="2000-12-29", random_start=True, episode_length=50, **ENV
    )


def _val_env():
    return MarketVecEnv(1, _market(), start="2001-01-01", end="2001-06-29", **ENV)


def _obs_batch():
    return MarketVecEnv(8, _market(), seed=7, random_start=True, episode_length=50, **ENV).reset()


def test_follows_the_agent_protocol():
    assert isinstance(SB3Agent("ppo"), Agent)


@pytest.mark.slow
def test_ppo_trains_thousands_of_steps_and_save_load_predicts_identically(tmp_path):
    torch.set_num_threads(1)
    env = gym.make("CartPole-v1")
    agent = SB3Agent("ppo", seed=0, hyperparams={"n_steps": 512, "batch_size": 128, "n_epochs": 4})
    assert agent.learn(env, 3000) is agent
    assert agent.model_.num_timesteps >= 3000
    obs = np.stack([env.observation_space.sample() for _ in range(64)])
    path = agent.save(tmp_path / "cartpole-ppo")
    loaded = SB3Agent.load(path)
    assert loaded.get_params() == agent.get_params()
    np.testing.assert_array_equal(agent.predict(obs), loaded.predict(obs))
    # and a trained policy is better than chance on CartPole (about 22 steps at random)
    lengths = []
    for ep in range(5):
        o, _ = env.reset(seed=100 + ep)
        done, n = False, 0
        while not done:
            o, _, term, trunc, _ = env.step(int(loaded.predict(o)))
            done, n = term or trunc, n + 1
        lengths.append(n)
    assert np.mean(lengths) > 40


@pytest.mark.parametrize("algo", ["ppo-lstm", "recurrent-ppo", "dqn"])
def test_market_agents_save_load_identically(tmp_path, algo):
    torch.set_num_threads(1)
    agent = {
        "ppo-lstm": lambda: SB3Agent(
            "ppo", seed=1, features="lstm", lstm_hidden_size=8, hyperparams=SMALL_PPO
        ),
        "recurrent-ppo": lambda: SB3Agent(
            "recurrent-ppo",
            seed=1,
            hyperparams={**SMALL_PPO, "policy_kwargs": {"lstm_hidden_size": 8}},
        ),
        "dqn": lambda: SB3Agent(
            "dqn", seed=1, hyperparams={"learning_starts": 64, "buffer_size": 1000}
        ),
    }[algo]()
    agent.learn(_train_env(), 256)
    if algo == "ppo-lstm":
        assert isinstance(agent.model_.policy.features_extractor, LSTMFeatures)
    obs = _obs_batch()
    loaded = SB3Agent.load(agent.save(tmp_path / algo))
    agent.reset()
    for _ in range(3):  # several calls: the recurrent state must evolve identically
        np.testing.assert_array_equal(agent.predict(obs), loaded.predict(obs))


def test_same_seed_same_predictions_with_pinned_threads():
    torch.set_num_threads(1)
    preds = []
    for _ in range(2):
        agent = SB3Agent("ppo", seed=5, features="lstm", lstm_hidden_size=8, hyperparams=SMALL_PPO)
        agent.learn(_train_env(seed=5), 256)
        preds.append(
            agent.model_.policy.predict_values(torch.as_tensor(_obs_batch())).detach().numpy()
        )
    np.testing.assert_array_equal(preds[0], preds[1])
    other = SB3Agent("ppo", seed=6, features="lstm", lstm_hidden_size=8, hyperparams=SMALL_PPO)
    other.learn(_train_env(seed=6), 256)
    assert not np.array_equal(
        preds[0], other.model_.policy.predict_values(torch.as_tensor(_obs_batch())).detach().numpy()
    )


def test_recurrent_state_carries_across_predict_and_reset_restarts_it():
    torch.set_num_threads(1)
    agent = SB3Agent(
        "recurrent-ppo", seed=2, hyperparams={**SMALL_PPO, "policy_kwargs": {"lstm_hidden_size": 8}}
    )
    agent.learn(_train_env(), 128)
    obs = _obs_batch()[:1]
    model = agent.model_
    first = agent.predict(obs[0])
    state_after_first = agent._state
    agent.predict(obs[0])
    assert not np.allclose(agent._state[0], state_after_first[0])  # state moved on
    # the adapter's second call equals SB3 called with the carried state by hand
    _, s1 = model.predict(obs, state=None, episode_start=np.ones(1, bool), deterministic=True)
    _, s2 = model.predict(obs, state=s1, episode_start=np.zeros(1, bool), deterministic=True)
    np.testing.assert_allclose(agent._state[0], s2[0])
    agent.reset()
    np.testing.assert_array_equal(agent.predict(obs[0]), first)
    np.testing.assert_allclose(agent._state[0], state_after_first[0])


def test_best_checkpoint_is_chosen_on_the_validation_env_and_logs_land_in_log_dir(tmp_path):
    torch.set_num_threads(1)
    agent = SB3Agent(
        "ppo",
        seed=0,
        hyperparams=SMALL_PPO,
        eval_freq=256,
        checkpoint_freq=256,
        log_dir=tmp_path / "run",
    )
    agent.learn(_train_env(), 1024, eval_env=_val_env())
    # evaluations at 256, 512, 768, 1024 (the last one forced at the end of training)
    np.testing.assert_array_equal(agent.eval_timesteps_, [256, 512, 768, 1024])
    best = int(np.argmax(agent.eval_returns_))
    assert agent.best_timestep_ == agent.eval_timesteps_[best]
    assert agent.trained_timesteps_ == 1024
    assert agent.model_.num_timesteps == agent.best_timestep_  # the best checkpoint was loaded
    # the kept model is the best one: replaying the validation period gives its return
    val = _val_env()
    obs, total, done = val.reset(), 0.0, False
    while not done:
        obs, r, d, _ = val.step(agent.predict(obs))
        total, done = total + float(r[0]), bool(d[0])
    assert total == pytest.approx(agent.eval_returns_[best], rel=1e-5, abs=1e-6)
    run = tmp_path / "run"
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert (run / "best" / "best_model.zip").is_file()
    assert (run / "last_model.zip").is_file()
    kept = SB3Agent.load(run / "agent")  # the kept (best) model, reloadable with its settings
    np.testing.assert_array_equal(kept.predict(_obs_batch()), agent.predict(_obs_batch()))
    assert len(list((run / "checkpoints").glob("*.zip"))) == 4


def test_dqn_on_a_multi_asset_market_needs_one_discrete_action():
    env = MarketVecEnv(2, gbm(300, 2, seed=1), seed=0, **ENV)
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete)
    with pytest.raises(AssertionError, match="Discrete"):
        SB3Agent("dqn").learn(env, 64)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algo": "sac"}, "algo='sac'"),
        ({"features": "cnn"}, "features='cnn'"),
        ({"algo": "recurrent-ppo", "features": "lstm"}, "stacks two LSTMs"),
        ({"hyperparams": {"n_step": 8}}, "'n_step' is not an argument of PPO"),
        ({"algo": "dqn", "hyperparams": {"n_epochs": 3}}, "'n_epochs' is not an argument of DQN"),
        ({"eval_freq": -1}, "eval_freq=-1"),
        ({"n_eval_episodes": 0}, "n_eval_episodes=0"),
    ],
)
def test_bad_settings_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SB3Agent(**kwargs)


def test_usage_errors():
    agent = SB3Agent("ppo")
    with pytest.raises(RuntimeError, match="call learn"):
        agent.predict(np.zeros(4))
    with pytest.raises(ValueError, match="budget=0"):
        agent.learn(gym.make("CartPole-v1"), 0)
    with pytest.raises(ValueError, match="unknown SB3Agent parameter 'sed'"):
        agent.set_params(sed=1)
    with pytest.raises(ValueError, match="needs a market env"):
        SB3Agent("ppo", features="lstm").learn(gym.make("CartPole-v1"), 64)
    assert agent.set_params(seed=3).seed == 3
