"""The checks of `make lint` that guard the design, run by the test suite so CI enforces them:
the import-layer contracts (a new import circle or an upward import fails) and mypy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ("envs", "agents", "experiments", "supervised")


@pytest.fixture(scope="module")
def typecheck_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where qmml/<package> links to each source folder: how both tools see the
    code as the installed ``qmml.*`` packages."""
    root = tmp_path_factory.mktemp("typecheck")
    (root / "qmml").mkdir()
    for p in PACKAGES:
        (root / "qmml" / p).symlink_to(ROOT / p, target_is_directory=True)
    return root


def _tool(name: str) -> str:
    exe = BIN / name
    if not exe.exists() and shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return str(exe if exe.exists() else shutil.which(name))


def test_import_layer_contracts_are_kept(typecheck_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(typecheck_path)}
    out = subprocess.run(
        [_tool("lint-imports"), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=typecheck_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "BROKEN" not in out.stdout


@pytest.mark.slow
def test_mypy_is_clean(typecheck_path: Path) -> None:
    args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    args += ["--cache-dir", str(typecheck_path / ".mypy_cache")]
    # folders, not -p: with -p mypy takes the data folder supervised/data/ for the module
    # qmml.supervised.data (supervised/data.py)
    args += [str(typecheck_path / "qmml" / p) for p in PACKAGES]
    _tool("mypy")
    env = {**os.environ, "MYPYPATH": str(typecheck_path)}
    out = subprocess.run(
        args, cwd=typecheck_path, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout[-4000:]
