"""The compiled one-asset simulation against the per-portfolio Python loop it replaced (kept
here as the slow reference), bit for bit, and the engine's choice of who decides in a batch."""

from __future__ import annotations

import numpy as np
import pytest

from qmml.agents.strategies import SmaCrossover
from qmml.envs.market import ExecutionModel
from qmml.envs.market.backtest.engine import _batches, backtest, backtest_batch
from qmml.envs.market.backtest.kernels import simulate_one_asset
from qmml.envs.market.backtest.simulation import _ffill_targets, _stop_when_bankrupt
from qmml.envs.market.execution import NP, PY, fill_orders, limit_weights
from qmml.envs.market.synthetic import gbm


def _reference(raw, force, fill_px, close, model):
    """The engine's one-asset path before the kernel: each portfolio through its own order
    days with the PY float kernel, state held in between, accounts frozen at bankruptcy."""
    k_steps, b, n = raw.shape
    tgt = limit_weights(_ffill_targets(raw).reshape(-1, n), model, NP).reshape(k_steps, b, n)
    prev = np.concatenate([np.zeros((1, b, n)), tgt[:-1]])
    costs, traded = np.zeros((k_steps, b)), np.zeros((k_steps, b))
    cash_h, units_h = np.empty((k_steps + 1, b)), np.zeros((k_steps + 1, b, n))
    fills = []
    c, s = model.commission, model.slippage
    for bi in range(b):
        ev = np.flatnonzero((tgt[:, bi, 0] != prev[:, bi, 0]) | force[:, bi])
        cash, units = float(model.initial_cash), 0.0
        cash_l, units_l = [cash], [units]
        for k in ev.tolist():
            old = units
            cash, units, cost, _, tv = fill_orders(
                cash,
                units,
                float(prev[k, bi, 0]),
                float(tgt[k, bi, 0]),
                float(fill_px[k]),
                bool(force[k, bi]),
                model,
                PY,
            )
            cash_l.append(cash)
            units_l.append(units)
            costs[k, bi], traded[k, bi] = cost, tv
            if units != old:
                d = units - old
                px = float(fill_px[k]) * (1.0 + s * PY.sign(d))
                fills.append((k, bi, d, px, c * abs(d) * px))
        state = np.searchsorted(ev + 1, np.arange(k_steps + 1), side="right")
        cash_h[:, bi], units_h[:, bi, 0] = np.array(cash_l)[state], np.array(units_l)[state]
    eq = np.empty((k_steps + 1, b))
    eq[0] = model.initial_cash
    eq[1:] = cash_h[1:] + (units_h[1:] * close[:, None, None]).sum(-1)
    _stop_when_bankrupt(eq, cash_h, units_h)
    return tgt[:, :, 0], eq, cash_h, units_h[:, :, 0], costs, traded, fills


MODELS = [
    ExecutionModel(),
    ExecutionModel(units="whole", commission_bps=7),
    ExecutionModel(slippage_bps=15, commission_bps=3),
    ExecutionModel(allow_short=True, slippage_bps=5, max_leverage=2.0),
    ExecutionModel(allow_short=True, units="whole", commission_bps=0, max_leverage=10.0),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_equals_the_python_loop(model: ExecutionModel, seed: int) -> None:
    rng = np.random.default_rng(seed)
    k_steps, b = 300, 7
    levels = np.array([-12.0, -1.0, -0.5, -0.0, 0.0, 0.3, 1.0, 4.0, 12.0])
    raw = np.where(rng.random((k_steps, b, 1)) < 0.08, rng.choice(levels, (k_steps, b, 1)), np.nan)
    force = rng.random((k_steps, b)) < 0.02
    path = 30.0 * np.exp(np.cumsum(rng.normal(0, 0.06, k_steps + 1)))  # wild: bankruptcies
    fill_px, close = path[:-1] * (1 + rng.normal(0, 0.01, k_steps)), path[1:]
    ref = _reference(raw, force, fill_px, close, model)
    block, fills, start = simulate_one_asset(
        raw,
        force,
        fill_px,
        close,
        model.weight_low,
        model.max_leverage,
        model.commission,
        model.slippage,
        model.units == "whole",
        model.initial_cash,
    )
    tgt, eq, cash, units, costs, traded, ref_fills = ref
    for got, want in (
        (block[0, :, :k_steps], tgt.T),
        (block[1], eq.T),
        (block[2], cash.T),
        (block[3], units.T),
        (block[4, :, :k_steps], costs.T),
        (block[5, :, :k_steps], traded.T),
    ):
        assert got.tobytes() == np.ascontiguousarray(want).tobytes()  # every bit, -0.0 too
    for bi in range(b):
        want_f = np.array([(f[0], 0, *f[2:]) for f in ref_fills if f[1] == bi]).reshape(-1, 5)
        assert fills[start[bi] : start[bi + 1]].tobytes() == want_f.astype(float).tobytes()
    if seed == 0 and model.max_leverage == 10.0:
        assert (eq <= 0).any()  # the bankrupt freeze is exercised


class _Doubled(SmaCrossover):
    """Overrides decide below the class that defines decide_batch."""

    def decide(self, window, features, cache=None):
        return 0.5 * super().decide(window, features, cache)


def test_a_subclass_overriding_decide_decides_alone() -> None:
    assert _batches(SmaCrossover) and not _batches(_Doubled)
    m = gbm(300, seed=7, sigma=0.3)
    ex = ExecutionModel(commission_bps=0)
    half, full = backtest_batch([_Doubled(5, 20), SmaCrossover(5, 20)], m, execution=ex)
    assert np.nanmax(half.targets) == 0.5 and np.nanmax(full.targets) == 1.0
    np.testing.assert_array_equal(half.targets, backtest(_Doubled(5, 20), m).targets)
