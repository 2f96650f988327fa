"""train -> evaluate -> classify end to end on small subsets, through the real CLI."""

import csv
import json

import numpy as np
import pytest

from triage.cli import main
from triage.engine import Triage
from triage.io import write_jsonl


@pytest.fixture(scope="module")
def small(train_records, tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    by_topic = {}
    for r in train_records:
        by_topic.setdefault(r["topic"], []).append(r)
    rows = [r for rs in by_topic.values() for r in rs[:25]]
    write_jsonl(d / "train.jsonl", rows)
    return d


@pytest.fixture(scope="module")
def trained(small):
    out = small / "model"
    assert main(["train", "--data", str(small / "train.jsonl"), "--output", str(out), "--no-mlflow"]) == 0
    return out


def test_train_writes_a_loadable_model_with_a_manifest(trained):
    t = Triage.load(trained)
    m = t.manifest
    assert set(m["heads"]) == {"topic", "authority", "urgency"}
    assert m["data"]["sha256"] and m["versions"]["scikit-learn"]
    assert all(len(a["sha256"]) == 64 for a in m["artifacts"].values())
    assert set(m["thresholds"]) == {"topic", "authority", "urgency"}


def test_evaluate_writes_json_markdown_and_confusion_pngs(trained, small, test_records, tmp_path):
    write_jsonl(tmp_path / "eval.jsonl", test_records[:120])
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(trained), "--data", str(tmp_path / "eval.jsonl"),
                 "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {"accuracy", "macro_f1", "per_class_f1", "ece", "coverage", "per_language"} <= set(report["heads"]["topic"])
    for h in ("topic", "authority", "urgency"):
        png = out / f"confusion_{h}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text().startswith("# Evaluation")


def test_classify_streams_jsonl_in_order_and_reports_bad_lines(trained, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "text": "нет воды третий день"}, ensure_ascii=False) + "\n"
        + "{not json\n"
        + json.dumps({"id": "c", "text": "   "}) + "\n"
        + json.dumps({"id": "d", "body": "no text field"}) + "\n"
        + json.dumps({"id": "e", "text": "Pothole on Kabanbay Batyr"}) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert main(["classify", "--model", str(trained), "--input", str(src), "--output", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x.get("id") for x in lines] == ["a", None, "c", "d", "e"]
    assert "error" in lines[1] and "error" in lines[2] and "error" in lines[3]
    for x in (lines[0], lines[4]):
        assert {"language", "script", "topic", "authority", "urgency", "district", "recipient",
                "needs_review", "reasons", "model_version"} <= set(x)
        assert set(x["topic"]) == {"label", "confidence", "alternatives"}


def test_topic_only_csv_with_custom_labels_trains_and_classifies(tmp_path):
    rows = [("Trash not collected on our street", "garbage"), ("Bins overflowing again", "garbage"),
            ("Garbage truck never came", "garbage"), ("Rubbish everywhere near the bins", "garbage"),
            ("Bus 12 is always late", "buses"), ("The bus driver was rude", "buses"),
            ("No bus for an hour at the stop", "buses"), ("Bus route 40 changed without notice", "buses"),
            ("Dark street, the lamps are broken", "lights"), ("Street light flickers all night", "lights"),
            ("No lighting in the park at night", "lights"), ("Lamp post is out on our corner", "lights")] * 3
    data = tmp_path / "city.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["message", "category"])
        for i, (t, c) in enumerate(rows):
            w.writerow([f"{t} #{i}", c])
    out = tmp_path / "model"
    assert main(["train", "--data", str(data), "--text-column", "message", "--topic-column", "category",
                 "--output", str(out), "--no-mlflow"]) == 0
    t = Triage.load(out)
    assert t.heads == ["topic"]
    r = t.classify("the garbage bins were not collected")
    assert r.topic.label in {"garbage", "buses", "lights"}
    assert r.authority is None and r.urgency is None
    d = r.to_dict()
    assert d["authority"] is None and d["urgency"] is None


def test_training_is_reproducible(small, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["train", "--data", str(small / "train.jsonl"), "--output", str(out), "--no-mlflow"]) == 0
    ma, mb = Triage.load(a).manifest, Triage.load(b).manifest
    assert ma["thresholds"] == mb["thresholds"] and ma["validation"] == mb["validation"]


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "m"),
                 "--no-mlflow"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_training_logs_and_registers_in_mlflow(small, tmp_path, monkeypatch):
    import mlflow

    from triage.settings import get_settings

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("TRIAGE_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        assert main(["train", "--data", str(small / "train.jsonl"), "--output", str(tmp_path / "m"),
                     "--eval-data", str(small / "train.jsonl")]) == 0
        client = mlflow.MlflowClient(tracking_uri=uri)
        versions = client.search_model_versions("name='astana-triage'")
        assert len(versions) == 1
        run = client.get_run(versions[0].run_id)
        assert run.data.params["data_sha256"] and "test.heads.topic.macro_f1" in run.data.metrics
        arts = [a.path for a in client.list_artifacts(run.info.run_id, "evaluation")]
        assert any(p.endswith("confusion_topic.png") for p in arts)
        model = mlflow.pyfunc.load_model(f"models:/astana-triage/{versions[0].version}")
        out = model.predict(["нет света в подъезде"])
        assert out.loc[0, "topic"] and out.loc[0, "error"] is None
    finally:
        get_settings.cache_clear()


def test_large_datasets_validate_on_a_holdout_instead_of_k_folds(small, tmp_path):
    from training.train import TrainConfig, choose_thresholds, load_dataset, out_of_fold
    from triage.rules import EmergencyRules
    from triage.settings import get_settings

    ds = load_dataset([small / "train.jsonl"])
    config = TrainConfig(holdout_above=100)  # the small set counts as "large" here
    oof = out_of_fold(ds, config, progress=False)
    share = oof["validated"].mean()
    assert 0.15 <= share <= 0.25
    assert not oof["topic"][~oof["validated"]].any(), "rows outside the holdout have no predictions"
    chosen = choose_thresholds(ds, oof, config, EmergencyRules.load(get_settings().emergency_rules_path))
    assert chosen["validation"]["n"] == oof["validated"].sum()
    assert set(chosen["thresholds"]) == {"topic", "authority", "urgency"}


def test_thresholds_hold_in_each_language_not_only_on_average():
    """Pooled, the language the model reads best carries the others; per-language thresholds keep
    each language's auto-routed precision at the target on the validation predictions."""
    from training.train import Dataset, TrainConfig, choose_thresholds
    from triage.rules import EmergencyRules
    from triage.settings import get_settings

    rng = np.random.default_rng(0)
    n = 6000
    langs = np.array(["kk", "ru"] * (n // 2), dtype=object)
    conf = rng.uniform(0.5, 1.0, n)
    # kk always right; ru right less often, the less confident the more (always above 0.955)
    right = np.where(langs == "kk", True, rng.random(n) < np.clip((conf - 0.5) * 2.2, 0, 1))
    y = np.where(right, "a", "b").astype(object)
    oof = {"classes": {"topic": ["a", "b"]}, "validated": np.ones(n, bool),
           "topic": np.column_stack([conf, 1 - conf])}
    ds = Dataset(texts=[""] * n, labels={"topic": list(y)}, languages=list(langs), sha256="", paths=[])
    rules = EmergencyRules.load(get_settings().emergency_rules_path)

    pooled = choose_thresholds(ds, oof, TrainConfig(thresholds_per_language=False), rules)
    per_lang = choose_thresholds(ds, oof, TrainConfig(), rules)
    assert "thresholds_by_language" not in pooled
    assert pooled["validation"]["topic"]["per_language"]["ru"]["precision_at_threshold"] < 0.95
    by = per_lang["thresholds_by_language"]["topic"]
    assert by["kk"] < pooled["thresholds"]["topic"] < by["ru"]
    for lang in ("kk", "ru"):
        v = per_lang["validation"]["topic"]["per_language"][lang]
        assert v["precision_at_threshold"] >= 0.95 and v["threshold"] == by[lang]


def test_trained_model_has_per_language_thresholds(trained):
    m = Triage.load(trained).manifest
    assert set(m["thresholds_by_language"]) == {"topic", "authority", "urgency"}
    assert all(set(by) == {"kk", "ru", "en"} for by in m["thresholds_by_language"].values())
    assert m["rule_veto"] == {"below": 0.01, "min_words": 10} and m["critical_threshold"] is not None


def test_a_rule_label_the_city_model_never_saw_is_explained_without_features(tmp_path):
    """A city's own taxonomy may lack the emergency rules' labels (emergency_service, critical): a
    rule still sets them, with confidence 0, and the explanation of that head is empty, not a crash."""
    rows = [("Trash not collected on our street", "garbage", "utilities", "routine"),
            ("Bins overflowing again, smells awful", "garbage", "utilities", "routine"),
            ("Bus 12 is always late", "buses", "transport", "routine"),
            ("The bus driver was rude to my mother", "buses", "transport", "routine"),
            ("Smoke and flames in the building, burning!", "garbage", "utilities", "urgent"),
            ("Bus on fire near the stop, people inside", "buses", "transport", "urgent")] * 6
    data = tmp_path / "city.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "topic", "authority", "urgency"])
        for i, row in enumerate(rows):
            w.writerow([f"{row[0]} #{i}", *row[1:]])
    out = tmp_path / "model"
    assert main(["train", "--data", str(data), "--output", str(out), "--no-mlflow"]) == 0
    t = Triage.load(out)
    assert "emergency_service" not in t.model.classes_["authority"]
    r = t.classify("The building is on fire, smoke everywhere!", explain=True)
    assert any(reason.startswith("rule:fire:") for reason in r.reasons)
    assert (r.authority.label, r.authority.confidence) == ("emergency_service", 0.0)
    assert (r.urgency.label, r.urgency.confidence) == ("critical", 0.0)
    assert r.explanation["authority"] == [] and r.explanation["urgency"] == []
    assert r.explanation["topic"]  # the topic head knows its label

    # The service (which always explains) answers and stores it too.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from triage.settings import Settings
    from triage.store import Store, upgrade

    store = Store(f"sqlite:///{tmp_path / 'city.db'}", quality_sample_rate=0.0, key_cache_seconds=0)
    upgrade(store.engine)
    settings = Settings(database_url=str(store.engine.url), var_dir=tmp_path / "var", key_cache_seconds=0)
    with TestClient(create_app(settings, engine=t, store=store), raise_server_exceptions=False) as c:
        key = {"X-API-Key": store.create_key("admin", "city")}
        res = c.post("/v1/classify", json={"text": "The building is on fire, smoke everywhere!"}, headers=key)
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["urgency"]["label"] == "critical" and body["stored"] is True
        assert c.get(f"/v1/messages/{body['message_id']}", headers=key).json()["labels"]["urgency"] == "critical"
    store.dispose()


def test_the_pyfunc_takes_every_input_mlflow_hands_over_and_keeps_its_columns(triage_model):
    import pandas as pd

    from triage.mlflow_model import OUTPUT_COLUMNS, TriagePyfunc

    m = TriagePyfunc()
    m.triage = triage_model
    texts = ["Жолда шұңқыр көп", "Нет света в подъезде"]
    frames = [m.predict(None, pd.DataFrame({"id": ["A-1", "A-2"], "text": texts})),
              m.predict(None, {"text": texts}),  # what `mlflow models serve` makes of {"inputs": {"text": [...]}}
              m.predict(None, [{"text": t} for t in texts]), m.predict(None, texts),
              m.predict(None, pd.DataFrame({"message": texts}))]  # a single column is the text
    for out in frames:
        assert list(out.columns) == OUTPUT_COLUMNS and len(out) == 2
        assert out["topic"].tolist() == frames[0]["topic"].tolist() and out["error"].isna().all()
    assert len(m.predict(None, "Жолда шұңқыр көп")) == 1
    bad = m.predict(None, pd.DataFrame({"text": ["", None]}))
    assert list(bad.columns) == OUTPUT_COLUMNS and bad["error"].notna().all()
    assert list(m.predict(None, pd.DataFrame({"text": []})).columns) == OUTPUT_COLUMNS
    for wrong in (pd.DataFrame({"id": ["A-1"], "body": ["яма"]}), pd.DataFrame(), {"body": ["яма"]}, [{"body": "яма"}]):
        with pytest.raises(ValueError, match="'text'"):
            m.predict(None, wrong)


def test_out_of_fold_probabilities_never_come_from_sigmoids_fitted_on_their_own_labels():
    """Each validation fold's probabilities come from sigmoids fitted on the other folds: changing
    one fold's labels changes every other fold's probabilities and none of its own."""
    from training.train import calibrate_out_of_fold

    rng = np.random.default_rng(0)
    n = 800
    y = rng.choice(["a", "b", "c"], size=n).astype(object)
    scores = np.column_stack([(y == c) * 1.5 - 0.7 + rng.normal(size=n) for c in "abc"])
    groups = np.arange(n) % 4
    rows = np.arange(n)
    before, (a, b) = calibrate_out_of_fold(scores, y, ["a", "b", "c"], groups, rows)
    changed = y.copy()
    changed[groups == 0] = rng.choice(["a", "b", "c"], size=(groups == 0).sum())
    after, (a2, b2) = calibrate_out_of_fold(scores, changed, ["a", "b", "c"], groups, rows)
    np.testing.assert_array_equal(before[groups == 0], after[groups == 0])
    assert not np.allclose(before[groups == 1], after[groups == 1])
    assert not np.allclose(a, a2)  # the final model's sigmoids see every fold
    unlabelled = y.copy()
    unlabelled[:40] = None  # rows without a label are scored, not fitted on
    p, _ = calibrate_out_of_fold(scores, unlabelled, ["a", "b", "c"], groups, rows)
    assert np.allclose(p[:40].sum(axis=1), 1.0)


def test_calibrating_on_the_validation_folds_gives_a_calibrated_final_model_and_thresholds(small, tmp_path):
    from triage.model import CalibratedLinearSVC

    assert main(["train", "--data", str(small / "train.jsonl"), "--output", str(tmp_path / "m"), "--no-mlflow",
                 "--calibration", "validation"]) == 0
    t = Triage.load(tmp_path / "m")
    manifest = t.manifest
    assert manifest["config"]["calibration"] == "validation" and set(manifest["thresholds"]) == set(manifest["heads"])
    for est in t.model.heads_.values():
        assert isinstance(est, CalibratedLinearSVC) and est.cv is None
        assert est.a_ is not None and (est.a_ < 0).all(), "a higher SVM score means a higher probability"
    r = t.classify("Автобус 12 опять опоздал на полчаса")
    assert 0 < r.topic.confidence <= 1 and r.topic.label in t.model.classes_["topic"]


def test_a_two_label_head_trains_calibrates_and_classifies(small, tmp_path):
    rows = [json.loads(line) for line in (small / "train.jsonl").read_text().splitlines()]
    data = tmp_path / "binary.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "urgency"])
        for r in rows:
            w.writerow([r["text"], "urgent" if r["urgency"] in ("critical", "high") else "routine"])
    from training.train import TrainConfig, train

    for calibration in ("inner", "validation"):
        out = tmp_path / calibration
        train([data], out, config=TrainConfig(calibration=calibration), progress=False)
        t = Triage.load(out)
        r = t.classify("Автобус 12 опять опоздал на полчаса")  # no emergency rule (those set "critical")
        assert r.urgency.label in ("urgent", "routine") and 0.5 <= r.urgency.confidence <= 1.0
        assert sorted(lab for lab, _ in r.urgency.alternatives) == ["routine", "urgent"]


def test_a_fold_model_that_learned_two_of_three_labels_scores_only_those():
    from training.train import _full_scores

    s = np.array([[1.5], [-0.5]])
    full = _full_scores(s, ["a", "b", "c"], ["a", "c"])
    np.testing.assert_array_equal(full[:, 2], [1.5, -0.5])  # a binary SVM scores its second class
    np.testing.assert_array_equal(full[:, 0], [-1.5, 0.5])
    assert np.isnan(full[:, 1]).all()
    assert _full_scores(s, ["a", "b"], ["a", "b"]).shape == (2, 1)
    assert np.isnan(_full_scores(s, ["a", "b"], ["a"])).all()


def test_a_label_no_validation_fit_could_score_is_a_clear_error_not_a_flat_sigmoid():
    """A rare label whose messages all sit in one validation fold is scored only by the fold model
    that never saw it: calibrating it on the validation folds is impossible, and said so."""
    from training.train import calibrate_out_of_fold
    from triage.errors import DataError

    rng = np.random.default_rng(1)
    y = np.array(["a", "b"] * 100 + ["z", "z"], dtype=object)
    scores = rng.normal(size=(len(y), 3))
    scores[-2:, 2] = np.nan  # the fold holding both "z" messages had no model for "z"
    groups = np.arange(len(y)) % 4
    with pytest.raises(DataError, match=r"urgency: .*'z'.*--calibration inner"):
        calibrate_out_of_fold(scores, y, ["a", "b", "z"], groups, np.arange(len(y)), "urgency")


def test_rows_no_fit_scored_get_no_probability_for_two_labels_either():
    from training.train import out_of_fold_proba

    for width, n in ((1, 2), (3, 3)):
        p = out_of_fold_proba(np.full((2, width), np.nan), np.full(width, -1.0), np.zeros(width), n)
        assert (p == 0).all(), "an unscored row must not read as a sure first label"
