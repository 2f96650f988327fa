"""The champion pointer: a small JSON file naming the model directory the service should serve.

Promotion writes it atomically (``os.replace``); the service reads it at start, on
``POST /v1/admin/reload`` and periodically. Without it, the shipped ``settings.model_dir`` serves.
The MLflow registry alias ``champion`` names the same model for MLflow's tools.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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
    """The champion's directory when the pointer names one, else the shipped model."""
    p = read_pointer(settings)
    if p and p.get("model_dir"):
        return Path(p["model_dir"])
    return settings.model_dir


def write_pointer(settings: Settings, model_dir: Path, model_version: str,
                  registry_version: str | None = None) -> Path:
    path = settings.champion_pointer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"model_dir": str(Path(model_dir).resolve()), "model_version": model_version,
            "registry_version": registry_version}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".champion-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(body, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
