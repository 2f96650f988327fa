"""The champion pointer: a small JSON file naming the model directory the service should serve.

Promotion writes it atomically (``os.replace``); the service reads it at start, on
``POST /v1/admin/reload`` and periodically. Without it, the shipped ``settings.model_dir`` serves.
The MLflow registry alias ``champion`` names the same model for MLflow's tools.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from triage.errors import ModelLoadError
from triage.settings import Settings


def read_pointer(settings: Settings) -> dict | None:
    path = settings.champion_pointer_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"error": f"unreadable champion pointer {path}"}


def serving_model_dir(settings: Settings) -> Path:
    """The champion's directory when the pointer names one, else (no pointer) the shipped model.

    An unreadable pointer raises :class:`ModelLoadError`: silently serving the shipped model instead
    of the promoted one would undo a promotion without anyone deciding it."""
    p = read_pointer(settings)
    if p is None:
        return settings.model_dir
    if not isinstance(p, dict) or "error" in p or not isinstance(p.get("model_dir"), str):
        raise ModelLoadError(p.get("error") if isinstance(p, dict) and "error" in p
                             else f"champion pointer {settings.champion_pointer_path()} names no model directory")
    return Path(p["model_dir"])


def write_pointer(settings: Settings, model_dir: Path, model_version: str,
                  registry_version: str | None = None) -> Path:
    path = settings.champion_pointer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"model_dir": str(Path(model_dir).resolve()), "model_version": model_version,
            "registry_version": registry_version}
    _replace_atomically(path, json.dumps(body))
    return path


def _replace_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


RELOAD_POLL_SECONDS = 1.0


def reload_request_path(settings: Settings) -> Path:
    """Next to the pointer (on the shared volume when there are several machines)."""
    return settings.champion_pointer_path().with_name("RELOAD_REQUESTED")


def request_reload(settings: Settings) -> None:
    """Ask every worker to check the pointer now: POST /v1/admin/reload reaches one worker only."""
    path = reload_request_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomically(path, f"{time.time()} {os.getpid()}\n")


def reload_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino
