"""The trading-rl workload: walk-forward folds, stitching, determinism, errors, a --quick run."""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qmml.envs.market.data import DataError
from qmml.envs.market.env import StockTradingEnv
from qmml.envs.market.sources import load_market
from qmml.envs.market.vec_env import FlatDiscrete, MarketVecEnv
from qmml.experiments.cli import main
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.runner import trial_context
from qmml.experiments.spec import SpecError, load_spec
from qmml.experiments.workload import expand_agents
from qmml.experiments.workloads.trading.rl import TradingRL, TradingRLSection, walk_forward_folds
from qmml.experiments.workloads.trading.walk_forward import FoldPath, stitch

SPECS = Path(__file__).resolve().parents[2] / "experiments" / "specs"
WL = TradingRL()


def _quick(*overrides: str):
    spec = apply_quick(load_spec(SPECS / "trading-rl.yaml"))
    return apply_overrides(spec, list(overrides)) if overrides else spec


def _agent(spec, name):
    return next(a for a in expand_agents(spec) if a.name == name)


def _ymd(date: str) -> int:
    return int(date.replace("-", ""))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    train=st.integers(2, 2500),
    val=st.integers(2, 600),
    test=st.integers(2, 900),
    extra_step=st.integers(0, 300),
    anchored=st.booleans(),
    max_folds=st.none() | st.integers(1, 20),
    start=st.integers(0, 3000),
)
def test_walk_forward_test_periods_never_overlap_train_or_validation(
    train, val, test, extra_step, anchored, max_folds, start
):
    dates = load_market("sp500-ohlcv").dates
    cfg = TradingRLSection(
        train_days=train,
        val_days=val,
        test_days=test,
        step_days=test + extra_step,
        anchored=anchored,
        max_folds=max_folds,
        start=str(dates[start].date()),
    )
    try:
        folds = walk_forward_folds(cfg)
    except DataError:
        assume(False)  # data too short for one fold: a SpecError in check (tested below)
    assert folds and (max_folds is None or len(folds) <= max_folds)
    for f in folds:
        tr, va, te = (pd.Timestamp(d) for d in (f.train[1], f.val[0], f.test[0]))
        assert pd.Timestamp(f.train[0]) <= tr < va <= pd.Timestamp(f.val[1]) < te
        assert te <= pd.Timestamp(f.test[1])
    # test periods are disjoint, in order: they stitch into one out-of-sample curve
    for a, b in itertools.pairwise(folds):
        assert pd.Timestamp(a.test[1]) < pd.Timestamp(b.test[0])


def test_training_and_validation_envs_never_reach_the_test_period():
    spec = load_spec(SPECS / "trading-rl.yaml")
    cfg = WL.env_config(spec)
    market = load_market(cfg.data)
    kw = {"window": cfg.window, "action_mode": "discrete"}
    for f in walk_forward_folds(cfg):
        train = MarketVecEnv(
            2,
            market,
            seed=0,
            start=f.train[0],
            end=f.train[1],
            random_start=True,
            episode_length=252,
            **kw,
        )
        val = StockTradingEnv(market, start=f.val[0], end=f.val[1], **kw)
        test = StockTradingEnv(market, start=f.test[0], end=f.test[1], **kw)
        # last bar = the last fill and mark; the first test decision only looks back
        assert market.dates[train.last_bar] <= pd.Timestamp(f.train[1])
        assert market.dates[val.last_bar] <= pd.Timestamp(f.val[1])
        assert val.last_bar < test.first_decision
        assert market.dates[test.first_decision] >= pd.Timestamp(f.test[0])


def test_stitch_compounds_the_test_periods_hand_computed():
    a = FoldPath(
        np.array([1, 2, 3]),
        np.array([100.0, 110.0, 121.0]),
        np.array([0, 1, 1.0]),
        np.array([100.0, 0.0]),
    )
    b = FoldPath(np.array([5, 6]), np.array([50.0, 45.0]), np.array([0, -1.0]), np.array([50.0]))
    s = stitch([a, b])
    np.testing.assert_array_equal(s.dates, [1, 2, 3, 6])
    np.testing.assert_allclose(s.equity, [1.0, 1.1, 1.21, 1.21 * 0.9])
    np.testing.assert_allclose(s.exposure, [0, 1, 1, -1])
    np.testing.assert_allclose(s.traded_value, [1.0, 0.0, 1.21])  # 50 of 50 at level 1.21


def test_flat_discrete_maps_one_action_to_each_combination():
    from qmml.envs.market.synthetic import gbm

    venv = MarketVecEnv(
        3,
        gbm(200, 3, seed=0),
        seed=0,
        window=5,
        action_mode="discrete",
        execution={"allow_short": True},
    )
    flat = FlatDiscrete(venv)
    assert flat.action_space.n == 27
    flat.reset()
    flat.step(np.array([0, 13, 26]))
    np.testing.assert_allclose(venv._prev_w, [[-1 / 3] * 3, [0.0] * 3, [1 / 3] * 3])
    assert flat.layout is venv.layout  # attributes reach the market env (LSTM extractor)


def test_strategy_trial_stays_inside_the_test_periods():
    spec = _quick()
    res = WL.run_trial(spec, _agent(spec, "buy-and-hold"), trial_context(spec, 0))
    folds = walk_forward_folds(WL.env_config(spec))
    assert len(folds) == 2
    steps = res.curves.loc[res.curves["metric"] == "equity", "step"].to_numpy()
    inside = np.zeros(len(steps), bool)
    for f in folds:
        inside |= (steps >= _ymd(f.test[0])) & (steps <= _ymd(f.test[1]))
    assert inside.all()
    eq = res.curves.loc[res.curves["metric"] == "equity", "value"].to_numpy()
    assert eq[0] == 1.0
    sc = dict(zip(res.scalars["metric"], res.scalars["value"], strict=True))
    assert {
        "sharpe_ratio",
        "sortino_ratio",
        "cagr_pct",
        "max_drawdown_pct",
        "turnover_annual",
    } <= set(sc)
    assert sc["max_drawdown_pct"] <= 0
    # buy-and-hold buys once per test period: turnover = 1 round of entry per period
    years = (len(eq) - 1) / 252
    assert sc["turnover_annual"] == pytest.approx(len(folds) / years, rel=0.05)


@pytest.mark.slow
def test_same_seed_same_results_with_pinned_threads(tmp_path):
    torch.set_num_threads(1)
    spec = _quick(
        "env.max_folds=1",
        "budget.timesteps=64",
        "budget.eval_freq=64",
        f"budget.log_dir={tmp_path}",
    )
    agent = _agent(spec, "ppo-lstm")
    one = WL.run_trial(spec, agent, trial_context(spec, 0))
    two = WL.run_trial(spec, agent, trial_context(spec, 0))
    pd.testing.assert_frame_equal(one.curves, two.curves)
    pd.testing.assert_frame_equal(one.scalars, two.scalars)
    other = WL.run_trial(spec, agent, trial_context(spec, 1))
    assert not one.curves["value"].equals(other.curves["value"])
    assert Path(one.info["log_dir"]).is_relative_to(tmp_path)
    assert list(Path(one.info["log_dir"]).rglob("events.out.tfevents.*"))


def test_dqn_on_the_portfolio_variant_trades_several_assets(tmp_path):
    torch.set_num_threads(1)
    spec = apply_overrides(
        apply_quick(load_spec(SPECS / "trading-rl-portfolio.yaml")),
        [
            "env.max_folds=1",
            "budget.timesteps=96",
            "budget.eval_freq=96",
            f"budget.log_dir={tmp_path}",
        ],
    )
    res = WL.run_trial(spec, _agent(spec, "dqn"), trial_context(spec, 0))
    exposure = res.curves.loc[res.curves["metric"] == "exposure", "value"].to_numpy()
    # long-only, weight 1/5 per asset: the net exposure is a multiple of 0.2 in [0, 1]
    assert exposure.min() >= -1e-9 and exposure.max() <= 1 + 1e-9
    assert np.isfinite(res.scalars["value"]).all()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            ["env.train_days=6000"],
            r"needs train_days \+ val_days \+ test_days = 6\d+ days but "
            r"sp500-ohlcv has 5031",
        ),
        (
            ["env.window=900", "env.train_days=800", "env.max_folds=null"],
            r"fold \d+ train period .* is empty for a window of 900 days",
        ),
        (["env.test_days=0"], r"bad value for 'env.test_days'"),
        (["env.start=2018-06-01"], r"walk-forward needs \d+ days for one fold but the data has"),
        (["env.data=sp501"], r"env.data: unknown data source 'sp501'"),
        (["env.data=bundled"], r"'bundled' is the old spelling; write data: stocks20"),
        (["env.features=[ret, rsi]"], r"features \['rsi'\]"),
        (
            ["agents.ppo-lstm.type=ppo-lstn"],
            r"unknown agent type 'ppo-lstn'.*did you mean "
            r"'ppo-lstm'",
        ),
        (["agents.ppo-mlp.hyperparams={n_step: 8}"], r"'n_step' is not an argument of PPO"),
        (["agents.dqn.env={action_mode: continuous}"], r"DQN needs discrete actions"),
    ],
)
def test_spec_errors_are_one_line(overrides, match):
    with pytest.raises(SpecError, match=match) as err:
        WL.validate(_quick(*overrides))
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_quick_run_builds_an_honest_report(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(
        [
            "run",
            "trading-rl",
            "--quick",
            "--out",
            str(out),
            "--executor",
            "serial",
            "--no-progress",
        ]
    )
    assert code == 0
    run = next((out / "trading-rl").iterdir())
    # SB3's TensorBoard logs and checkpoints land in the run folder
    assert list((run / "artifacts").rglob("events.out.tfevents.*"))
    assert list((run / "artifacts").rglob("*.zip"))
    summary = (run / "summary.md").read_text()
    assert "Out-of-sample Sharpe against buy-and-hold" in summary
    assert "P(beats buy-and-hold)" in summary and "Sharpe ratio over time" in summary
    assert ("No RL agent beats the baselines" in summary) or (" beat" in summary)
    assert "Costs on: 5 bps commission per side" in summary
    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert any("equity" in f for f in figures) and any("drawdown" in f for f in figures)
    assert any("position" in f for f in figures) and any("validation" in f for f in figures)
    curves = pd.read_parquet(run / "curves.parquet")
    assert {"equity", "drawdown_pct", "exposure", "price", "val_return"} <= set(curves["metric"])
    scalars = pd.read_csv(run / "scalars.csv")
    assert set(scalars["agent"]) >= {
        "ppo-lstm",
        "ppo-mlp",
        "recurrent-ppo",
        "dqn",
        "buy-and-hold",
        "sma-crossover",
    }
    assert (scalars.groupby("agent")["seed"].nunique() == 2).all()
    assert list((run / "artifacts").rglob("events.out.tfevents.*"))


def _ctx(sharpe: dict[str, list[float]]):
    from qmml.experiments.workload import PlotContext

    spec = load_spec(SPECS / "trading-rl.yaml")
    rows = [
        (f"{a}__{i}", a, i, "sharpe_ratio", v)
        for a, vals in sharpe.items()
        for i, v in enumerate(vals)
    ]
    scalars = pd.DataFrame(rows, columns=["trial", "agent", "seed", "metric", "value"])
    agents = {a.name: a for a in expand_agents(spec) if a.name in sharpe}
    return PlotContext(spec, pd.DataFrame(), scalars, agents)


def test_report_says_plainly_when_no_agent_beats_the_baselines():
    from qmml.experiments.workloads.trading.rl_report import comparison, notes

    ctx = _ctx(
        {
            "ppo-lstm": [0.2, 0.3, 0.4],
            "dqn": [0.9, 1.4, 0.7],
            "buy-and-hold": [0.8] * 3,
            "sma-crossover": [0.6] * 3,
        }
    )
    text = " ".join(notes(ctx))
    assert "No RL agent beats the baselines" in text
    assert "buy-and-hold (0.80)" in text
    assert "dqn has a higher mean Sharpe ratio, but the interval includes zero" in text
    table = comparison(ctx).set_index("agent")
    assert table.loc["ppo-lstm", "P(beats buy-and-hold)"] == 0.0
    assert table.loc["dqn", "P(beats buy-and-hold)"] == pytest.approx(2 / 3)
    # two rule-based strategies do not change with the seed: no P over seeds, no interval
    assert np.isnan(table.loc["sma-crossover", "P(beats best rule: buy-and-hold)"])
    assert np.isnan(table.loc["sma-crossover", "P(beats buy-and-hold)"])
    assert table.loc["sma-crossover", "Sharpe − buy-and-hold [95% CI]"] == "-0.2"


def test_report_names_an_agent_that_beats_both_baselines():
    from qmml.experiments.workloads.trading.rl_report import notes

    ctx = _ctx({"ppo-lstm": [1.5, 1.6, 1.7], "buy-and-hold": [0.8] * 3, "sma-crossover": [1.0] * 3})
    text = " ".join(notes(ctx))
    assert "ppo-lstm beats buy-and-hold (0.80) and sma-crossover (1.00)" in text
    assert "No RL agent" not in text
    assert "chosen on the test periods themselves" in text  # the best rule is flattered


def test_an_agent_that_never_trades_has_the_backtesters_metrics():
    """One definition: a flat curve's Sharpe is NaN, as in the backtester; exposure is the
    share of bars holding any position (a hedged book with zero net weight is exposed)."""
    from qmml.envs.market.backtest import metrics as mx
    from qmml.experiments.workloads.trading.walk_forward import summary_metrics

    flat = FoldPath(np.arange(5), np.full(5, 100.0), np.zeros(5), np.zeros(4), np.zeros((5, 2)))
    m = summary_metrics(flat)
    assert np.isnan(m["sharpe_ratio"]) and np.isnan(m["sortino_ratio"])
    assert np.isnan(mx.sharpe_ratio(mx.returns_of(flat.equity)))
    assert m["max_drawdown_pct"] == 0.0 and m["exposure_pct"] == 0.0
    assert m["turnover_annual"] == 0.0
    hedged = np.array([[0, 0], [1, -1], [1, -1], [0, 0], [0, 0]], dtype=float)
    m = summary_metrics(FoldPath(np.arange(5), np.full(5, 100.0), np.zeros(5), np.zeros(4), hedged))
    assert m["exposure_pct"] == mx.exposure_pct(hedged[1:]) == 50.0


def test_importing_the_workload_loads_no_torch():
    """`qmml report` on a trading-rl run must not pay for torch or SB3."""
    import subprocess
    import sys

    code = (
        "import sys, qmml.experiments.workloads.trading.rl, "
        "qmml.experiments.workloads.trading.rl_report; "
        "assert 'torch' not in sys.modules and 'stable_baselines3' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('torch', 'stable')))[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_old_market_key_is_a_one_line_error():
    from qmml.experiments.workloads.trading.section import MarketSection

    spec = _quick()
    old = {k: v for k, v in spec.env.items() if k != "data"} | {"market": "sp500-ohlcv"}
    with pytest.raises(SpecError, match=r"the key 'market' is now 'data'; write data: sp500-ohlcv"):
        WL.env_config(spec.model_copy(update={"env": old}))
    assert MarketSection(data="nasdaq-ohlcv").data == "nasdaq-ohlcv"


def test_folds_end_on_the_last_day_unless_a_start_is_given():
    dates = load_market("sp500-ohlcv").dates
    folds = walk_forward_folds(TradingRLSection(max_folds=5))
    assert folds[-1].test[1] == str(dates[-1].date())  # the most recent data is tested
    assert len(folds) == 5
    started = walk_forward_folds(TradingRLSection(start="1999-01-04"))
    assert started[0].train[0] == "1999-01-04"
    anchored = walk_forward_folds(TradingRLSection(anchored=True))
    assert {f.train[0] for f in anchored} == {str(dates[0].date())}


def test_the_random_strategy_is_never_the_best_rule():
    from qmml.experiments.workloads.trading.rl_report import comparison, notes

    ctx = _ctx(
        {
            "dqn": [0.1, 0.2],
            "buy-and-hold": [0.4] * 2,
            "random": [0.9, 0.8],
            "sma-crossover": [0.3] * 2,
        }
    )
    assert "P(beats best rule: buy-and-hold)" in comparison(ctx).columns
    assert "above buy-and-hold (0.40) with" in " ".join(notes(ctx))
