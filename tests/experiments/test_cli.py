"""The qmml command: list, help, and --quick smoke runs of every built-in experiment."""

import re
import subprocess
import sys

import pytest

from qmml.experiments.cli import build_parser, builtin_experiments, main


def test_list_shows_experiments_envs_agents(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in builtin_experiments():
        assert name in out
    assert "qmml/GaussianBandit-v0" in out and "qmml/StockPicking-v0" in out
    assert "epsilon-greedy" in out and "thompson-gaussian" in out


@pytest.mark.parametrize("cmd", ["run", "report", "compare", "list"])
def test_help_teaches(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([cmd, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: qmml {cmd}" in out
    if cmd == "run":
        assert "examples:" in out and "--set" in out and "--quick" in out


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "qmml.experiments.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "qmml list" in proc.stdout


@pytest.mark.parametrize("name", ["bandit-testbed", "bandit-stocks"])
def test_quick_smoke_run(name, tmp_path, capsys):
    code = main(["run", name, "--quick", "--out", str(tmp_path), "--workers", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = re.search(r"report: (\S+report\.html)", out).group(1)
    html = open(report).read()
    assert html.count("data:image/png;base64,") >= 4
    assert "best first" in out
    # a second identical command resumes: nothing to run
    assert main(["run", name, "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "0 trial(s) run" in capsys.readouterr().out


def test_bandit_stocks_report_is_honest(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "bandit-stocks",
                "--quick",
                "--out",
                str(tmp_path),
                "--executor",
                "serial",
                "--no-progress",
            ]
        )
        == 0
    )
    html = open(re.search(r"report: (\S+)", capsys.readouterr().out).group(1)).read()
    assert "look-ahead oracle" in html and "Random pickers" in html
    assert "costs 5 bps per side" in html and "median p vs random" in html
