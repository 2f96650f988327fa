"""Alembic, driven from code: ``triage db upgrade`` and the service's start-up for SQLite.

Alembic is imported only when a migration actually runs: a service worker whose database is
already at the head revision checks that with one query (:func:`ensure_schema`) and saves the
~10 MB that importing Alembic costs per process."""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REV = re.compile(r'^(down_revision|revision)\s*=\s*(?:"([^"]*)"|None)', re.M)


def _config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on the engine's database."""
    from alembic import command

    cfg = _config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config("sqlite://")).get_current_head()


def declared_head() -> str:
    """The head revision read from the migration files without Alembic (a linear history:
    the one revision no other revision points back to). Tested equal to :func:`head_revision`."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        fields = dict(_REV.findall(path.read_text(encoding="utf-8")))
        revisions.add(fields["revision"])
        if fields.get("down_revision"):
            parents.add(fields["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def ensure_schema(engine: Engine) -> bool:
    """Upgrade to the head revision unless the database is there already. True if it migrated."""
    with engine.connect() as conn:
        if inspect(conn).has_table("alembic_version"):
            versions = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
            if versions == {declared_head()}:
                return False
    upgrade(engine)
    return True


@contextmanager
def startup_lock(var_dir: Path) -> Iterator[None]:
    """An exclusive lock across the processes of one machine (fcntl on a file in var_dir): the
    serve supervisor and workers starting together take turns to migrate and bootstrap."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / ".startup.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
