"""Built-in workloads (the ``kind`` of a spec), imported only when a spec asks for one.

Importing every workload would load torch, SB3 and scikit-learn just to run a bandit, so the
registry maps each kind to its module and :func:`experiments.workload.get_workload` imports
it on first use. A new workload adds one entry to :data:`qmml.experiments.listing.WORKLOADS`
(its module, description and agent types; see ``experiments/README.md``).
"""

from __future__ import annotations

import importlib

from qmml.experiments.listing import WORKLOADS

__all__ = ["BUILTIN", "load", "load_all"]

# kind -> the module that registers it; the entries (with what `qmml list` shows) live in
# qmml.experiments.listing, so listing needs no workload import
BUILTIN: dict[str, str] = {kind: entry.module for kind, entry in WORKLOADS.items()}


def load(kind: str) -> bool:
    """Import the module of built-in workload ``kind`` (which registers it); False if unknown."""
    module = BUILTIN.get(kind)
    if module is None:
        return False
    importlib.import_module(module)
    return True


def load_all() -> None:
    """Import every built-in workload (slow: torch, SB3, scikit-learn; ``qmml list`` reads
    :mod:`qmml.experiments.listing` instead)."""
    for kind in BUILTIN:
        load(kind)
