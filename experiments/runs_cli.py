"""``qmml runs`` (what you have run) and ``qmml spec`` (a built-in spec to start your own)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qmml.experiments.spec import SpecError, unknown_choice

__all__ = ["add_parsers", "list_runs"]


def _summary(spec: dict[str, Any]) -> str:
    env = spec.get("env") or {}
    keys = [k for k in ("data", "dataset", "tickers", "start", "end", "map", "problem") if k in env]
    parts = [f"{spec.get('seeds', '?')} seeds", f"{len(spec.get('agents', []))} agents"]
    parts += [f"{k}={env[k]}" for k in keys]
    return ", ".join(str(p) for p in parts)


def list_runs(root: Path) -> list[dict[str, Any]]:
    """Every run folder under ``root`` (``<root>/<experiment>/<run id>/``), newest first."""
    import yaml

    rows = []
    for meta_file in root.glob("*/*/meta.json"):
        run = meta_file.parent
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            spec = yaml.safe_load((run / "spec.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, yaml.YAMLError):
            rows.append({"folder": str(run), "experiment": run.parent.name, "status": "damaged"})
            continue
        done = sum(1 for p in (run / "trials").glob("*") if not p.name.startswith("."))
        rows.append(
            {
                "folder": str(run),
                "experiment": meta.get("experiment", run.parent.name),
                "name": meta.get("name") or "",
                "started": str(meta.get("started") or "")[:16].replace("T", " "),
                "status": meta.get("status", "?"),
                "trials": f"{done}/{meta.get('n_trials', '?')}",
                "spec": _summary(spec),
            }
        )
    return sorted(rows, key=lambda r: r.get("started", ""), reverse=True)


def _cmd_runs(args: argparse.Namespace) -> int:
    root = Path(args.out)
    if not root.is_dir():
        raise SpecError(f"no runs under {str(root)!r}; 'qmml run NAME' writes them there")
    rows = [r for r in list_runs(root) if not args.experiment or r["experiment"] == args.experiment]
    if not rows:
        print(f"no runs under {root}" + (f" for {args.experiment}" if args.experiment else ""))
        return 0
    cols = ["experiment", "name", "started", "status", "trials", "spec", "folder"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols[:-1]}
    print("  ".join(c.ljust(widths[c]) for c in cols[:-1]) + "  folder")
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols[:-1]) + f"  {r['folder']}")
    return 0


def _cmd_spec(args: argparse.Namespace) -> int:
    from qmml.experiments.cli import builtin_experiments

    builtins = builtin_experiments()
    if args.name not in builtins:
        raise SpecError(unknown_choice("experiment", args.name, builtins, "qmml spec"))
    text = builtins[args.name].read_text(encoding="utf-8")
    if args.output:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise SpecError(f"{out} exists; choose another file or add --force")
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}: edit it, then run it with  qmml run {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_parsers(sub: Any) -> None:
    """Add ``runs`` and ``spec`` to the ``qmml`` sub-command parsers."""
    sp = sub.add_parser(
        "runs",
        help="list the runs you have made",
        description="List run folders (experiment, name, start time, status, finished trials "
        "and a spec summary), newest first.",
    )
    sp.add_argument("experiment", nargs="?", help="only runs of this experiment")
    sp.add_argument("--out", default="runs", help="results root folder (default: runs)")
    sp.set_defaults(func=_cmd_runs)
    sp = sub.add_parser(
        "spec",
        help="print a built-in spec, to start your own",
        description="Print the YAML spec of a built-in experiment (with its comments), or "
        "write it to a file: edit it and run it with 'qmml run FILE.yaml'.",
        epilog="example:  qmml spec bandit-stocks -o my-stocks.yaml && qmml run my-stocks.yaml",
    )
    sp.add_argument("name", help="a built-in experiment (see qmml list)")
    sp.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    sp.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    sp.set_defaults(func=_cmd_spec)
