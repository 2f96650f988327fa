"""Shared fixtures. The shipped model is loaded once per session (it is what users get); training
tests use small subsets so the whole suite stays fast on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from triage.settings import get_settings

os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "samples"


@pytest.fixture(scope="session")
def triage_model():
    from triage.engine import Triage

    return Triage.load(REPO / "models" / "default")


@pytest.fixture(scope="session")
def rules():
    from triage.rules import EmergencyRules

    return EmergencyRules.load(get_settings().emergency_rules_path)


@pytest.fixture(scope="session")
def districts():
    from triage.rules import DistrictResolver

    return DistrictResolver.load(get_settings().gazetteer_path)


@pytest.fixture(scope="session")
def train_records():
    from triage.io import read_records

    return read_records(DATA / "train.jsonl")


@pytest.fixture(scope="session")
def test_records():
    from triage.io import read_records

    return read_records(DATA / "test.jsonl")


# -- store and service -----------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_SCHEMA = "triage_test"


def _fresh_postgres_url() -> str:
    """A URL whose search_path is an emptied schema of the real PostgreSQL. Fails (never skips)
    when PostgreSQL is not running: .ci/run starts it."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{PG_SCHEMA}"


@pytest.fixture
def fresh_postgres_url() -> str:
    return _fresh_postgres_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triage.db'}"
    return _fresh_postgres_url()


@pytest.fixture
def store(database_url):
    from triage.store import Store, upgrade

    s = Store(database_url, quality_sample_rate=0.0, key_cache_seconds=0, seed=1)
    upgrade(s.engine)
    yield s
    s.dispose()


@pytest.fixture
def settings(tmp_path, database_url):
    from triage.settings import Settings

    return Settings(database_url=database_url, var_dir=tmp_path / "var", quality_sample_rate=0.0,
                    key_cache_seconds=0, max_body_bytes=200_000)


@pytest.fixture
def app(settings, triage_model, store):
    from api.app import create_app

    return create_app(settings, engine=triage_model, store=store)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def keys(client, store) -> dict[str, str]:
    """One key per role, as headers."""
    return {role: {"X-API-Key": store.create_key(role, f"test-{role}")} for role in ("intake", "reviewer", "admin")}
