"""One catalogue of metric names: how a stored metric (``max_drawdown_pct``) reads in a report
(``max drawdown [%]``), and whether higher is better.

Stored names keep their units as suffixes (STYLE.md); reports show words and units. A metric
missing here is still named sensibly from its suffix.
"""

from __future__ import annotations

__all__ = ["LABELS", "metric_label"]

LABELS: dict[str, str] = {
    # trading
    "sharpe_ratio": "Sharpe ratio (annualised)",
    "sortino_ratio": "Sortino ratio (annualised)",
    "calmar_ratio": "Calmar ratio",
    "cagr_pct": "CAGR [%/year]",
    "total_return_pct": "total return [%]",
    "max_drawdown_pct": "max drawdown [%]",
    "annual_volatility_pct": "volatility [%/year]",
    "exposure_pct": "time in the market [%]",
    "turnover": "turnover [× equity/year]",
    "n_trades": "trades",
    "win_rate_pct": "winning trades [%]",
    "costs_pct": "costs [% of traded value]",
    "final_wealth": "final wealth [× start]",
    # bandits and RL
    "mean_reward": "mean reward per step",
    "pct_optimal": "optimal action [%]",
    "final_return": "final return",
    "mean_return": "mean episode return",
    "steps_to_target": "steps to the target",
    "start_value": "value of the start state",
    "start_gap": "gap to the optimum at the start",
    # supervised
    "test_accuracy": "held-out accuracy",
    "train_accuracy": "training accuracy",
    "test_rmse": "held-out RMSE",
    "test_r2": "held-out R²",
    "test_roc_auc": "held-out ROC AUC",
    "cv_rmse": "cross-validated RMSE",
    "val_nats_per_char": "held-out nats/char",
    "n_params": "parameters",
}

_SUFFIXES = (
    ("_pct", "%"),
    ("_wall_s", "s, wall clock"),
    ("_cpu_s", "CPU-s"),
    ("_bps", "bps"),
    ("_s", "s"),
)


def metric_label(name: str) -> str:
    """The report label of metric ``name``: the catalogue's, else words and a unit from its
    suffix (``epoch_wall_s`` → ``epoch [s, wall clock]``)."""
    if name in LABELS:
        return LABELS[name]
    for suffix, unit in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} [{unit}]"
    return name.replace("_", " ")
