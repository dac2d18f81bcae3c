"""The distribution installs one top-level name, ``qmml``, and the code imports itself by it.

``envs`` and ``agents`` are names of other PyPI distributions and ``experiments`` is every
research repository's folder name: installed as top-level packages they would overwrite, or be
shadowed by, a user's own.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "agents", "experiments", "supervised")


def _package_folders() -> set[str]:
    return {
        "qmml." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in PACKAGES
        for init in (ROOT / top).rglob("__init__.py")
    }


def test_pyproject_lists_every_package_folder() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(cfg["packages"]) == _package_folders(), "update [tool.setuptools] packages"
    assert cfg["package-dir"] == {f"qmml.{p}": p for p in PACKAGES}


def _bare_imports(path: Path) -> list[str]:
    """Imports of ``envs``/``agents``/... by their old top-level names in one file."""
    bad = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # entry points and lazily imported module paths: "envs.bandit:GaussianBanditEnv"
            head = node.value.split(":")[0]
            if head.isidentifier() or all(part.isidentifier() for part in head.split(".")):
                names = (
                    [head] if (ROOT / head.replace(".", "/")).with_suffix(".py").exists() else []
                )
        bad += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {n}"
            for n in names
            if n.split(".")[0] in PACKAGES
        ]
    return bad


def test_code_imports_itself_by_the_qmml_name() -> None:
    files = [p for top in (*PACKAGES, "tests", "benchmarks") for p in (ROOT / top).rglob("*.py")]
    bad = [b for f in files for b in _bare_imports(f)]
    assert not bad, "import these as qmml.<package>: " + "; ".join(bad)


@pytest.mark.slow
def test_wheel_has_one_top_level_name_and_works_from_elsewhere(tmp_path: Path) -> None:
    """Build the wheel, install it (no deps: they are this venv's) into a fresh target folder
    and import it from an unrelated directory, where the source folders are out of reach."""
    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ behind
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", *PACKAGES):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name)  # type: ignore[operator]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("qmml_lab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"qmml"}
    assert "qmml/envs/data/us_stocks_20_daily_close_1990_2022.csv.gz" in names
    assert "qmml/experiments/specs/bandit-testbed.yaml" in names
    assert "qmml/experiments/templates/report.html.j2" in names
    assert "qmml/supervised/data/mnist/t10k-images-idx3-ubyte.gz" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import gymnasium as gym, qmml.envs, qmml.experiments.cli as cli; "
        "assert qmml.envs.__file__.startswith(sys.argv[1]), qmml.envs.__file__; "
        "gym.make('qmml/GaussianBandit-v0'); "
        "from qmml.envs.market.sources import load_market; load_market('stocks20'); "
        "import importlib.util as u; assert u.find_spec('envs') is None; print('ok')"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", code, str(target)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_editable_install_imports_from_an_unrelated_directory(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import qmml.envs, qmml.supervised; print(qmml.envs.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert Path(run.stdout.strip()) == ROOT / "envs" / "__init__.py"
