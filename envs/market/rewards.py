"""Rewards of the market environment, written once for one portfolio (floats) and for a
batch (arrays) through the same backend as the accounting kernel.

=====================  ===================================================================
name                   reward after each step (equity E, after costs)
=====================  ===================================================================
``log_return``         ``log(E_t+1 / E_t)``: sums to the log of final over initial equity
``differential_sharpe`` Moody & Saffell's differential Sharpe ratio (Moody et al. 1998,
                       "Reinforcement learning for trading"): the first-order change of an
                       exponentially weighted Sharpe ratio (rate ``dsr_eta``) caused by this
                       step's return ``R = E_t+1 / E_t - 1``:
                       ``(B dA - A dB / 2) / (B - A^2)^(3/2)`` with ``A``, ``B`` the moving
                       first and second moments of R (``B`` starts at ``dsr_init_vol^2``)
``risk_adjusted``      ``log(E_t+1 / E_t) - risk_penalty * max(0, DD_t+1 - DD_t)`` where
                       ``DD = 1 - E / max(E so far)``: each new loss below the peak costs
                       extra, recoveries are not rewarded twice
=====================  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["REWARDS", "RewardConfig", "reward_step"]

REWARDS = ("log_return", "differential_sharpe", "risk_adjusted")
_TINY = 1e-12  # equity floor inside log(): a wiped-out portfolio gets a large finite penalty


@dataclass(frozen=True)
class RewardConfig:
    """Which reward, and its parameters.

    Attributes:
        kind: one of :data:`REWARDS`.
        scale: multiplies every reward (e.g. 100 to read log returns in percent).
        dsr_eta: adaptation rate of the differential Sharpe ratio's moving moments.
        dsr_init_vol: prior daily volatility for the DSR's second moment.
        risk_penalty: weight of the drawdown increase in ``risk_adjusted``.
    """

    kind: str = "log_return"
    scale: float = 1.0
    dsr_eta: float = 0.01
    dsr_init_vol: float = 0.01
    risk_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in REWARDS:
            raise ValueError(f"reward={self.kind!r}: choose from {', '.join(REWARDS)}")
        if not 0 < self.dsr_eta < 1:
            raise ValueError(f"dsr_eta={self.dsr_eta}: must be in (0, 1)")
        if self.dsr_init_vol <= 0 or self.scale <= 0 or self.risk_penalty < 0:
            raise ValueError("dsr_init_vol and scale must be > 0, risk_penalty >= 0")

    def initial_state(self) -> tuple[float, float, float]:
        """(A, B, peak-relative placeholder) before the first step: A = 0, B = vol^2, DD = 0."""
        return 0.0, self.dsr_init_vol**2, 0.0


def reward_step(
    cfg: RewardConfig, e_old: Any, e_new: Any, peak: Any, state: tuple[Any, Any, Any], xp: Any
) -> tuple[Any, tuple[Any, Any, Any]]:
    """One step's reward and the updated moving state ``(A, B, drawdown)``.

    Args:
        cfg: the reward settings.
        e_old, e_new: equity before and after the step.
        peak: the highest equity so far, including ``e_new``.
        state: ``(A, B, DD)`` from the previous step.
        xp: the backend (:class:`~envs.market.execution.NP` or ``PY``).
    """
    a, b, dd = state
    log_ret = xp.log(xp.maximum(e_new, _TINY) / e_old)
    if cfg.kind == "log_return":
        return cfg.scale * log_ret, state
    if cfg.kind == "risk_adjusted":
        dd_new = 1.0 - e_new / peak
        worse = xp.maximum(dd_new - dd, 0.0)
        return cfg.scale * (log_ret - cfg.risk_penalty * worse), (a, b, dd_new)
    r = e_new / e_old - 1.0
    da, db = r - a, r * r - b
    var = b - a * a
    dsr = (b * da - 0.5 * a * db) / (xp.maximum(var, _TINY) * xp.sqrt(xp.maximum(var, _TINY)))
    dsr = xp.where(var > _TINY, dsr, 0.0)
    eta = cfg.dsr_eta
    return cfg.scale * dsr, (a + eta * da, b + eta * db, dd)
