"""The store of messages, predictions, corrections and API keys (SQLite by default, PostgreSQL).

The API writes it; retraining reads it. Schema changes go through Alembic migrations
(``triage db upgrade``)."""

from triage.store.migrate import current_revision, ensure_schema, startup_lock, upgrade
from triage.store.service import Store

__all__ = ["Store", "current_revision", "ensure_schema", "startup_lock", "upgrade"]
