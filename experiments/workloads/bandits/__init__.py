"""Bandit workloads: the 10-armed testbed (``testbed``) and bandits picking stocks (``stocks``)."""
