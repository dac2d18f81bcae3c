"""Run untrusted Python (model-generated code) in a separate, restricted process.

    res = run_python("print(1 + 1)", timeout_s=5)
    res.ok, res.stdout, res.timed_out, res.files      # files: what the code left in its cwd
    passed, total = run_tests(generated_code, ["assert add(1, 2) == 3", ...])

Never ``exec`` in-process. The child is ``sys.executable -I`` (isolated: no user site, no
``PYTHON*`` variables, the script's folder not on ``sys.path``), runs in a fresh temporary
directory that is deleted afterwards, with a minimal environment (no proxy variables, no
credentials, no ``HOME``), a wall-clock timeout (the process group is killed), and, where
``resource`` exists (POSIX), limits on CPU time, address space, file size and open files set
in ``preexec_fn``. This is a guard against accidents (infinite loops, stray writes, runaway
memory), not a security boundary against a determined attacker: use a container for that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SandboxResult", "run_python", "run_tests"]


@dataclass(frozen=True)
class SandboxResult:
    """What the child did: exit code (None if killed on timeout), output, files left."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exited with status 0 in time."""
        return self.returncode == 0 and not self.timed_out


def _limits(cpu_s: int, memory_mb: int, file_mb: int):
    def apply() -> None:  # runs in the child, before exec
        import resource

        os.setsid()  # own process group, so a timeout kills its children too
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_python(
    code: str,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    file_mb: int = 4,
) -> SandboxResult:
    """Run ``code`` as a script in a restricted child process; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="qmml-sandbox-") as tmp:
        script = Path(tmp) / "main.py"
        script.write_text(code, encoding="utf-8")
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "TMPDIR": tmp}
        posix = os.name == "posix"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", script.name],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_limits(int(timeout_s) + 1, memory_mb, file_mb) if posix else None,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            if posix:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            else:
                proc.kill()
            out, err = proc.communicate()
        files = sorted(
            str(p.relative_to(tmp)) for p in Path(tmp).rglob("*") if p.is_file() and p != script
        )
        return SandboxResult(None if timed_out else proc.returncode, out, err, timed_out, files)


def run_tests(
    code: str, tests: Sequence[str], *, timeout_s: float = 5.0
) -> tuple[int, int, SandboxResult]:
    """Run ``code`` then each test statement (an ``assert``) in ONE sandboxed process; a test
    that raises counts as failed. Returns (passed, total, the sandbox result)."""
    harness = [
        "import sys",
        "_passed = 0",
        "try:",
        f"    exec(compile({code!r}, 'solution', 'exec'), globals())",
        "except BaseException as e:",
        "    print('solution failed:', type(e).__name__, file=sys.stderr)",
    ]
    for t in tests:
        harness += [
            "try:",
            f"    exec(compile({t!r}, 'test', 'exec'), globals())",
            "    _passed += 1",
            "except BaseException as e:",
            "    print('test failed:', type(e).__name__, file=sys.stderr)",
        ]
    harness.append("print(f'PASSED {_passed}')")
    res = run_python("\n".join(harness), timeout_s=timeout_s)
    passed = 0
    for line in res.stdout.splitlines():
        if line.startswith("PASSED "):
            passed = int(line.split()[1])
    return passed, len(tests), res
