import json

import joblib
import pytest

from triage.artifacts import MANIFEST, load_model_dir, save_model_dir
from triage.errors import ModelIntegrityError, ModelLoadError


def test_saved_model_loads_back_with_its_manifest(tmp_path):
    save_model_dir(tmp_path, {"model": {"w": [1, 2, 3]}}, {"model_version": "v1"})
    manifest, art = load_model_dir(tmp_path)
    assert manifest["model_version"] == "v1" and art["model"] == {"w": [1, 2, 3]}
    assert len(manifest["artifacts"]["model"]["sha256"]) == 64


def test_tampered_artifact_is_refused_before_unpickling(tmp_path, monkeypatch):
    m = save_model_dir(tmp_path, {"model": {"w": 1}}, {"model_version": "v1"})
    path = tmp_path / m["artifacts"]["model"]["file"]
    joblib.dump({"w": "evil"}, path)  # valid pickle, different bytes
    calls = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        load_model_dir(tmp_path)
    assert calls == [], "joblib.load must not run on unverified bytes"


def test_truncated_artifact_is_refused(tmp_path):
    m = save_model_dir(tmp_path, {"model": list(range(1000))}, {"model_version": "v1"})
    path = tmp_path / m["artifacts"]["model"]["file"]
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ModelIntegrityError):
        load_model_dir(tmp_path)


def test_missing_manifest_or_artifact_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="manifest"):
        load_model_dir(tmp_path)
    m = save_model_dir(tmp_path, {"model": 1}, {"model_version": "v1"})
    (tmp_path / m["artifacts"]["model"]["file"]).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model_dir(tmp_path)


def test_unsupported_manifest_format_is_refused(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"format_version": 999, "artifacts": {}}))
    with pytest.raises(ModelLoadError, match="unsupported"):
        load_model_dir(tmp_path)


def test_crash_while_saving_leaves_the_previous_model_intact(tmp_path, monkeypatch):
    save_model_dir(tmp_path, {"model": "old"}, {"model_version": "v1"})
    real_dump = joblib.dump

    def crash_midway(obj, filename, **kw):
        real_dump(obj, filename, **kw)
        with open(filename, "r+b") as f:  # a half-written file, then the process dies
            f.truncate(5)
        raise OSError("No space left on device")

    monkeypatch.setattr(joblib, "dump", crash_midway)
    with pytest.raises(OSError):
        save_model_dir(tmp_path, {"model": "new"}, {"model_version": "v2"})
    monkeypatch.undo()
    manifest, art = load_model_dir(tmp_path)
    assert manifest["model_version"] == "v1" and art["model"] == "old"
    assert not list(tmp_path.glob("*.tmp")), "temporary files are cleaned up"


def test_resaving_removes_stale_artifacts(tmp_path):
    save_model_dir(tmp_path, {"model": "old"}, {"model_version": "v1"})
    save_model_dir(tmp_path, {"model": "new"}, {"model_version": "v2"})
    assert len(list(tmp_path.glob("*.joblib"))) == 1
    assert load_model_dir(tmp_path)[1]["model"] == "new"


def test_load_unpickles_the_bytes_it_verified_not_a_second_read(tmp_path, monkeypatch):
    """A file swapped between the hash check and the unpickling must not be loaded: the loader
    unpickles the very buffer it hashed."""
    from pathlib import Path as _Path

    from triage.artifacts import load_model_dir, save_model_dir

    d = tmp_path / "m"
    save_model_dir(d, {"a": {"x": 1}}, {"model_version": "t"})
    real_read = _Path.read_bytes
    calls = []

    def read_once_then_swap(self):
        data = real_read(self)
        if self.suffix == ".joblib":
            calls.append(self)
            self.write_bytes(b"swapped after the check")  # a later read would see this
        return data

    monkeypatch.setattr(_Path, "read_bytes", read_once_then_swap)
    _, loaded = load_model_dir(d)
    assert loaded["a"] == {"x": 1} and len(calls) == 1
