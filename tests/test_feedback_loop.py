"""The feedback loop measurably works: reviewers correct a phrasing the model gets wrong, retraining
learns it (held-out paraphrases too), nothing else on the frozen test split gets worse beyond the
tolerance, the candidate is promoted and the service swaps to it without downtime; a broken model
is refused and the old one keeps serving.

The champion is the shipped model; one retraining (~1 minute on 2 cores) runs for the module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from training.retrain import is_held_out, retrain
from triage.champion import read_pointer
from triage.engine import Triage
from triage.settings import Settings
from triage.store import Store, upgrade
from triage.store.service import NewMessage

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "samples"

BIKES = yaml.safe_load((Path(__file__).parent / "data" / "bike_sharing.yaml").read_text(encoding="utf-8"))
# The reviewer corrects topic and authority; urgency is left alone, so it is not a training label.
TARGET = {"topic": "public_transport", "authority": "transport_roads_dept"}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    # The champion is the shipped model; the candidate is trained exactly as it was (same split,
    # same configuration and seed) plus the corrections.
    settings = Settings(var_dir=tmp / "var", model_dir=REPO / "models" / "default", data_dir=DATA,
                        database_url=f"sqlite:///{tmp / 'triage.db'}", model_check_seconds=0)
    store = Store(settings.resolved_database_url())
    upgrade(store.engine)
    champion = Triage.load(settings.model_dir, settings)
    before = {t: champion.classify(t).topic.label for t in BIKES["corrections"] + BIKES["paraphrases"]}
    msgs = [NewMessage(t, "telegram", f"bike-{i}") for i, t in enumerate(BIKES["corrections"])]
    saved = store.save_classified(msgs, [champion.classify(m.text, explain=True).to_dict() for m in msgs])
    allowed = {"topic": {TARGET["topic"]}, "authority": {TARGET["authority"]}}
    for s in saved:
        store.add_correction(s.id, "reviewer-aigerim", dict(TARGET), None, allowed)
    result = retrain(store, settings, use_mlflow=False, promoted_by="test", progress=False)
    yield {"settings": settings, "store": store, "champion": champion, "before": before, "saved": saved,
           "result": result, "tmp": tmp}
    store.dispose()


def test_the_champion_gets_the_phrasing_wrong(loop):
    wrong = [t for t, lab in loop["before"].items() if lab != TARGET["topic"]]
    assert len(wrong) >= 0.8 * len(loop["before"])


def test_the_candidate_learned_the_corrected_and_the_held_out_messages(loop):
    cand = Triage.load(loop["result"].candidate_dir, loop["settings"])
    held = [t for t, s in zip(BIKES["corrections"], loop["saved"], strict=True) if is_held_out(s.id)]
    trained = [t for t in BIKES["corrections"] if t not in held]
    assert held, "the hash holds out some corrections"
    right = lambda texts: sum(cand.classify(t).topic.label == TARGET["topic"] for t in texts) / len(texts)  # noqa: E731
    assert right(trained) >= 0.9
    assert right(held) >= 0.75
    assert right(BIKES["paraphrases"]) >= 0.8


def test_nothing_else_got_worse_beyond_tolerance_and_the_gate_passed(loop):
    c = loop["result"].comparison
    assert c["worse_on_test"] == [], c["test"]
    assert all(r["delta"] >= -c["tolerance"] for r in c["test"].values())
    assert c["better_on_corrections"] and c["gate_passed"]
    md = (loop["result"].run_dir / "comparison.md").read_text(encoding="utf-8")
    assert set(c["routing"]) == set(c["test"])  # auto-routing of both models, reported per head
    for r in c["routing"].values():
        assert 0 <= r["champion"]["coverage"] <= 1 and 0 <= r["candidate"]["coverage"] <= 1
    assert "Auto-routing on the test split" in md and "Messages auto-routed without review" in md
    changed = (loop["result"].run_dir / "changed_predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line)["slice"] == "corrections" for line in changed)


def test_promotion_moves_the_pointer_and_is_recorded(loop):
    r = loop["result"]
    assert r.promoted
    assert read_pointer(loop["settings"])["model_version"] == r.candidate_version
    (p,) = loop["store"].promotions()
    assert p["model_version"] == r.candidate_version and p["previous_version"] == loop["champion"].version
    assert p["promoted_by"] == "test" and p["forced"] is False and p["metrics"]["gate_passed"] is True


def test_force_without_a_reason_is_refused(loop):
    from triage.errors import DataError

    with pytest.raises(DataError, match="reason"):
        retrain(loop["store"], loop["settings"], force=True, use_mlflow=False, progress=False)


def test_the_service_swaps_to_the_new_champion_and_refuses_a_broken_one(loop, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app
    from triage.champion import write_pointer

    settings = loop["settings"]
    old = loop["champion"]
    app = create_app(settings, engine=old, store=loop["store"])
    key = loop["store"].create_key("admin", "ops")
    h = {"X-API-Key": key}
    with TestClient(app) as c:
        assert c.get("/v1/model", headers=h).json()["version"] == old.version
        held_engine = app.state.models.current  # a request in flight keeps this reference
        r = c.post("/v1/admin/reload", headers=h)
        assert r.status_code == 200 and r.json()["status"] == "reloaded"
        new_version = loop["result"].candidate_version
        assert c.get("/v1/model", headers=h).json()["version"] == new_version
        assert held_engine.version == old.version and held_engine.classify("жол").topic is not None
        assert c.post("/v1/classify", json={"text": BIKES["paraphrases"][0]}, headers=h).json()["model_version"] == new_version

        # A tampered champion: refused (hash check), the new one keeps serving.
        bad = tmp_path / "tampered"
        shutil.copytree(loop["result"].candidate_dir, bad)
        victim = next(p for p in bad.iterdir() if p.suffix in (".joblib", ".pkl") or p.name.startswith("model"))
        victim.write_bytes(victim.read_bytes()[:-100])
        write_pointer(settings, bad, "tampered")
        r = c.post("/v1/admin/reload", headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "model_refused"
        assert c.get("/v1/model", headers=h).json()["version"] == new_version
        write_pointer(settings, loop["result"].candidate_dir, new_version)
