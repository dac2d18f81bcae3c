"""An LSTM feature extractor for SB3 policies that read a market observation window.

The market environment's observation is ``concat(window.ravel(), portfolio)`` where ``window``
is (W, N, F) per-day features (last row = today) and ``portfolio`` the current weights and
cash (see :class:`envs.market.features.ObservationLayout`). :class:`LSTMFeatures` runs an LSTM
over the window, one step per day, and hands ``concat(h_last, portfolio)`` to the policy and
value heads. Unlike ``RecurrentPPO`` it keeps no state between environment steps: the window
itself is the memory, so rollouts and minibatches need no sequence bookkeeping (which is why it
trains several times faster).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from qmml.agents.checks import check_number

__all__ = ["LSTMFeatures", "lstm_kwargs_for"]


class LSTMFeatures(BaseFeaturesExtractor):
    """Last hidden state of an LSTM over the observation window, plus position and cash.

    Args:
        observation_space: either a flat ``Box`` of size ``window * step_features + P``
            (the market env's layout) or a ``Dict`` with ``"window"`` (W, step_features) and
            ``"portfolio"`` (P,) boxes.
        window: days in the observation's window (flat Box only; a Dict gives it by shape).
        step_features: features per day, ``n_assets * n_features`` (flat Box only).
        lookback: read only the last ``lookback`` days of the window (default: all).
        hidden_size: LSTM hidden units.
        num_layers: stacked LSTM layers.

    Raises:
        ValueError: a space that does not match the layout, or bad sizes.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        window: int | None = None,
        step_features: int | None = None,
        lookback: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 1,
    ) -> None:
        if isinstance(observation_space, gym.spaces.Dict):
            keys = set(observation_space.spaces)
            if keys != {"window", "portfolio"}:
                raise ValueError(
                    f"Dict observation keys {sorted(keys)}: expected 'window' (W, F) and "
                    "'portfolio' (P,)"
                )
            w_shape = observation_space["window"].shape
            p_shape = observation_space["portfolio"].shape
            if w_shape is None or p_shape is None or len(w_shape) != 2 or len(p_shape) != 1:
                raise ValueError(
                    f"window shape {w_shape} and portfolio shape {p_shape}: expected (W, F) "
                    "and (P,)"
                )
            window, step_features = int(w_shape[0]), int(w_shape[1])
            portfolio = int(p_shape[0])
            self._flat = False
        elif isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1:
            if window is None or step_features is None:
                raise ValueError(
                    "a flat Box observation needs window= and step_features= (the env's "
                    "layout.window and layout.n_assets * layout.n_features)"
                )
            check_number("window", window, low=1, integer=True, hint="days")
            check_number("step_features", step_features, low=1, integer=True)
            portfolio = int(observation_space.shape[0]) - window * step_features
            if portfolio < 0:
                raise ValueError(
                    f"observation size {observation_space.shape[0]} < window {window} x "
                    f"step_features {step_features}; pass the env's layout"
                )
            self._flat = True
        else:
            raise ValueError(
                f"LSTMFeatures reads a flat Box or a Dict(window, portfolio), got "
                f"{observation_space}"
            )
        lookback = window if lookback is None else lookback
        check_number("lookback", lookback, low=1, high=window, integer=True, hint="days <= window")
        check_number("hidden_size", hidden_size, low=1, integer=True)
        check_number("num_layers", num_layers, low=1, integer=True)
        super().__init__(observation_space, features_dim=hidden_size + portfolio)
        self.window, self.step_features, self.lookback = window, step_features, lookback
        self.portfolio_size = portfolio
        self.lstm = nn.LSTM(step_features, hidden_size, num_layers=num_layers, batch_first=True)

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        if self._flat:
            assert isinstance(observations, torch.Tensor)  # a flat Box gives one tensor
            obs = observations
            cut = self.window * self.step_features
            seq = obs[:, :cut].reshape(-1, self.window, self.step_features)  # (B, W, F)
            port = obs[:, cut:]
        else:
            assert isinstance(observations, dict)  # a Dict space gives a dict of tensors
            seq, port = observations["window"], observations["portfolio"]
        seq = seq[:, self.window - self.lookback :]
        _, (h, _) = self.lstm(seq)  # h: (layers, B, H)
        return torch.cat([h[-1], port], dim=1)


def lstm_kwargs_for(layout: object, **overrides: object) -> dict[str, object]:
    """``features_extractor_kwargs`` for a market env's ``layout`` (an ObservationLayout)."""
    window = int(layout.window)  # type: ignore[attr-defined]
    step = int(layout.n_assets * layout.n_features)  # type: ignore[attr-defined]
    return {"window": window, "step_features": step, **overrides}
