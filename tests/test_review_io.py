"""Review queue export (CSV, Label Studio) and label import, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import argparse
import csv
import json
import xml.etree.ElementTree as ET

import pytest

from triage import review_io
from triage.review_io import (
    CSV_COLUMNS,
    LabelImportError,
    add_cli,
    allowed_labels,
    export_queue,
    import_labels,
    labeling_config_path,
)
from triage.store.service import NewMessage

TEXTS = [
    'Яма на Кенесары, 12 — "огромная", машины ломаются',
    "Подъезд не убирают;\nмусор лежит неделю",
    "Аулада жарық жоқ, шам сөнді",
    "Bus 32 never comes on time, \"schedule\" is fiction",
    "Благодарю за ремонт двора!",
]


@pytest.fixture(scope="module")
def allowed():
    return allowed_labels()


def _pred(conf: float) -> dict:
    def head(label):
        return {"label": label, "confidence": conf, "alternatives": [[label, conf], ["other", 1 - conf]]}

    return {"topic": head("roads"), "authority": head("transport_roads_dept"), "urgency": head("medium"),
            "district": "esil", "needs_review": True, "reasons": [], "model_version": "m1", "language": "ru",
            "explanation": {}}


def _queue(store) -> list[int]:
    """Queued messages; the review order is their insertion order (falling priority)."""
    stored = store.save_classified([NewMessage(t) for t in TEXTS], [_pred(0.3 + 0.1 * i) for i in range(len(TEXTS))])
    return [s.id for s in stored]


def _read_csv(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)


# -- CSV --------------------------------------------------------------------------------------


def test_csv_export_walks_the_whole_queue_in_its_order(store, tmp_path, monkeypatch):
    ids = _queue(store)
    monkeypatch.setattr(review_io, "PAGE_SIZE", 2)  # several pages, cursor included
    assert export_queue(store, "csv", tmp_path / "q.csv") == len(ids)
    rows = _read_csv(tmp_path / "q.csv")
    assert list(rows[0]) == CSV_COLUMNS
    assert [int(r["id"]) for r in rows] == ids
    assert rows[0]["topic"] == "roads" and rows[0]["district"] == "esil" and rows[0]["comment"] == ""
    assert float(rows[0]["topic_confidence"]) == pytest.approx(0.3)
    assert rows[1]["text"] == TEXTS[1]  # newline and ';' survive


def test_csv_export_respects_limit_and_head(store, tmp_path):
    ids = _queue(store)
    assert export_queue(store, "csv", tmp_path / "q.csv", limit=3, head="topic") == 3
    assert [int(r["id"]) for r in _read_csv(tmp_path / "q.csv")] == ids[:3]  # lowest confidence first


def test_csv_round_trip_stores_corrections_under_the_reviewer(store, tmp_path, allowed):
    ids = _queue(store)
    export_queue(store, "csv", tmp_path / "q.csv")
    rows = _read_csv(tmp_path / "q.csv")
    rows[1]["topic"], rows[1]["authority"] = "housing_maintenance", "housing_inspection"
    rows[3]["comment"] = "route 32 really is late"
    _write_csv(tmp_path / "q.csv", rows)
    summary = import_labels(store, tmp_path / "q.csv", None, "aigerim", allowed)
    assert (summary["imported"], summary["unchanged"], summary["read"]) == (2, 3, 5)
    m = store.get_message(ids[1])
    assert m["labels"]["topic"] == "housing_maintenance" and m["labels"]["district"] == "esil"
    assert m["corrections"][0]["reviewer"] == "aigerim"
    assert store.get_message(ids[3])["corrections"][0]["comment"] == "route 32 really is late"
    assert store.get_message(ids[0])["corrections"] == []
    assert [i["id"] for i in store.review_queue()["items"]] == [ids[0], ids[2], ids[4]]


def test_csv_with_unknown_label_or_id_imports_nothing_and_names_every_line(store, tmp_path, allowed):
    ids = _queue(store)
    export_queue(store, "csv", tmp_path / "q.csv")
    rows = _read_csv(tmp_path / "q.csv")
    rows[0]["topic"] = "landscaping"  # valid, but must not be imported alone
    rows[1]["urgency"] = "whenever"
    rows[2]["id"] = "999999"
    rows[3]["id"] = "abc"
    _write_csv(tmp_path / "q.csv", rows)
    with pytest.raises(LabelImportError) as err:
        import_labels(store, tmp_path / "q.csv", "csv", "aigerim", allowed)
    problems = err.value.problems
    assert any(p.startswith("line 3 ") and "unknown urgency label 'whenever'" in p for p in problems)
    assert any(p.startswith("line 5") and "message 999999 not found" in p for p in problems)
    assert any(p.startswith("line 6") and "'abc' is not a message id" in p for p in problems)
    assert all(store.get_message(i)["corrections"] == [] for i in ids)


def test_csv_with_bom_semicolons_crlf_and_odd_quoting_is_read(store, tmp_path, allowed):
    ids = _queue(store)
    text = ('\ufeff" ID ";"Text";"topic";"authority";"urgency";"district";"Comment"\r\n'
            f'"{ids[0]}";"Яма ""огромная"";\r\nвторая строка";"public_transport";"";"";"";""\r\n'
            f'{ids[1]};plain;roads;transport_roads_dept;medium;esil;"ok; ""checked"""\r\n'
            ';;;;;;\r\n')
    (tmp_path / "excel.csv").write_bytes(text.encode("utf-8"))
    summary = import_labels(store, tmp_path / "excel.csv", None, "dana", allowed)
    assert (summary["imported"], summary["unchanged"]) == (2, 0)
    m0 = store.get_message(ids[0])
    assert m0["labels"]["topic"] == "public_transport" and m0["labels"]["urgency"] == "medium"
    assert store.get_message(ids[1])["corrections"][0]["comment"] == 'ok; "checked"'


def test_malformed_csv_row_is_reported_with_its_line(store, tmp_path, allowed):
    ids = _queue(store)
    (tmp_path / "bad.csv").write_text(f"id,topic,comment\n{ids[0]},ecology,\n{ids[1]},ecology,x,extra\n",
                                      encoding="utf-8")
    with pytest.raises(LabelImportError) as err:
        import_labels(store, tmp_path / "bad.csv", None, "dana", allowed)
    assert err.value.problems == ["line 3: 4 fields, the header has 3"]
    assert store.get_message(ids[0])["corrections"] == []


def test_csv_that_is_not_utf8_is_refused(store, tmp_path, allowed):
    _queue(store)
    (tmp_path / "cp1251.csv").write_bytes("id,comment\n1,плохо\n".encode("cp1251"))
    with pytest.raises(LabelImportError, match="not UTF-8"):
        import_labels(store, tmp_path / "cp1251.csv", None, "dana", allowed)


# -- Label Studio -----------------------------------------------------------------------------


def test_label_studio_export_has_predictions_and_a_matching_config(store, tmp_path):
    ids = _queue(store)
    out = tmp_path / "tasks.json"
    assert export_queue(store, "labelstudio", out, limit=2) == 2
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert [t["data"]["message_id"] for t in tasks] == ids[:2]
    pred = tasks[0]["predictions"][0]
    assert pred["model_version"] == "m1" and pred["score"] == pytest.approx(0.3)
    assert {r["from_name"]: r["value"]["choices"] for r in pred["result"]} == {
        "topic": ["roads"], "authority": ["transport_roads_dept"], "urgency": ["medium"], "district": ["esil"]}
    assert all(r["to_name"] == "text" and r["type"] == "choices" for r in pred["result"])
    config = ET.fromstring(labeling_config_path(out).read_text(encoding="utf-8"))
    assert config.find("Text").get("value") == "$text"
    choices = {c.get("name"): c for c in config.iter("Choices")}
    assert set(choices) == {"topic", "authority", "urgency", "district"}
    roads = [c for c in choices["topic"] if c.get("value") == "roads"]
    assert roads and roads[0].get("hint") == "Roads"


def _annotation(updated_at: str, cancelled: bool = False, comment: str | None = None, **labels) -> dict:
    result = [{"id": f"r{i}", "from_name": f, "to_name": "text", "type": "choices", "origin": "manual",
               "value": {"choices": [v]}} for i, (f, v) in enumerate(labels.items())]
    if comment:
        result.append({"id": "c", "from_name": "comment", "to_name": "text", "type": "textarea",
                       "value": {"text": [comment]}})
    return {"id": 1, "completed_by": 7, "result": result, "was_cancelled": cancelled, "ground_truth": False,
            "created_at": updated_at, "updated_at": updated_at, "lead_time": 3.1}


def test_label_studio_round_trip_takes_the_latest_annotation(store, tmp_path, allowed):
    ids = _queue(store)
    out = tmp_path / "tasks.json"
    export_queue(store, "labelstudio", out)
    tasks = json.loads(out.read_text(encoding="utf-8"))
    tasks[0]["annotations"] = [
        _annotation("2025-03-02T10:00:00.000000Z", topic="landscaping", comment="a yard, not a road"),
        _annotation("2025-03-01T09:00:00.000000Z", topic="ecology"),
    ]
    tasks[1]["annotations"] = [_annotation("2025-03-01T09:00:00Z", topic="roads", urgency="medium")]  # confirmed
    tasks[2]["annotations"] = [_annotation("2025-03-01T09:00:00Z", cancelled=True, topic="ecology")]
    tasks[3]["annotations"] = []
    (tmp_path / "export.json").write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    summary = import_labels(store, tmp_path / "export.json", None, "ls-team", allowed)
    assert (summary["imported"], summary["skipped"], summary["read"]) == (2, 3, 5)
    m0 = store.get_message(ids[0])
    assert m0["labels"]["topic"] == "landscaping" and m0["labels"]["authority"] == "transport_roads_dept"
    assert m0["corrections"][0]["comment"] == "a yard, not a road"
    assert m0["corrections"][0]["reviewer"] == "ls-team"
    confirmed = store.get_message(ids[1])["corrections"]
    assert len(confirmed) == 1 and confirmed[0]["topic"] == "roads"
    assert store.get_message(ids[2])["corrections"] == []


def test_label_studio_unknown_label_or_id_imports_nothing(store, tmp_path, allowed):
    ids = _queue(store)
    tasks = [
        {"id": 1, "data": {"message_id": ids[0]}, "annotations": [_annotation("2025-03-01T09:00:00Z", topic="ecology")]},
        {"id": 2, "data": {"message_id": ids[1]}, "annotations": [_annotation("2025-03-01T09:00:00Z", topic="unicorns")]},
        {"id": 3, "data": {"message_id": 999999}, "annotations": [_annotation("2025-03-01T09:00:00Z", topic="roads")]},
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks), encoding="utf-8")
    with pytest.raises(LabelImportError) as err:
        import_labels(store, tmp_path / "export.json", "labelstudio", "ls-team", allowed)
    assert err.value.problems == [f"task #2 (id 2) (message {ids[1]}): unknown topic label 'unicorns'",
                                  "task #3 (id 3): message 999999 not found"]
    assert store.get_message(ids[0])["corrections"] == []


def test_a_file_that_is_not_a_label_studio_export_is_refused(store, tmp_path, allowed):
    (tmp_path / "min.json").write_text('{"topic": "roads"}', encoding="utf-8")
    with pytest.raises(LabelImportError, match="expected a list of tasks"):
        import_labels(store, tmp_path / "min.json", None, "x", allowed)


# -- the command --------------------------------------------------------------------------------


@pytest.fixture
def run_cli(store, tmp_path, monkeypatch):
    from triage.settings import get_settings

    monkeypatch.setenv("TRIAGE_DATABASE_URL", store.url)
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()

    def run(*argv):
        ap = argparse.ArgumentParser(prog="triage")
        add_cli(ap.add_subparsers(dest="command", required=True))
        args = ap.parse_args(["review", *argv])
        return args.func(args)

    yield run
    get_settings.cache_clear()


def test_command_exports_and_imports(run_cli, store, tmp_path, capsys):
    ids = _queue(store)
    out = tmp_path / "queue.csv"
    assert run_cli("export", "--format", "csv", "--limit", "2", "--output", str(out)) == 0
    rows = _read_csv(out)
    rows[0]["topic"] = "ecology"
    _write_csv(out, rows)
    assert run_cli("import", str(out), "--reviewer", "aigerim") == 0
    assert "1 correction(s) imported as 'aigerim', 1 unchanged" in capsys.readouterr().out
    assert store.get_message(ids[0])["labels"]["topic"] == "ecology"


def test_command_reports_problems_and_exits_2(run_cli, store, tmp_path, capsys):
    _queue(store)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,topic\n999999,roads\n1,unicorns\n", encoding="utf-8")
    assert run_cli("import", str(bad), "--reviewer", "aigerim") == 2
    err = capsys.readouterr().err
    assert "2 problem(s), nothing imported" in err and "line 2" in err and "line 3" in err
