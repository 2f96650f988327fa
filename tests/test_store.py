"""The store on its own (no HTTP), on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from triage.errors import InvalidLabelError, NotFoundError
from triage.store import Store, current_revision
from triage.store.migrate import downgrade, head_revision, upgrade
from triage.store.service import NewMessage
from triage.store.tables import Base


def _pred(topic="roads", needs_review=True, conf=0.5) -> dict:
    head = {"label": topic, "confidence": conf, "alternatives": [[topic, conf], ["landscaping", 1 - conf]]}
    return {"topic": head, "authority": None, "urgency": None, "district": None, "needs_review": needs_review,
            "reasons": [], "model_version": "m1", "language": "ru", "explanation": {"topic": [["яма", 1.2], ["7012", 0.5]]}}


ALLOWED = {"topic": {"roads", "landscaping"}, "authority": set(), "urgency": set(), "district": set()}


def test_migrations_create_exactly_the_tables_the_code_uses(store):
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(store):
    downgrade(store.engine, "base")
    assert current_revision(store.engine) is None
    upgrade(store.engine)
    assert current_revision(store.engine) == head_revision()


def test_stored_explanation_drops_terms_with_digits(store):
    (s,) = store.save_classified([NewMessage("яма 7012")], [_pred()])
    assert store.get_message(s.id)["prediction"]["explanation"]["topic"] == [["яма", 1.2]]


def test_every_field_of_a_batch_is_stored_with_its_own_id_in_order(store):
    from datetime import UTC, datetime

    from sqlalchemy import select

    from triage.store.tables import Message

    posted = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    items = [NewMessage(f"яма номер {i}", "telegram", f"ext-{i}", f"author {i}", posted, {"note": f"n{i}", "i": i})
             for i in range(40)]
    saved = store.save_classified(items, [_pred(conf=0.5 + i / 100) for i in range(40)])
    assert len({s.id for s in saved}) == 40 and not any(s.duplicate for s in saved)
    with store.sessions() as session:
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_([s.id for s in saved])))}
    for i, s in enumerate(saved):
        m = rows[s.id]
        assert (m.external_id, m.author, m.extra, m.topic_confidence, m.language, m.model_version) == (
            f"ext-{i}", f"author {i}", {"note": f"n{i}", "i": i}, 0.5 + i / 100, "ru", "m1")
        assert m.posted_at.replace(tzinfo=UTC) == posted and m.created_at is not None
        assert m.prediction["topic"]["confidence"] == 0.5 + i / 100 and m.in_queue is not None


def test_concurrent_retries_of_one_message_store_one_row(store):
    ids, errors = [], []

    def save():
        try:
            ids.append(store.save_classified([NewMessage("яма", "telegram", "same")], [_pred()])[0].id)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 1


def test_concurrent_corrections_are_all_kept_and_the_latest_wins(store):
    (s,) = store.save_classified([NewMessage("яма")], [_pred()])
    labels = ["roads", "landscaping"] * 6

    def correct(i):
        store.add_correction(s.id, f"reviewer-{i}", {"topic": labels[i]}, None, ALLOWED)

    threads = [threading.Thread(target=correct, args=(i,)) for i in range(len(labels))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = store.get_message(s.id)
    assert len(m["corrections"]) == len(labels)
    assert m["labels"]["topic"] == m["corrections"][-1]["topic"]


def test_invalid_correction_raises_before_writing(store):
    (s,) = store.save_classified([NewMessage("яма")], [_pred()])
    with pytest.raises(InvalidLabelError):
        store.add_correction(s.id, "r", {"topic": "unicorns"}, None, ALLOWED)
    with pytest.raises(NotFoundError):
        store.add_correction(s.id + 1000, "r", {"topic": "roads"}, None, ALLOWED)
    assert store.get_message(s.id)["corrections"] == []


def test_unreachable_database_is_a_typed_error():
    from triage.errors import StoreUnavailableError

    dead = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert dead.ping() is False
    with pytest.raises(StoreUnavailableError):
        dead.save_classified([NewMessage("яма")], [_pred()])


def test_the_cheap_head_check_agrees_with_alembic_and_skips_a_migrated_database(tmp_path):
    from sqlalchemy import create_engine

    from triage.store.migrate import declared_head, ensure_schema

    assert declared_head() == head_revision()
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert ensure_schema(engine) is True        # fresh file: migrated
    assert ensure_schema(engine) is False       # at head: nothing to do, Alembic not needed
    downgrade(engine, "0001")
    assert ensure_schema(engine) is True
    engine.dispose()


def test_a_service_worker_on_a_migrated_database_does_not_import_alembic(tmp_path):
    import subprocess
    import sys

    from sqlalchemy import create_engine

    db = tmp_path / "w.db"
    engine = create_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    code = ("import sys; from sqlalchemy import create_engine; from triage.store import ensure_schema; "
            f"assert ensure_schema(create_engine('sqlite:///{db}')) is False; "
            "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
