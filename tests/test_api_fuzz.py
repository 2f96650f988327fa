"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): whatever the
generator sends, valid or not, the service answers without a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from triage.engine import Triage
from triage.settings import Settings
from triage.store import Store, upgrade

# Built at import: schemathesis parametrizes the test from the schema at collection time.
_tmp = Path(tempfile.mkdtemp(prefix="triage-fuzz-"))
_settings = Settings(database_url=f"sqlite:///{_tmp / 'triage.db'}", var_dir=_tmp / "var", max_body_bytes=100_000)
_store = Store(_settings.resolved_database_url(), key_cache_seconds=60)
upgrade(_store.engine)
KEY = _store.create_key("admin", "fuzzer")
app = create_app(_settings, engine=Triage.load(settings=_settings), store=_store)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case):
    case.call_and_validate(headers={"X-API-Key": KEY}, checks=[not_a_server_error])
