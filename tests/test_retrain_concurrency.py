"""Retraining while reviewers keep writing loses nothing: the retrain trains on the corrections that
existed when it started, and the ones written meanwhile are all stored and go into the next one."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from training.retrain import retrain
from training.train import TrainConfig
from triage.io import read_records, write_jsonl
from triage.settings import Settings
from triage.store import Store, upgrade
from triage.store.service import NewMessage

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "samples"

ALLOWED = {"topic": {"roads", "public_transport"}}


def _pred(topic: str) -> dict:
    head = {"label": topic, "confidence": 0.5, "alternatives": [[topic, 0.5]]}
    return {"topic": head, "authority": None, "urgency": None, "district": None, "needs_review": True,
            "reasons": [], "model_version": "m", "language": "ru", "explanation": {}}


def test_corrections_written_during_a_retrain_are_kept_for_the_next_one(tmp_path, train_records):
    rng = random.Random(1)
    by_topic: dict[str, list] = {}
    for r in train_records:
        by_topic.setdefault(r["topic"], []).append(r)
    small = [r for rs in by_topic.values() for r in rng.sample(rs, 25)]
    write_jsonl(tmp_path / "small.jsonl", small)
    settings = Settings(var_dir=tmp_path / "var", model_dir=REPO / "models" / "default", data_dir=DATA,
                        database_url=f"sqlite:///{tmp_path / 'triage.db'}")
    store = Store(settings.resolved_database_url())
    upgrade(store.engine)
    texts = [r["text"] for r in train_records[:60]]
    saved = store.save_classified([NewMessage(t) for t in texts], [_pred("roads")] * len(texts))
    for s in saved[:20]:  # before the retrain starts
        store.add_correction(s.id, "r1", {"topic": "public_transport"}, None, ALLOWED)

    result = {}

    def run():
        result["r"] = retrain(store, settings, train_paths=[tmp_path / "small.jsonl"], config=TrainConfig(folds=3),
                              use_mlflow=False, promote_candidate=False, progress=False)

    t = threading.Thread(target=run)
    t.start()
    for s in saved[20:]:  # while it runs
        store.add_correction(s.id, "r2", {"topic": "public_transport"}, None, ALLOWED)
    t.join()

    run_dir = result["r"].run_dir
    used = [r for r in read_records(run_dir / "train.jsonl") if "message_id" in r]
    held = read_records(run_dir / "corrections_holdout.jsonl") if (run_dir / "corrections_holdout.jsonl").exists() else []
    seen = {r["message_id"] for r in used + held}
    assert {s.id for s in saved[:20]} <= seen  # the snapshot had at least the first 20
    assert len(store.labeled_messages()) == 60  # nothing lost
    later = {s.id for s in saved if s.id not in seen}
    assert later <= {s.id for s in saved[20:]}  # what the snapshot missed was written meanwhile...
    assert later <= {m["id"] for m in store.labeled_messages()}  # ...and is there for the next retrain
    store.dispose()
