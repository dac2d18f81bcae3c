"""Deep-RL control workloads on Gymnasium classics (``dqn_cartpole``)."""
