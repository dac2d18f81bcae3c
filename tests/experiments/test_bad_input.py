"""Bad user input at every entry point that reads it (``qmml run``, ``qmml backtest``, the
Python loaders): one line on stderr, exit status 2, no traceback, nothing finished lost.

Classes of the robustness issue covered here: 1 (OS and format errors on data files), 7
(messages that blame the right thing), 8 (user tables with gaps), 10 (pickled models). Class
6 (silent misreads) is in ``tests/envs/market/test_misreads.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qmml.envs.market import data as market_data
from qmml.envs.market import sources
from qmml.envs.market.yahoo import download
from qmml.experiments.cli import main
from qmml.supervised import data as sup_data

# -- damaged files: every kind, every entry point ---------------------------------------------
PRICES = "Date,AAA,BBB\n" + "".join(
    f"2020-01-{d:02d},{10 + d},{20 + d}\n"
    for d in range(1, 29)
    if pd.Timestamp(2020, 1, d).weekday() < 5
)
TABLE = "x,z,y\n" + "".join(f"{i},{i % 3},{2 * i + 1}\n" for i in range(40))


def _damage(tmp_path: Path, kind: str, good: str) -> tuple[Path, str]:
    """A damaged data file of ``kind`` and a regex its error line must match."""
    if kind == "folder":
        p = tmp_path / "data.csv"
        p.mkdir()
        return p, "is a folder, not a file"
    if kind == "not-gzip":
        p = tmp_path / "data.csv.gz"
        p.write_text(good)
        return p, r"cannot read \(Not a gzipped file"
    if kind == "truncated-gzip":
        p = tmp_path / "data.csv.gz"
        p.write_bytes(gzip.compress(good.encode())[:40])
        return p, r"cannot read \(.*(ended|end-of-stream|EOF|truncated)"
    if kind == "binary":
        p = tmp_path / "data.csv"
        p.write_bytes(bytes(range(256)) * 40)
        return p, "cannot read as CSV"
    if kind == "empty":
        p = tmp_path / "data.csv"
        p.write_text("")
        return p, "the file is empty"
    if kind == "unreadable":
        p = tmp_path / "data.csv"
        p.write_text(good)
        return p, "permission denied; make the file readable"
    raise AssertionError(kind)


KINDS = ["folder", "not-gzip", "truncated-gzip", "binary", "empty", "unreadable"]


def _deny(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``path`` unreadable, also for root (chmod does not stop root)."""
    real = pd.read_csv

    def read_csv(p, *a, **k):
        if Path(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(pd, "read_csv", read_csv)


def _one_line(capsys: pytest.CaptureFixture[str], code: int, want: int = 2) -> str:
    err = capsys.readouterr().err
    assert code == want, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("qmml: error: ")
    return lines[0]


def _spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(tmp_path: Path, spec: dict) -> int:
    args = ["run", str(_spec(tmp_path, spec)), "--out", str(tmp_path / "runs")]
    return main([*args, "--executor", "serial", "--no-progress"])


def _bandit_spec(path: Path) -> dict:
    return {
        "name": "bs",
        "kind": "bandit-stocks",
        "seeds": 1,
        "budget": {"runs": 1, "random_pickers": 2},
        "env": {"data": str(path)},
        "agents": [{"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}}],
    }


def _baselines_spec(path: Path) -> dict:
    return {
        "name": "tb",
        "kind": "trading-baselines",
        "seeds": 1,
        "env": {"data": str(path), "start": None, "end": None},
        "agents": [{"name": "bh", "type": "buy-and-hold"}],
    }


def _table_spec(path: Path) -> dict:
    return {
        "name": "tab",
        "kind": "regression",
        "seeds": 1,
        "budget": {"cv_folds": 0},
        "env": {"dataset": "csv", "path": str(path), "target": "y"},
        "agents": [{"name": "ols", "type": "linear-closed-form"}],
    }


ENTRY_POINTS: dict[str, tuple[str, Callable[[Path, Path], int]]] = {
    # name: (data the entry point reads, run it on a path, returning the exit status)
    "qmml backtest --data": (
        PRICES,
        lambda tmp, p: main(
            ["backtest", "buy-and-hold", "--data", str(p), "--out", str(tmp / "runs")]
        ),
    ),
    "qmml run trading-baselines env.data": (
        PRICES,
        lambda tmp, p: _run(tmp, _baselines_spec(p)),
    ),
    "qmml run bandit-stocks env.data": (PRICES, lambda tmp, p: _run(tmp, _bandit_spec(p))),
    "qmml run regression env.path": (TABLE, lambda tmp, p: _run(tmp, _table_spec(p))),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_damaged_data_file_is_one_line_naming_path_and_cause(
    tmp_path, monkeypatch, capsys, entry, kind
) -> None:
    good, run = ENTRY_POINTS[entry]
    path, cause = _damage(tmp_path, kind, good)
    if kind == "unreadable":
        _deny(monkeypatch, path)
    line = _one_line(capsys, run(tmp_path, path))
    assert str(path) in line and re.search(cause, line), line
    assert "not found" not in line
    assert not list((tmp_path / "runs").rglob("trials/*"))  # refused before any trial


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "loader",
    ["envs.market.load_csv", "envs.market.load_market", "supervised.load_csv"],
)
def test_damaged_file_in_python_loaders_is_one_data_error(
    tmp_path, monkeypatch, loader, kind
) -> None:
    good = TABLE if loader.startswith("supervised") else PRICES
    path, cause = _damage(tmp_path, kind, good)
    if kind == "unreadable":
        _deny(monkeypatch, path)
    call = {
        "envs.market.load_csv": lambda: sources.load_csv(path),
        "envs.market.load_market": lambda: sources.load_market(str(path)),
        "supervised.load_csv": lambda: sup_data.load_csv(path, "y"),
    }[loader]
    error = sup_data.DataError if loader.startswith("supervised") else market_data.DataError
    with pytest.raises(error, match=cause) as info:
        call()
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("damage", [b"PAR1 not really", b"", b"\x00" * 64])
def test_damaged_yahoo_cache_file_is_one_line_with_the_fix(tmp_path, damage) -> None:
    path = tmp_path / "AAPL__2020-01-01__2020-12-31.parquet"
    path.write_bytes(damage)
    with pytest.raises(market_data.DataError, match=r"damaged Yahoo cache file.*delete it") as e:
        download(["AAPL"], start="2020-01-01", end="2020-12-31", cache=tmp_path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_a_finished_run_survives_a_later_bad_data_file(tmp_path, capsys) -> None:
    good = tmp_path / "good.csv"
    good.write_text(TABLE)
    spec = _table_spec(good)
    assert _run(tmp_path, spec) == 0
    capsys.readouterr()
    finished = {p: p.read_bytes() for p in (tmp_path / "runs").rglob("*") if p.is_file()}
    good.write_bytes(b"\x00\x01 not a table")  # the same path, now damaged
    _one_line(capsys, _run(tmp_path, spec))
    assert {p: p.read_bytes() for p in finished} == finished


# -- class 7: the message names what the user gave --------------------------------------------
@pytest.mark.parametrize(
    ("argv", "want", "never"),
    [
        (
            ["--tickers", "AAPL", "--start", "1950-01-01", "--end", "1960-01-01"],
            r"period 1950-01-01\.\.1960-01-01 .*outside the data 'stocks20' "
            r"\(1990-01-02\.\.2022-12-28\)",
            "1990-01-02 is after",
        ),
        (
            ["--tickers", "AAPL", "--start", "2022-06-01", "--end", "2022-01-01"],
            r"--start 2022-06-01 is after --end 2022-01-01; swap them",
            "data ends",
        ),
        (
            ["--data", "sp500-ohlcv", "--start", "1950-01-01", "--end", "1960-01-01"],
            r"period 1950-01-01\.\.1960-01-01 .*\(1999-01-04\.\.2018-12-31\)",
            "the start of the data",
        ),
        (
            ["--data", "sp500-ohlcv", "--start", "2030-01-01"],
            r"env.start 2030-01-01 is after the data ends: sp500-ohlcv covers "
            r"1999-01-04\.\.2018-12-31",
            "env.end",
        ),
        (["--tickers", "AAPX"], r"unknown ticker 'AAPX'.*did you mean 'AAPL'", "Traceback"),
        (["--data", "yahooo"], r"did you mean 'yahoo'", "not found"),
    ],
)
def test_backtest_range_errors_blame_the_users_input(tmp_path, capsys, argv, want, never):
    code = main(["backtest", "buy-and-hold", *argv, "--out", str(tmp_path / "runs")])
    line = _one_line(capsys, code)
    assert re.search(want, line), line
    assert never not in line


def test_spec_start_after_end_blames_the_spec_not_the_data(tmp_path, capsys) -> None:
    spec = _baselines_spec(Path("x"))
    spec["env"] = {"data": "stocks20", "tickers": ["AAPL"], "end": "2010-01-01"}
    line = _one_line(capsys, _run(tmp_path, spec))
    assert "env.start 2019-01-01 (the default) is after env.end 2010-01-01" in line


def test_trading_rl_gap_error_names_spec_keys_not_python_arguments(tmp_path, capsys) -> None:
    days = pd.bdate_range("2000-01-03", periods=400)
    rows = []
    for t in ("AAA", "BBB"):
        for i, d in enumerate(days):
            if t == "BBB" and i == 200:
                continue  # one missing day
            rows.append((d.date(), t, 10 + 0.01 * i))
    path = tmp_path / "gappy.csv"
    pd.DataFrame(rows, columns=["Date", "Ticker", "Close"]).to_csv(path, index=False)
    spec = {
        "name": "rl",
        "kind": "trading-rl",
        "seeds": 1,
        "env": {"data": str(path), "train_days": 100, "val_days": 50, "test_days": 50},
        "agents": [{"name": "bh", "type": "buy-and-hold"}],
    }
    line = _one_line(capsys, _run(tmp_path, spec))
    assert "1 missing close" in line and "env.tickers" in line and "fill='ffill'" not in line


# -- class 8: the user's table ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({}, r"2 missing value\(s\) in column\(s\) x, t .*env.impute"),
        ({"impute": "constant"}, "impute: constant needs fill_value"),
        ({"impute": "mean", "fill_value": 0}, "fill_value applies to impute: constant only"),
        ({"impute": "median", "features": ["x", "w"]}, r"features column 'w' not found"),
        ({"impute": "median", "drop": ["y"]}, "drop lists the target 'y'"),
        ({"impute": "mean", "target": "t"}, r"target 't' has 1 missing value\(s\)"),
        ({"impute": "sideways"}, "impute"),
    ],
)
def test_user_table_errors_are_one_line(tmp_path, capsys, env, want) -> None:
    path = tmp_path / "gaps.csv"
    df = pd.read_csv(io.StringIO(TABLE))
    df["t"] = df["y"].astype(float)
    df.loc[3, "x"] = np.nan
    df.loc[5, "t"] = np.nan
    df.to_csv(path, index=False)
    spec = _table_spec(path)
    spec["env"] = {**spec["env"], **env}
    line = _one_line(capsys, _run(tmp_path, spec))
    assert re.search(want, line), line


# -- class 10: pickled models -----------------------------------------------------------------
def test_sb3_model_from_elsewhere_needs_trust_pickle(tmp_path) -> None:
    from qmml.agents.sb3_agent import SB3Agent

    (tmp_path / "agent.json").write_text(json.dumps({"algo": "ppo"}))
    (tmp_path / "agent.zip").write_bytes(b"PK not a model")
    with pytest.raises(PermissionError, match=r"pickled Python.*trust_pickle=True") as e:
        SB3Agent.load(tmp_path / "agent")
    assert "\n" not in str(e.value)
    with pytest.raises(Exception) as opened:  # trusted: it gets as far as opening the zip
        SB3Agent.load(tmp_path / "agent.zip", trust_pickle=True)
    assert not isinstance(opened.value, PermissionError)


def test_no_spec_section_takes_a_model_path() -> None:
    # a spec cannot make the runner unpickle a file: no section has a model-path key
    from qmml.experiments.workload import get_workload

    for kind in ("trading-rl", "dqn-cartpole", "bandit-stocks", "trading-baselines"):
        wl = get_workload(kind)
        for section in (wl.Env, getattr(wl, "Budget", None)):
            if section is None:
                continue
            keys = set(getattr(section, "model_fields", {}))
            assert not {k for k in keys if "model" in k or k in ("load", "checkpoint")}, keys


if os.name == "nt":  # pragma: no cover
    pytest.skip("POSIX paths", allow_module_level=True)
