"""Trading workloads: rule-based backtests (``baselines``) and RL agents walk-forward (``rl``),
with the walk-forward evaluation, report parts and Sharpe intervals they share."""
