"""The classify fast lane (api/fastlane.py) answers exactly as the full application does.

The same requests (well-formed ones and every kind of bad one) are sent to a service with the fast
lane and to one without it, each on a fresh database (SQLite and the real PostgreSQL): status codes,
bodies, content types and the stored rows must be equal, and the fast lane must have answered the
well-formed ones itself (the rest fall through to the full application)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from conftest import _fresh_postgres_url
from fastapi.testclient import TestClient

from api import fastlane, metrics

POTHOLE = "На проспекте Кабанбай батыра огромная яма, машины объезжают по встречке, тел. +7 701 123 45 67"
GAS = "Подъезде қатты газ иісі шығып тұр, тез келіңіздерші!"
JSON = {"Content-Type": "application/json"}
CITIZEN_TEXT = "Абай көшесі 5, пәтер 12: citizen text"


def _cases(keys: dict[str, str]) -> list[tuple[str, dict, bytes, bool]]:
    """(name, headers, body, answered by the fast lane) in the order they are sent."""
    intake, admin, reviewer = ({"X-API-Key": keys[r]} for r in ("intake", "admin", "reviewer"))
    full = {"text": POTHOLE, "channel": "telegram", "external_id": "tg-1", "author": "@aidana",
            "posted_at": "2026-11-28T08:15:00+05:00", "metadata": {"chat": "akimat_bot", "n": 3}}
    return [
        ("warm-up intake key", {**JSON, **intake}, json.dumps({"text": GAS}).encode(), False),
        ("warm-up admin key", {**JSON, **admin}, json.dumps({"text": "Wi-fi joq"}).encode(), False),
        ("warm-up reviewer key", {**JSON, **reviewer}, json.dumps({"text": GAS}).encode(), False),
        ("all fields", {**JSON, **intake}, json.dumps(full, ensure_ascii=False).encode(), True),
        ("retry: duplicate", {**JSON, **intake}, json.dumps(full).encode(), True),
        ("charset parameter", {"Content-Type": "application/json; charset=utf-8", **intake},
         json.dumps({"text": GAS}).encode(), True),
        ("bearer", {**JSON, "Authorization": "Bearer " + keys["intake"]}, json.dumps({"text": GAS}).encode(), True),
        ("admin may classify", {**JSON, **admin}, json.dumps({"text": POTHOLE}).encode(), True),
        ("empty text: engine error", {**JSON, **intake}, b'{"text": "   "}', True),
        ("reviewer: 403", {**JSON, **reviewer}, json.dumps({"text": GAS}).encode(), False),
        ("no key: 401", JSON, json.dumps({"text": GAS}).encode(), False),
        ("unknown key: 401", {**JSON, "X-API-Key": "trg_nope_x"}, json.dumps({"text": GAS}).encode(), False),
        ("empty X-API-Key, bearer", {**JSON, "X-API-Key": "", "Authorization": "bearer " + keys["intake"]},
         json.dumps({"text": GAS}).encode(), True),
        ("basic auth: 401", {**JSON, "Authorization": "Basic " + keys["intake"]}, b'{"text": "x"}', False),
        ("malformed JSON", {**JSON, **intake}, b'{"text": ', False),
        ("NaN", {**JSON, **intake}, b'{"text": "a", "metadata": {"x": NaN}}', False),
        ("huge integer", {**JSON, **intake}, b'{"text": "a", "metadata": {"x": 1' + b"0" * 40 + b"}}", True),
        ("deep nesting", {**JSON, **intake}, b'{"text": "a", "metadata": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
         False),
        ("unknown field", {**JSON, **intake}, b'{"text": "a", "colour": "red"}', False),
        ("wrong type", {**JSON, **intake}, b'{"text": 5}', False),
        ("array body", {**JSON, **intake}, b'[{"text": "a"}]', False),
        ("lone surrogate: engine error", {**JSON, **intake}, b'{"text": "a\\ud800b"}', True),
        ("bad channel", {**JSON, **intake}, b'{"text": "a", "channel": "Tele gram"}', False),
        ("text/plain", {"Content-Type": "text/plain", **intake}, json.dumps({"text": GAS}).encode(), False),
        ("no content type", intake, json.dumps({"text": GAS}).encode(), False),
        ("oversized", {**JSON, **intake}, json.dumps({"text": "я" * 150_000}).encode(), False),
        ("invalid UTF-8", {**JSON, **intake}, b'{"text": "\xff\xfe abc"}', False),
    ]


def _run(app, store) -> tuple[list, list]:
    keys = {r: store.create_key(r, f"test-{r}") for r in ("intake", "admin", "reviewer")}
    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for name, headers, body, _fast in _cases(keys):
            before = fastlane.FAST._value.get()
            r = client.post("/v1/classify", content=body, headers=headers)
            served = fastlane.FAST._value.get() - before
            answers.append((name, r.status_code, r.headers.get("content-type"), r.json(), served))
    with store.engine.connect() as conn:
        stored = [dict(row._mapping) for row in conn.execute(sa.text(
            "SELECT id, channel, external_id, author, posted_at, text, redactions, metadata, model_version, "
            "language, topic, topic_confidence, authority, urgency, urgency_confidence, needs_review "
            "FROM messages ORDER BY id"))]
    return answers, stored


def _service(url: str, tmp, triage_model, lane: bool):
    from api.app import create_app
    from triage.settings import Settings
    from triage.store import Store, upgrade

    store = Store(url, quality_sample_rate=0.0, key_cache_seconds=30, seed=1)
    upgrade(store.engine)
    settings = Settings(database_url=url, var_dir=tmp / "var", quality_sample_rate=0.0,
                        key_cache_seconds=30, max_body_bytes=200_000, fast_lane=lane)
    return create_app(settings, engine=triage_model, store=store), store


@pytest.fixture
def fresh_url(database_url, tmp_path):
    """Makes a fresh database of the parametrized kind each call (PostgreSQL: the schema emptied)."""
    n = iter(range(100))
    if database_url.startswith("sqlite"):
        return lambda: f"sqlite:///{tmp_path / f'lane{next(n)}.db'}"
    return lambda: _fresh_postgres_url()


def test_both_lanes_answer_and_store_alike(fresh_url, tmp_path, triage_model):
    results = {}
    for lane in (True, False):
        app, store = _service(fresh_url(), tmp_path / str(lane), triage_model, lane)
        try:
            results[lane] = _run(app, store)
        finally:
            store.dispose()
    (fast, fast_rows), (slow, slow_rows) = results[True], results[False]
    for (name, *a, _served_fast), (_, *b, served_slow) in zip(fast, slow, strict=True):
        assert a == b, name
        assert served_slow == 0, name
    expected = {name: lane for name, _, _, lane in _cases({"intake": "k", "admin": "k", "reviewer": "k"})}
    assert {name: bool(served) for name, *_, served in fast} == expected
    statuses = {name: status for name, status, *_ in fast}
    assert statuses["all fields"] == statuses["bearer"] == statuses["retry: duplicate"] == 200
    assert statuses["empty text: engine error"] == 422 and statuses["reviewer: 403"] == 403
    assert statuses["no key: 401"] == 401 and statuses["malformed JSON"] == 400
    assert statuses["oversized"] == 413
    assert fast_rows == slow_rows and len(fast_rows) >= 6
    assert all("701 123" not in (r["text"] or "") for r in fast_rows)  # redacted on the fast lane too


def test_fast_lane_counts_requests_in_the_same_metrics(tmp_path, triage_model):
    app, store = _service(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, triage_model, True)
    key = {"X-API-Key": store.create_key("intake", "m")}
    ok = metrics.REQUESTS.labels("POST", "/v1/classify", "200")
    bad = metrics.REQUESTS.labels("POST", "/v1/classify", "422")
    with TestClient(app) as client:
        client.post("/v1/classify", json={"text": GAS}, headers=key)  # verifies and caches the key
        before_ok, before_bad, before_fast = ok._value.get(), bad._value.get(), fastlane.FAST._value.get()
        for _ in range(3):
            assert client.post("/v1/classify", json={"text": POTHOLE}, headers=key).status_code == 200
        assert client.post("/v1/classify", json={"text": ""}, headers=key).status_code == 422
        assert fastlane.FAST._value.get() - before_fast == 4
        assert ok._value.get() - before_ok == 3 and bad._value.get() - before_bad == 1
        assert "triage_fast_lane_requests_total" in client.get(
            "/metrics", headers={"X-API-Key": store.create_key("admin", "a")}).text
    store.dispose()


def test_a_key_revoked_here_leaves_the_fast_lane_at_once(tmp_path, triage_model):
    app, store = _service(f"sqlite:///{tmp_path / 'r.db'}", tmp_path, triage_model, True)
    plain = store.create_key("intake", "soon revoked")
    with TestClient(app) as client:
        assert client.post("/v1/classify", json={"text": GAS}, headers={"X-API-Key": plain}).status_code == 200
        store.revoke_key(plain.split("_")[1])  # revoking clears this process's cache at once
        r = client.post("/v1/classify", json={"text": GAS}, headers={"X-API-Key": plain})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    store.dispose()


# -- raw ASGI: what TestClient cannot send ------------------------------------------------------

async def _asgi(app, headers, chunks, disconnect=False):
    """One request as uvicorn would hand it over; ``chunks`` are the body's pieces, and with
    ``disconnect`` the client goes away after them. Returns (status, body, exception raised)."""
    import asyncio

    msgs = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1 or disconnect}
            for i, c in enumerate(chunks)] + ([{"type": "http.disconnect"}] if disconnect else [])
    pending, sent = iter(msgs), []

    async def receive():
        return next(pending, {"type": "http.disconnect"})

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/classify", "raw_path": b"/v1/classify", "root_path": "",
             "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    try:
        await asyncio.wait_for(app(scope, receive, send), 30)
        raised = None
    except Exception as exc:  # noqa: BLE001 - what reached the server is the point
        raised = exc
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), raised


def _both_raw(tmp_path, triage_model, make_headers, chunks, disconnect=False, prepare=None):
    """The same raw request to both lanes (the key verified once by the full app first):
    per lane (status, body, exception, change of the 200/400/500 request counters)."""
    import asyncio

    out = {}
    for lane in (True, False):
        app, store = _service(f"sqlite:///{tmp_path / f'raw{lane}.db'}", tmp_path, triage_model, lane)
        key = store.create_key("intake", "k")
        body = json.dumps({"text": GAS}).encode()
        warm = [(b"content-type", b"application/json"), (b"x-api-key", key.encode()),
                (b"content-length", str(len(body)).encode())]
        assert asyncio.run(_asgi(app, warm, [body]))[0] == 200
        if prepare:
            prepare(app)
        counters = {s: metrics.REQUESTS.labels("POST", "/v1/classify", s) for s in ("200", "400", "500")}
        before = {s: c._value.get() for s, c in counters.items()}
        status, answer, raised = asyncio.run(_asgi(app, make_headers(key), chunks, disconnect))
        out[lane] = (status, answer, raised, {s: c._value.get() - before[s] for s, c in counters.items()})
        store.dispose()
    return out[True], out[False]


def test_a_content_length_of_thousands_of_digits_is_answered_not_a_500(tmp_path, triage_model):
    # httptools passes "Content-Length: 000...0<n>" through; int() refuses over 4,300 digits.
    body = json.dumps({"text": GAS}).encode()
    length = b"0" * 4301 + str(len(body)).encode()
    fast, full = _both_raw(tmp_path, triage_model, lambda k: [
        (b"content-type", b"application/json"), (b"x-api-key", k.encode()), (b"content-length", length)], [body])
    assert fast[2] is None and fast[:2] == full[:2] and fast[0] == 200


def test_a_client_gone_mid_body_is_counted_as_the_full_app_counts_it(tmp_path, triage_model):
    body = json.dumps({"text": GAS}).encode()
    fast, full = _both_raw(tmp_path, triage_model, lambda k: [
        (b"content-type", b"application/json"), (b"x-api-key", k.encode()),
        (b"content-length", str(len(body)).encode())], [body[:5]], disconnect=True)
    assert full[3] == {"200": 0, "400": 1, "500": 0}
    assert fast[3] == full[3]


def test_an_unexpected_error_is_a_500_logged_without_its_message_in_both_lanes(tmp_path, triage_model, caplog):
    def prepare(app):
        def boom(items):  # the message holds a text, as a real one might; the source line does not
            raise RuntimeError(CITIZEN_TEXT)
        app.state.batcher.process = boom

    body = json.dumps({"text": GAS}).encode()
    with caplog.at_level("DEBUG"):
        fast, full = _both_raw(tmp_path, triage_model, lambda k: [
            (b"content-type", b"application/json"), (b"x-api-key", k.encode()),
            (b"content-length", str(len(body)).encode())], [body], prepare=prepare)
    for status, answer, raised, counted in (fast, full):
        assert status == 500 and json.loads(answer)["error"]["code"] == "internal_error"
        assert raised is None  # nothing reaches the server to be logged there with its message
        assert counted["500"] == 1
    assert "citizen text" not in caplog.text and "Абай" not in caplog.text
    assert caplog.text.count("unhandled RuntimeError") == 2 and "boom" in caplog.text  # where, for whoever fixes it


def test_the_hostile_corpus_gets_the_same_answers_on_both_lanes(fresh_url, tmp_path, triage_model):
    from test_hostile import CASES

    answers = {}
    for lane in (True, False):
        app, store = _service(fresh_url(), tmp_path / f"h{lane}", triage_model, lane)
        key = {"X-API-Key": store.create_key("intake", "hostile")}
        got = []
        with TestClient(app, raise_server_exceptions=False) as client:
            client.post("/v1/classify", json={"text": GAS}, headers=key)  # verifies and caches the key
            before = fastlane.FAST._value.get()
            for name, body in CASES:
                if isinstance(body, bytes):
                    r = client.post("/v1/classify", content=body, headers={**key, "content-type": "application/json"})
                else:
                    r = client.post("/v1/classify", json=body, headers=key)
                got.append((name, r.status_code, r.content))
            answers[lane] = (got, fastlane.FAST._value.get() - before)
        store.dispose()
    (fast, served), (slow, none) = answers[True], answers[False]
    for a, b in zip(fast, slow, strict=True):
        assert a == b, a[0]
    assert none == 0 and served >= 100  # most of the corpus is well-formed JSON the fast lane takes
    assert all(status < 500 for _, status, _ in fast)


def test_a_key_revoked_elsewhere_leaves_the_fast_lane_when_its_cache_entry_expires(tmp_path, triage_model):
    import time

    app, store = _service(f"sqlite:///{tmp_path / 'e.db'}", tmp_path, triage_model, True)
    plain = store.create_key("intake", "revoked by another worker")
    with TestClient(app) as client:
        assert client.post("/v1/classify", json={"text": GAS}, headers={"X-API-Key": plain}).status_code == 200
        with store.engine.begin() as conn:  # another worker's revocation: this process's cache still holds it
            conn.execute(sa.text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP"))
        before = fastlane.FAST._value.get()
        assert client.post("/v1/classify", json={"text": GAS}, headers={"X-API-Key": plain}).status_code == 200
        assert fastlane.FAST._value.get() == before + 1  # within key_cache_seconds: still trusted
        store.key_cache_seconds = 0.2
        time.sleep(0.3)
        r = client.post("/v1/classify", json={"text": GAS}, headers={"X-API-Key": plain})
        assert r.status_code == 401 and fastlane.FAST._value.get() == before + 1
    store.dispose()


def test_an_error_in_the_fast_lanes_own_code_is_a_logged_500(tmp_path, triage_model, caplog):
    app, store = _service(f"sqlite:///{tmp_path / 'o.db'}", tmp_path, triage_model, True)
    key = {"X-API-Key": store.create_key("intake", "k")}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/classify", json={"text": GAS}, headers=key).status_code == 200

        def broken(plain):
            raise RuntimeError(CITIZEN_TEXT)

        store.cached_key = broken
        with caplog.at_level("ERROR"):
            r = client.post("/v1/classify", json={"text": GAS}, headers=key)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "unhandled RuntimeError" in caplog.text and "citizen text" not in caplog.text
    store.dispose()
