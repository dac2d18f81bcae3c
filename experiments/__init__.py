"""Experiments of qmml-lab: specs, the runner, the results store and reports.

The ``qmml`` command (``qmml.experiments.cli``) is the usual way in; the Python API is
:func:`experiments.runner.run_experiment` and :func:`experiments.report.build_report`.
"""

__all__ = ["cli", "report", "runner", "spec", "stats", "store", "workload"]
