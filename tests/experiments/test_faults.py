"""Faults and hostile input at the run/report/compare entry points: one line on stderr, a
non-zero exit, no traceback, nothing finished lost; no orphan workers; concurrent runs safe."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from qmml.experiments import store
from qmml.experiments.cli import main, os_error_line

TINY = {
    "name": "tiny",
    "kind": "bandit-testbed",
    "seed": 3,
    "seeds": 2,
    "budget": {"steps": 50, "runs": 20},
    "agents": [
        {"name": "eps", "type": "epsilon-greedy", "params": {"epsilon": 0.1}},
        {"name": "ucb", "type": "ucb", "params": {"c": 2.0}},
    ],
    "report": {"primary": "mean_reward", "plots": [{"plot": "curve", "metric": "reward"}]},
}
# trials of a second or more each: long enough to kill a run in the middle
SLOW = {**TINY, "name": "slow", "seeds": 8, "budget": {"steps": 3000, "runs": 600}}


def _spec(tmp_path: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qmml.experiments.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode not in (0, None), proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("qmml: error: ")
    return lines[0]


def _run(spec: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli("run", str(spec), "--out", str(out), "--no-progress", *extra)


# -- 1. operating-system errors --------------------------------------------------------------
def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    line = _one_line_error(_run(_spec(tmp_path, TINY), tmp_path / "afile", "--executor", "serial"))
    assert "afile" in line and ("not a folder" in line or "in the way" in line)


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "free some space"),
        (errno.EACCES, "permissions"),
        (errno.EROFS, "read-only"),
        (errno.ENOTDIR, "not a folder"),
    ],
)
def test_os_error_lines_name_path_cause_and_fix(code: int, fix: str) -> None:
    line = os_error_line(OSError(code, os.strerror(code), "/some/where"))
    assert line.startswith("/some/where: ") and fix in line and "\n" not in line


def test_disk_full_mid_run_keeps_finished_trials(tmp_path, monkeypatch, capsys) -> None:
    spec, out = _spec(tmp_path, TINY), tmp_path / "runs"
    real = store.RunDir.write_trial
    calls = []

    def full_after_two(self, key, result):  # the third trial write finds the disk full
        calls.append(key)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.trials_dir / key))
        return real(self, key, result)

    monkeypatch.setattr(store.RunDir, "write_trial", full_after_two)
    args = ["run", str(spec), "--out", str(out), "--executor", "serial", "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "disk is full" in err[0] and "run the same command again" in err[0]
    run_dir = next(out.glob("tiny/*"))
    assert len([p for p in (run_dir / "trials").iterdir() if not p.name.startswith(".")]) == 2
    monkeypatch.setattr(store.RunDir, "write_trial", real)
    assert main(args) == 0
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["resumed_from"] == 2 and meta["status"] == "complete"


def test_report_of_a_missing_or_unwritable_place(tmp_path: Path) -> None:
    line = _one_line_error(_cli("report", str(tmp_path / "nowhere")))
    assert "nowhere" in line


# -- 2. damaged run folders -------------------------------------------------------------------
@pytest.fixture
def finished(tmp_path: Path) -> Path:
    spec, out = _spec(tmp_path, TINY), tmp_path / "runs"
    assert main(["run", str(spec), "--out", str(out), "--executor", "serial", "--no-progress"]) == 0
    return next(out.glob("tiny/*"))


def test_truncated_consolidated_tables_are_rebuilt_by_report(finished: Path) -> None:
    want = {f: (finished / f).read_bytes() for f in ("curves.parquet", "scalars.csv")}
    (finished / "curves.parquet").write_bytes(want["curves.parquet"][:100])
    (finished / "scalars.csv").write_text("garbage,\n\x00\x01")
    assert main(["report", str(finished)]) == 0
    assert {f: (finished / f).read_bytes() for f in want} == want


@pytest.mark.parametrize("name", ["scalars.parquet", "curves.parquet", "info.json"])
def test_damaged_trial_file_is_named_then_rerun(finished: Path, name: str, capsys) -> None:
    want = (finished / "curves.parquet").read_bytes()
    trial = sorted((finished / "trials").iterdir())[1]
    (trial / name).write_bytes(b"PAR1 not really")
    (finished / "curves.parquet").write_bytes(b"")  # force the report to gather again
    code = main(["report", str(finished)])
    err = capsys.readouterr().err
    if name == "info.json":  # not read by the report: nothing to complain about
        assert code == 0
    else:
        assert code == 2 and trial.name in err and "re-runs that trial" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    spec = finished / "spec.yaml"
    args = ["run", str(spec), "--out", str(finished.parents[1]), "--executor", "serial"]
    assert main([*args, "--no-progress"]) == 0
    assert "damaged" in (finished / "run.log").read_text()
    assert (finished / "curves.parquet").read_bytes() == want


# -- 3. no orphan workers; SIGTERM is Ctrl-C --------------------------------------------------
def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc: no psutil needed)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(p)
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_parent_leaves_no_worker_behind(tmp_path: Path, sig: int) -> None:
    spec, out = _spec(tmp_path, SLOW), tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qmml.experiments.cli", "run", str(spec), "--out", str(out),
         "--workers", "2", "--executor", "process", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        t0, workers = time.time(), set()
        while time.time() - t0 < 120 and len(workers) < 2:  # the pool is up
            workers = _descendants(proc.pid)
            time.sleep(0.1)
        assert len(workers) >= 2, "the pool's workers never started"
        while time.time() - t0 < 120 and not list(out.rglob("trials/*__seed*")):
            time.sleep(0.1)  # a trial or more is stored
        workers = _descendants(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=180)  # a loaded CI machine: the parent stores what finished first
        deadline = time.time() + 10
        while _alive(workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(workers), f"survivors after {sig!r}: {_alive(workers)}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if sig == signal.SIGTERM:
        assert proc.returncode == 130
        meta = json.loads(next(out.glob("slow/*/meta.json")).read_text())
        assert meta["status"] == "interrupted"


# -- 4. concurrent runs into one folder -------------------------------------------------------
@pytest.mark.slow
def test_four_concurrent_runs_into_one_folder_end_cleanly_and_agree(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path, {**TINY, "seeds": 4}), tmp_path / "runs"
    cmd = [sys.executable, "-m", "qmml.experiments.cli", "run", str(spec), "--out", str(out),
           "--executor", "serial", "--no-progress"]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]  # fmt: skip
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [r[1][-800:] for r in results]
    assert all("Traceback" not in err for _, err in results)
    (run_dir,) = out.glob("tiny/*")
    ref = tmp_path / "ref"
    assert main([*cmd[3:6], str(ref), *cmd[7:]]) == 0
    (ref_dir,) = ref.glob("tiny/*")
    for f in ("curves.parquet", "scalars.csv", "summary.csv"):
        assert (run_dir / f).read_bytes() == (ref_dir / f).read_bytes(), f


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_fresh_run_waits_for_the_lock_holder(tmp_path: Path) -> None:
    spec = _spec(tmp_path, TINY)
    from qmml.experiments.runner import run_dir_for
    from qmml.experiments.spec import load_spec

    run = run_dir_for(load_spec(spec), tmp_path / "runs")
    with run.lock():
        proc = subprocess.Popen(
            [sys.executable, "-m", "qmml.experiments.cli", "run", str(spec), "--out",
             str(tmp_path / "runs"), "--executor", "serial", "--no-progress", "--fresh"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lock = run.lock_file
        t0 = time.time()
        while time.time() - t0 < 120 and not _has_open(proc.pid, lock):
            time.sleep(0.05)  # the second run has reached the lock
        time.sleep(0.5)
        assert proc.poll() is None, "the second run did not wait for the lock"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and f"(pid {os.getpid()})" in err


def _has_open(pid: int, path: Path) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if Path(os.readlink(fd)) == path.resolve():
                return True
        except OSError:
            continue
    return False


# -- 5. paths and sizes from a spec -----------------------------------------------------------
@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b"])
def test_spec_names_stay_inside_the_output_folder(tmp_path: Path, name: str) -> None:
    line = _one_line_error(_run(_spec(tmp_path, {**TINY, "name": name}), tmp_path / "runs"))
    assert "'name'" in line
    assert not (tmp_path / "tiny").exists() and not list(tmp_path.glob("*/spec.yaml"))


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["name: bomb", "kind: bandit-testbed", "agents: [{name: a, type: ucb}]", "quick:",
             "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]  # fmt: skip
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    t0 = time.time()
    line = _one_line_error(_run(path, tmp_path / "runs"))
    assert "expands to more than" in line and time.time() - t0 < 30


def test_oversized_spec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(TINY) + "description: " + "x" * 1_100_000 + "\n")
    assert "at most" in _one_line_error(_run(path, tmp_path / "runs"))
