"""The files behind :meth:`SB3Agent.save <qmml.agents.sb3_agent.SB3Agent.save>` and
:meth:`~qmml.agents.sb3_agent.SB3Agent.load`, and the pickle trust check between them.

An agent is saved as ``<path>.zip`` (the SB3 model) beside ``<path>.json`` (the adapter's
settings). An SB3 model file holds Python pickles that run when loaded, so only the files this
process saved (by their sha256) load without ``trust_pickle=True``. Like
:mod:`qmml.agents.sb3_agent`, importing this module loads neither torch nor stable-baselines3.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = ["save_files", "trusted_settings"]

# sha256 of the model files this process saved: those load without trust_pickle
_WRITTEN: dict[str, str] = {}


def save_files(model: BaseAlgorithm, settings: dict[str, Any], path: str | Path) -> Path:
    """Write ``model`` to ``<path>.zip`` and ``settings`` to ``<path>.json``; remember the
    zip's digest so this process may load it back. Returns the ``.zip`` path."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    path.with_suffix(".json").write_text(json.dumps(settings, indent=1))
    _WRITTEN[str(path.with_suffix(".zip").resolve())] = _digest(path.with_suffix(".zip"))
    return path.with_suffix(".zip")


def trusted_settings(
    path: str | Path, *, trust_pickle: bool = False
) -> tuple[dict[str, Any], Path]:
    """The saved settings of the agent at ``path`` (with or without ``.zip``) and the path
    to load its model from, once the model file is known to be safe to unpickle.

    Raises:
        FileNotFoundError: no settings file beside the model.
        PermissionError: a file this process did not write, without ``trust_pickle``.
    """
    path = Path(path).with_suffix("")
    settings_file = path.with_suffix(".json")
    if not settings_file.is_file():
        raise FileNotFoundError(f"{settings_file} not found; save with SB3Agent.save()")
    model_file = path.with_suffix(".zip")
    own = model_file.is_file() and _WRITTEN.get(str(model_file.resolve())) == _digest(model_file)
    if not (trust_pickle or own):
        raise PermissionError(
            f"{model_file}: an SB3 model file holds pickled Python that runs when loaded; "
            "load it only if you trust its source, with SB3Agent.load(path, "
            "trust_pickle=True)"
        )
    return json.loads(settings_file.read_text()), path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
