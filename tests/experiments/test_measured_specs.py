"""The specs behind the measured runs that benchmarks/README.md quotes stay valid."""

from pathlib import Path

import pytest

from qmml.experiments.cli import resolve_spec
from qmml.experiments.runner import plan_trials

SPECS = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "specs").glob("*.yaml"))


def test_there_are_measured_specs():
    assert len(SPECS) >= 3


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_measured_spec_validates_and_is_cited(path):
    spec = resolve_spec(str(path))
    assert spec.name == path.stem and plan_trials(spec)
    readme = (path.parents[1] / "README.md").read_text()
    assert f"specs/{path.name}" in readme, f"benchmarks/README.md does not cite {path.name}"
