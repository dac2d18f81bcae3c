"""Built-in workloads: importing this package registers them (see ``qmml list``)."""

from experiments.workloads import bandit_stocks, bandit_testbed

__all__ = ["bandit_stocks", "bandit_testbed"]
