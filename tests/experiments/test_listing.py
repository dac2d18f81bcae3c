"""`qmml list` from static tables: they match the live registries, and listing stays cheap."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym

import qmml.envs as envs
from qmml.experiments.listing import ENVIRONMENTS, WORKLOADS
from qmml.experiments.workload import get_workload
from qmml.experiments.workloads import BUILTIN


def test_static_workloads_match_the_registered_ones():
    """Each entry's module registers the workload, with the description and agent types the
    static table gives (imports every workload: torch, SB3, scikit-learn)."""
    assert BUILTIN == {kind: e.module for kind, e in WORKLOADS.items()}
    for kind, entry in WORKLOADS.items():
        w = get_workload(kind)
        assert w.name == kind
        assert type(w).__module__ == entry.module, kind
        live = (w.description, tuple(sorted(w.agent_types)))
        assert (entry.description, entry.agent_types) == live, (
            f"qmml.experiments.listing.WORKLOADS[{kind!r}] is stale; it should read "
            f"description={live[0]!r}, agent_types={' '.join(live[1])!r}"
        )


def test_static_environments_match_gymnasiums_registry():
    live = {i: gym.registry[i].entry_point for i in envs.qmml_env_ids()}
    assert ENVIRONMENTS == live


def test_list_imports_no_workload_and_no_heavy_library():
    code = (
        "import sys\n"
        "from qmml.experiments.cli import main\n"
        "assert main(['list']) == 0\n"
        "heavy = ('torch', 'matplotlib', 'sklearn', 'stable_baselines3', 'qmml.envs',\n"
        "         'qmml.experiments.workloads.bandits')\n"
        "bad = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "assert not bad, bad[:5]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "bandit-testbed" in proc.stdout and "thompson-gaussian" in proc.stdout


def test_list_shows_workloads_registered_in_this_process(capsys):
    from qmml.experiments.cli import main
    from qmml.experiments.workload import Workload, register

    class _Listed(Workload):
        name = "test-listed-probe"
        description = "registered by a test, not built in"
        agent_types = {"b-agent": dict, "a-agent": dict}

    register(_Listed())
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "test-listed-probe      registered by a test, not built in" in out
    assert "agents: a-agent, b-agent" in out
