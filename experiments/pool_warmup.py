"""Imported last by the process pool's fork server (see :mod:`qmml.experiments.executors`),
after the workload's module: sets up, once, what the first trial would otherwise set up in
every worker forked from it.

Today that is numba's typing and target contexts: the first call of any compiled kernel in a
process loads numba's lowering registries and LLVM (about 0.25 CPU-s, ten trials' worth of a
bandit sweep), whether or not the kernel's machine code comes from the on-disk cache. Nothing
happens for a workload that does not use numba.
"""

from __future__ import annotations

import sys

__all__ = ["warm_up"]


def warm_up() -> None:
    """Initialise numba's CPU contexts if numba is loaded; a numba without them is skipped."""
    if "numba" not in sys.modules:
        return
    try:
        from numba.core.registry import cpu_target

        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()
    except Exception:  # an internal API of numba: a version without it only loses the warm-up
        return


warm_up()
