"""Smoke test of a loaded model on known messages (``resources/smoke.yaml``): a model that fails
it is refused at load and at reload, and the previous one keeps serving."""

from __future__ import annotations

from pathlib import Path

import yaml

from triage.engine import Triage
from triage.errors import ModelLoadError
from triage.settings import RESOURCES_DIR

SMOKE_PATH = RESOURCES_DIR / "smoke.yaml"


def smoke_problems(engine: Triage, path: Path = SMOKE_PATH) -> list[str]:
    """What is wrong with ``engine`` on the known messages (empty when it passes)."""
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    msgs = spec["messages"]
    try:
        # Explained: that path must work too, and its lazily built parts are then ready before the
        # first request (the feature names took 0.2 s when a request built them).
        results = engine.classify_batch([m["text"] for m in msgs], explain=True, errors="raise")
    except Exception as exc:  # any failure to classify is a failed smoke test
        return [f"classification failed: {type(exc).__name__}: {exc}"]
    problems = []
    topical = [(m, r) for m, r in zip(msgs, results, strict=True) if "topic" in m]
    if topical and "topic" in engine.heads:
        acc = sum(r.topic.label == m["topic"] for m, r in topical) / len(topical)
        if acc < spec.get("min_topic_accuracy", 0.8):
            problems.append(f"topic accuracy on known messages {acc:.2f} < {spec['min_topic_accuracy']}")
    for m, r in zip(msgs, results, strict=True):
        if m.get("urgency") == "critical" and (r.urgency is None or r.urgency.label != "critical"):
            problems.append(f"not critical: {m['text'][:40]!r}")
    return problems


def load_checked(path: Path, settings=None) -> Triage:
    """``Triage.load`` (which verifies every artifact's hash) plus the smoke test."""
    engine = Triage.load(path, settings)
    problems = smoke_problems(engine)
    if problems:
        raise ModelLoadError(f"model {engine.version} failed its smoke test: " + "; ".join(problems))
    return engine
