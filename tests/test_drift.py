"""Drift of recent traffic against the training data (on SQLite and on the real PostgreSQL)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from triage.drift import (
    add_cli,
    compute_drift,
    drift_level,
    parse_since,
    parse_until,
    psi,
    write_drift_report,
)
from triage.errors import InvalidRequestError
from triage.store.service import NewMessage
from triage.store.tables import Message

THRESHOLDS = {"topic": 0.8, "authority": 0.8, "urgency": 0.8}
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def _pred(topic: str, language: str, conf: float = 0.9) -> dict:
    def head(label):
        return {"label": label, "confidence": conf, "alternatives": [[label, conf]]}

    return {"topic": head(topic), "authority": head("akimat_office"), "urgency": head("medium"),
            "district": None, "needs_review": False, "reasons": [], "model_version": "m1",
            "language": language, "explanation": {}}


def _save(store, records, created_at: datetime, conf: float = 0.9, **override) -> None:
    """Store records as if classified at ``created_at``, predictions = their own labels."""
    msgs = [NewMessage(r["text"]) for r in records]
    preds = [_pred(override.get("topic", r["topic"]), override.get("language", r["language"]), conf)
             for r in records]
    ids = [s.id for s in store.save_classified(msgs, preds)]
    with store.sessions() as s, s.begin():
        s.execute(update(Message).where(Message.id.in_(ids)).values(created_at=created_at))


def _drift(store, train_records):
    return compute_drift(store, train_records, NOW - timedelta(days=7), NOW, THRESHOLDS)


# -- the metrics ----------------------------------------------------------------------------


def test_psi_is_zero_for_equal_distributions_and_large_for_disjoint_ones():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([1, 0], [0, 1]) > 10


def test_drift_levels_follow_the_documented_psi_thresholds():
    assert [drift_level(v) for v in (0.05, 0.1, 0.2, 0.21, None)] == [
        "none", "moderate", "moderate", "significant", None]


# -- recent traffic versus the training data --------------------------------------------------


def test_traffic_like_the_training_data_is_not_flagged(store, train_records, test_records):
    _save(store, test_records[::2], NOW - timedelta(days=1))
    report = _drift(store, train_records)
    assert report["messages"] == len(test_records[::2])
    assert report["language"]["drift"] == "none"
    assert report["topic"]["drift"] == "none"
    assert report["unknown_vocabulary"]["drift"] == "none"
    assert abs(report["unknown_vocabulary"]["recent_share"]
               - report["unknown_vocabulary"]["train_baseline_share"]) < 0.03


def test_all_english_traffic_is_flagged_as_language_drift(store, train_records, test_records):
    english = [r for r in test_records if r["language"] == "en"][:150]
    _save(store, english, NOW - timedelta(days=1))
    report = _drift(store, train_records)
    assert report["language"]["drift"] == "significant"
    assert report["language"]["recent"]["en"] == 1.0
    assert any(f.startswith("language: significant") for f in report["flags"])
    assert report["drift"] == "significant"


def test_traffic_of_one_topic_is_flagged_as_topic_drift(store, train_records, test_records):
    _save(store, test_records[:150], NOW - timedelta(days=1), topic="roads")
    report = _drift(store, train_records)
    assert report["topic"]["drift"] == "significant"
    assert report["language"]["drift"] == "none"


def test_unfamiliar_vocabulary_is_flagged(store, train_records):
    texts = [{"text": f"qwzx{i} blorptane vrinkel zubodrax {i} flimmerquast", "language": "ru", "topic": "roads"}
             for i in range(60)]
    _save(store, texts, NOW - timedelta(days=1))
    v = _drift(store, train_records)["unknown_vocabulary"]
    assert v["recent_share"] == 1.0
    assert v["drift"] == "significant"


def test_a_confidence_drop_is_flagged_against_the_previous_period(store, train_records, test_records):
    _save(store, test_records[:100], NOW - timedelta(days=10), conf=0.95)
    _save(store, test_records[100:200], NOW - timedelta(days=1), conf=0.4)
    report = _drift(store, train_records)
    assert report["previous_period"]["messages"] == 100
    topic = report["confidence"]["topic"]
    assert topic["drift"] == "significant"
    assert topic["recent"]["below_threshold"] == 1.0 and topic["previous"]["below_threshold"] == 0.0
    assert topic["recent"]["mean"] == pytest.approx(0.4)


def test_below_threshold_uses_each_message_language_threshold(store, train_records, test_records):
    recs = [r for r in test_records if r["language"] in ("ru", "kk")][:100]
    _save(store, recs, NOW - timedelta(days=1), conf=0.85)
    by_language = {"topic": {"ru": 0.9, "kk": 0.8}}  # 0.85 is below for Russian only
    report = compute_drift(store, train_records, NOW - timedelta(days=7), NOW, THRESHOLDS, by_language)
    share_ru = sum(r["language"] == "ru" for r in recs) / len(recs)
    assert 0 < share_ru < 1
    assert report["confidence"]["topic"]["recent"]["below_threshold"] == pytest.approx(share_ru, abs=1e-4)
    assert report["confidence"]["authority"]["recent"]["below_threshold"] == 0.0  # pooled 0.8


def test_confidence_is_not_compared_without_a_previous_period(store, train_records, test_records):
    _save(store, test_records[:60], NOW - timedelta(days=1))
    report = _drift(store, train_records)
    assert report["confidence"]["topic"]["psi"] is None
    assert report["confidence"]["topic"]["recent"]["n"] == 60
    assert any("previous period" in n for n in report["notes"])


def test_messages_outside_the_period_are_not_counted(store, train_records, test_records):
    _save(store, test_records[:30], NOW + timedelta(hours=1))
    _save(store, test_records[30:40], NOW - timedelta(days=30))
    assert _drift(store, train_records)["messages"] == 0


def test_no_messages_gives_an_empty_report_not_an_error(store, train_records):
    report = _drift(store, train_records)
    assert report["messages"] == 0 and report["drift"] is None and report["language"] is None
    assert report["notes"] == ["no messages in the period: nothing to compare"]


def test_an_empty_period_is_an_invalid_request(store, train_records):
    with pytest.raises(InvalidRequestError):
        compute_drift(store, train_records, NOW, NOW, THRESHOLDS)


# -- the report -------------------------------------------------------------------------------


def test_report_writes_json_markdown_and_png(store, train_records, test_records, tmp_path):
    _save(store, test_records[:80], NOW - timedelta(days=9))
    _save(store, test_records[80:200], NOW - timedelta(days=1), language="en")
    out = write_drift_report(_drift(store, train_records), tmp_path / "drift")
    data = json.loads((out / "drift.json").read_text(encoding="utf-8"))
    assert data["language"]["drift"] == "significant"
    assert (out / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| language |" in md and "significant" in md


# -- --since ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("7d", NOW - timedelta(days=7)),
    ("24h", NOW - timedelta(hours=24)),
    ("30m", NOW - timedelta(minutes=30)),
    (" 2D ", NOW - timedelta(days=2)),
    ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
    ("2025-03-01T06:00:00+05:00", datetime(2025, 3, 1, 1, tzinfo=UTC)),
])
def test_since_accepts_durations_and_iso_dates(value, expected):
    assert parse_since(value, NOW) == expected


@pytest.mark.parametrize("value", ["7x", "", "d7", "-3d", "0d", "yesterday", "2025-13-01", "2025-04-01"])
def test_since_rejects_bad_values_with_a_clear_error(value):
    with pytest.raises(InvalidRequestError, match="--since"):
        parse_since(value, NOW)


def test_until_rejects_a_non_date():
    with pytest.raises(InvalidRequestError, match="--until"):
        parse_until("tomorrow")


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
        args = ap.parse_args(["drift", *argv])
        return args.func(args)

    yield run
    get_settings.cache_clear()


def test_command_with_no_recent_messages_says_so_and_exits_0(run_cli, tmp_path, capsys):
    assert run_cli("--since", "24h", "--output", str(tmp_path / "out")) == 0
    assert "no messages" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_command_prints_the_table_and_writes_the_report(run_cli, store, test_records, tmp_path, capsys):
    _save(store, test_records[:60], datetime.now(UTC) - timedelta(hours=1))
    assert run_cli("--since", "1d") == 0
    out = capsys.readouterr().out
    assert "| check | reference |" in out
    (report_dir,) = (tmp_path / "var" / "drift").iterdir()
    assert {p.name for p in report_dir.iterdir()} == {"drift.json", "report.md", "drift.png"}
    data = json.loads((report_dir / "drift.json").read_text(encoding="utf-8"))
    assert data["confidence"]["topic"]["threshold"] > 0.5  # the shipped model's threshold


def test_command_rejects_a_bad_since(run_cli):
    with pytest.raises(InvalidRequestError):
        run_cli("--since", "a week")
