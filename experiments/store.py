"""The results store: one folder per run, every file written atomically.

Layout of ``runs/<experiment>/<run-id>/``::

    spec.yaml          the resolved spec (after --set and --quick)
    meta.json          versions, git commit, host, times, executor, per-trial seeds
    trials/<key>/      one folder per finished trial: curves.parquet, scalars.parquet, info.json
    run.log            failures with their tracebacks
    curves.parquet     all trials, tidy: trial, agent, seed, step, metric, value
    scalars.csv        all trials, tidy: trial, agent, seed, metric, value
    summary.csv        per agent and metric: n, mean, ci_low, ci_high, iqm
    report.html, summary.md, figures/*.png   (rebuilt by ``qmml report``)

A trial folder is written under a temporary name and renamed into place, so a crash or
Ctrl-C leaves either a whole trial or none: re-running the same command resumes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qmml.experiments.results import TrialResult
from qmml.experiments.spec import ExperimentSpec, SpecError, dump_spec, load_spec

__all__ = ["DamagedRunError", "RunDir", "atomic_write_bytes", "atomic_write_text"]


class DamagedRunError(SpecError):
    """A stored table of a run folder cannot be read (truncated, garbled, edited)."""


_PACKAGES = (
    "qmml-lab",
    "numpy",
    "pandas",
    "pyarrow",
    "gymnasium",
    "stable-baselines3",
    "sb3-contrib",
    "torch",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "ray",
)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


TrialFiles = dict[str, bytes]
TRIAL_FILES = ("curves.parquet", "info.json", "scalars.parquet")  # in the order written


def encode_trial(result: TrialResult) -> TrialFiles:
    """A trial's files, as bytes: what :meth:`RunDir.write_trial` stores."""
    return {
        "curves.parquet": _parquet_bytes(result.curves),
        "info.json": json.dumps(result.info, sort_keys=True, default=str).encode(),
        "scalars.parquet": _parquet_bytes(result.scalars),
    }


class RunDir:
    """A run folder: where a run's spec, trials, tables and report live."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- paths ------------------------------------------------------------------------------
    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def figures_dir(self) -> Path:
        return self.path / "figures"

    def trial_damage(self, key: str) -> str | None:
        """Why stored trial ``key`` cannot be read (its file and the reader's complaint), or
        None when it is readable or absent. Reads only the parquet footers: cheap."""
        import pyarrow.parquet as pq

        folder = self.trials_dir / key
        if not folder.is_dir() or not self.trial_done(key):
            return None
        readers = {
            "curves.parquet": pq.read_metadata,
            "scalars.parquet": pq.read_metadata,
            "info.json": lambda f: json.loads(f.read_text(encoding="utf-8")),
        }
        for name, read in readers.items():
            try:
                read(folder / name)
            except (OSError, ValueError) as err:  # pyarrow.ArrowInvalid is a ValueError
                return f"{name}: {str(err)[:80]}"
        return None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this run's lock (``<out>/.locks/<experiment>-<run id>.lock``: outside the run
        folder, so ``--fresh`` keeps it): a second run of the same spec into the same folder
        waits here, saying for whom, then finds the first one's trials stored and reuses them."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking (concurrent runs are then unsafe)
            yield
            return
        lock = self.lock_file
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a+", encoding="utf-8") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "unknown"
                print(
                    f"qmml: another run (pid {holder}) is writing {self.path}; waiting for it",
                    file=sys.stderr,
                )
                fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @property
    def lock_file(self) -> Path:
        return self.path.parent.parent / ".locks" / f"{self.path.parent.name}-{self.path.name}.lock"

    def trial_done(self, key: str) -> bool:
        """Whether trial ``key`` has been stored (a complete folder exists); a folder missing
        a file (deleted by hand) counts as not done, so the trial runs again."""
        return all((self.trials_dir / key / name).is_file() for name in TRIAL_FILES)

    # -- writing ----------------------------------------------------------------------------
    def init(self, spec: ExperimentSpec, *, fresh: bool = False) -> None:
        """Create the folder and write ``spec.yaml``; ``fresh`` drops earlier results first."""
        if fresh and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "spec.yaml", dump_spec(spec))

    def write_trial(self, key: str, result: TrialResult | TrialFiles) -> None:
        """Store one trial atomically (temporary folder, then rename).

        Args:
            key: the trial's key (its folder name).
            result: the trial's tables, or their files from :func:`encode_trial` (workers
                encode, so the parent process only writes bytes).
        """
        files = encode_trial(result) if isinstance(result, TrialResult) else result
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.trials_dir, prefix=f".{key}."))
        try:
            for name in TRIAL_FILES:  # scalars last: its presence marks the trial complete
                (tmp / name).write_bytes(files[name])
            final = self.trials_dir / key
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not self.trial_done(key):  # not a finished twin (same seed, same bytes)
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, default=str))

    def append_log(self, text: str) -> None:
        with open(self.path / "run.log", "a", encoding="utf-8") as f:
            f.write(text.rstrip("\n") + "\n")

    def consolidate(self, trials: list[tuple[str, str, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Gather finished trials into ``curves.parquet`` and ``scalars.csv``.

        Args:
            trials: (key, agent, seed index) in spec order; the tables follow this order, so
                they do not depend on the order in which trials finished.
        """
        done = [(key, agent, seed) for key, agent, seed in trials if self.trial_done(key)]
        cdf = self._gather(done, "curves.parquet", ["step", "metric", "value"])
        sdf = self._gather(done, "scalars.parquet", ["metric", "value"])
        atomic_write_bytes(self.path / "curves.parquet", _parquet_bytes(cdf))
        atomic_write_text(self.path / "scalars.csv", sdf.to_csv(index=False, float_format="%.10g"))
        return cdf, sdf

    def _gather(
        self, trials: list[tuple[str, str, int]], name: str, columns: list[str]
    ) -> pd.DataFrame:
        """One table of every trial's ``name`` file, with trial, agent and seed columns.

        Read and joined in Arrow, then converted once: several times faster than a pandas
        frame per trial (this runs in the parent process, after every run)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts, keys, agents, seeds = [], [], [], []
        for key, agent, seed in trials:
            path = self.trials_dir / key / name
            try:
                t = pq.read_table(path).replace_schema_metadata(None)
            except (OSError, ValueError) as err:  # truncated or garbled since it was stored
                raise DamagedRunError(
                    f"{path} is damaged ({str(err)[:80]}); run the same 'qmml run' command "
                    "again: it re-runs that trial and keeps the others"
                ) from None
            if t.num_rows:
                parts.append(t.select(columns))
                keys.append(key)
                agents.append(agent)
                seeds.append(seed)
        if not parts:
            return _concat([], ["trial", "agent", "seed", *columns])
        table = pa.concat_tables(parts, promote_options="permissive")
        n = [t.num_rows for t in parts]
        table = table.add_column(0, "seed", pa.array(np.repeat(np.asarray(seeds, np.int64), n)))
        table = table.add_column(0, "agent", pa.array(np.repeat(np.asarray(agents, object), n)))
        table = table.add_column(0, "trial", pa.array(np.repeat(np.asarray(keys, object), n)))
        return table.to_pandas()

    # -- reading ----------------------------------------------------------------------------
    def load_spec(self) -> ExperimentSpec:
        """The stored resolved spec.

        Raises:
            SpecError: not a run folder.
        """

        f = self.path / "spec.yaml"
        if not f.is_file():
            raise SpecError(
                f"{self.path} is not a run folder (no spec.yaml); give a folder "
                "under runs/<experiment>/ made by 'qmml run'"
            )
        return load_spec(f)  # malformed or edited: a one-line SpecError

    def load_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The consolidated (curves, scalars) tables.

        Raises:
            SpecError: the run has no consolidated results yet.
        """
        import pyarrow.parquet as pq

        c, s = self.path / "curves.parquet", self.path / "scalars.csv"
        if not (c.is_file() and s.is_file()):
            raise SpecError(f"{self.path} has no results yet; run 'qmml run' to finish it first")
        try:
            # names such as "NA", "1" or "True" must stay strings; only values may be missing
            scalars = pd.read_csv(
                s,
                dtype={"trial": str, "agent": str, "metric": str},
                keep_default_na=False,
                na_values={"value": ["", "nan", "NaN"]},
            )
            if list(scalars.columns) != ["trial", "agent", "seed", "metric", "value"]:
                raise ValueError(f"unexpected columns {list(scalars.columns)}")
            # names as categories: a tenth of the memory, and much faster to read and slice
            # than strings for the millions of rows a long run stores
            curves = pq.read_table(c, read_dictionary=["trial", "agent", "metric"]).to_pandas()
        except (OSError, ValueError, pd.errors.ParserError) as err:
            raise DamagedRunError(
                f"{self.path}: a results table is damaged ({str(err)[:80]}); "
                "'qmml report' rebuilds it from the trials"
            ) from None
        return curves, scalars

    def load_meta(self) -> dict[str, Any]:
        f = self.path / "meta.json"
        if not f.is_file():
            return {}
        try:
            return json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SpecError(
                f"{f} is damaged (not JSON); re-run the experiment to rewrite it"
            ) from None


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(parts, ignore_index=True)[columns]


def environment_meta() -> dict[str, Any]:
    """Package versions, git commit, host and Python: what ``meta.json`` records."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
            check=False,
        )
        commit = proc.stdout.strip() if proc.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return {
        "packages": versions,
        "git_commit": commit or None,
        "host": platform.node(),
        "user": user,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
