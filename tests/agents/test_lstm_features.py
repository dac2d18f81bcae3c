"""LSTMFeatures: output shapes on market-shaped observations, gradients through the LSTM."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from qmml.agents.lstm_features import LSTMFeatures, lstm_kwargs_for
from qmml.envs.market.features import ObservationLayout

W, N, F = 30, 2, 7  # window, assets, features per asset: like the market env's default
LAYOUT = ObservationLayout(W, N, tuple(f"f{i}" for i in range(F)))


def _box() -> gym.spaces.Box:
    return gym.spaces.Box(-50, 50, (LAYOUT.size,), np.float32)


def _dict() -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "window": gym.spaces.Box(-50, 50, (W, N * F), np.float32),
            "portfolio": gym.spaces.Box(-50, 50, (N + 1,), np.float32),
        }
    )


@pytest.mark.parametrize(("hidden", "layers", "lookback"), [(16, 1, None), (8, 2, 5)])
def test_flat_box_output_is_last_hidden_state_plus_portfolio(hidden, layers, lookback):
    torch.manual_seed(0)
    ext = LSTMFeatures(
        _box(), **lstm_kwargs_for(LAYOUT, hidden_size=hidden, num_layers=layers, lookback=lookback)
    )
    assert ext.features_dim == hidden + N + 1
    obs = torch.randn(5, LAYOUT.size)
    out = ext(obs)
    assert out.shape == (5, hidden + N + 1)
    # the tail is the portfolio block untouched (weights and cash go straight to the heads)
    torch.testing.assert_close(out[:, hidden:], obs[:, W * N * F :])
    # the head is the LSTM's last hidden state over the (last `lookback`) window rows
    seq = obs[:, : W * N * F].reshape(5, W, N * F)[:, W - (lookback or W) :]
    _, (h, _) = ext.lstm(seq)
    torch.testing.assert_close(out[:, :hidden], h[-1])


def test_lookback_ignores_older_rows():
    torch.manual_seed(0)
    ext = LSTMFeatures(_box(), window=W, step_features=N * F, lookback=4, hidden_size=8)
    obs = torch.randn(3, LAYOUT.size)
    changed = obs.clone()
    changed[:, : (W - 4) * N * F] += 10.0  # rows older than the lookback
    torch.testing.assert_close(ext(obs), ext(changed))
    changed[:, (W - 1) * N * F] += 1.0  # today's row matters
    assert not torch.allclose(ext(obs), ext(changed))


def test_dict_observation_matches_flat_layout():
    torch.manual_seed(0)
    flat = LSTMFeatures(_box(), window=W, step_features=N * F, hidden_size=12)
    torch.manual_seed(0)
    nested = LSTMFeatures(_dict(), hidden_size=12)
    obs = torch.randn(4, LAYOUT.size)
    as_dict = {"window": obs[:, : W * N * F].reshape(4, W, N * F), "portfolio": obs[:, W * N * F :]}
    assert nested.features_dim == flat.features_dim == 12 + N + 1
    torch.testing.assert_close(nested(as_dict), flat(obs))


def test_gradients_reach_the_lstm_weights():
    torch.manual_seed(0)
    ext = LSTMFeatures(_box(), window=W, step_features=N * F, hidden_size=8, num_layers=2)
    head = torch.nn.Linear(ext.features_dim, 1)
    loss = head(ext(torch.randn(6, LAYOUT.size))).pow(2).mean()
    loss.backward()
    names = {n for n, _ in ext.lstm.named_parameters()}
    assert {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"} <= names
    for name, p in ext.lstm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ppo_policy_uses_the_extractor_and_trains_it():
    from stable_baselines3 import PPO

    from qmml.envs.market.registration import make_synthetic_env

    env = make_synthetic_env(window=10, episode_length=40, random_start=True)
    kw = lstm_kwargs_for(env.layout, hidden_size=8)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={"features_extractor_class": LSTMFeatures, "features_extractor_kwargs": kw},
    )
    assert isinstance(model.policy.features_extractor, LSTMFeatures)
    before = model.policy.features_extractor.lstm.weight_ih_l0.detach().clone()
    model.learn(32)
    after = model.policy.features_extractor.lstm.weight_ih_l0.detach()
    assert not torch.equal(before, after)


@pytest.mark.parametrize(
    ("space", "kwargs", "match"),
    [
        (_box(), {}, "needs window= and step_features="),
        (_box(), {"window": 0, "step_features": 3}, r"window=0 is out of range; expected an int"),
        (_box(), {"window": 1000, "step_features": 14}, "observation size"),
        (_box(), {"window": W, "step_features": N * F, "lookback": W + 1}, "lookback"),
        (_box(), {"window": W, "step_features": N * F, "hidden_size": 0}, "hidden_size"),
        (gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (2,))}), {}, "expected 'window'"),
        (
            gym.spaces.Dict(
                {"window": gym.spaces.Box(0, 1, (2,)), "portfolio": gym.spaces.Box(0, 1, (2,))}
            ),
            {},
            "expected \\(W, F\\)",
        ),
        (gym.spaces.Discrete(3), {}, "flat Box or a Dict"),
    ],
)
def test_bad_spaces_and_sizes_raise(space, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMFeatures(space, **kwargs)
