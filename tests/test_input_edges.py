"""Edge inputs found by a review of the API and store: dates, metadata, author length, cursors,
chunked bodies and concurrent overlapping batches. Each was a 500, a 503 on a healthy database, a
wrong stored value or a lost message before its fix; both databases unless marked."""

from __future__ import annotations

import base64
import json
import threading

import pytest
import sqlalchemy as sa

from api.routers.classify import process
from api.schemas import ClassifyRequest
from triage.errors import StoreUnavailableError
from triage.store import Store, ensure_schema
from triage.store.service import NewMessage


def _count(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()


# 195 characters, valid input; "[EMAIL]" is longer than "a@b.cc", so redacted it is 251 characters.
LONG_EMAIL_AUTHOR = " ".join(["a@b.cc"] * 28)


def test_posted_at_keeps_its_instant(client, keys):
    r = client.post("/v1/classify", headers=keys["intake"],
                    json={"text": "Жарық жоқ үйде", "posted_at": "2026-11-28T08:15:00+05:00"})
    assert r.status_code == 200 and r.json()["stored"], r.text
    m = client.get(f"/v1/messages/{r.json()['message_id']}", headers=keys["reviewer"]).json()
    assert m["posted_at"] == "2026-11-28T03:15:00+00:00"  # 08:15 in Astana is 03:15 UTC


def test_posted_at_without_offset_is_utc(client, keys):
    r = client.post("/v1/classify", headers=keys["intake"],
                    json={"text": "Жарық жоқ үйде", "posted_at": "2026-11-28T08:15:00"})
    m = client.get(f"/v1/messages/{r.json()['message_id']}", headers=keys["reviewer"]).json()
    assert m["posted_at"] == "2026-11-28T08:15:00+00:00"


@pytest.mark.parametrize("posted_at", ["0001-01-01T00:00:00+05:00", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"])
def test_posted_at_out_of_range_is_422_and_stores_nothing(client, keys, store, posted_at):
    r = client.post("/v1/classify", headers=keys["intake"], json={"text": "Жарық жоқ үйде", "posted_at": posted_at})
    assert r.status_code == 422, r.text
    assert "posted_at" in r.text
    assert _count(store) == 0
    assert client.get("/v1/review/queue", headers=keys["reviewer"]).status_code == 200


@pytest.mark.parametrize("query", ["until=0001-01-02T00:00:00Z", "since=0001-01-01T00:00:00%2B05:00",
                                   "until=9999-12-31T23:00:00-05:00"])
def test_stats_out_of_range_dates_are_422(client, keys, query):
    r = client.get(f"/v1/stats?{query}", headers=keys["reviewer"])
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("metadata", ['{"x": NaN}', '{"y": [Infinity]}', '{"z": {"w": -Infinity}}'])
def test_metadata_with_nan_or_infinity_is_422(client, keys, store, metadata):
    r = client.post("/v1/classify", headers={**keys["intake"], "content-type": "application/json"},
                    content=f'{{"text": "Жарық жоқ үйде", "metadata": {metadata}}}')
    assert r.status_code == 422, r.text
    assert _count(store) == 0


def test_personal_data_in_metadata_keys_and_numbers_is_redacted(client, keys, store):
    md = {"ivan.petrov@mail.kz": "sender", "phone": 87012345678, "iin": 900101300126, "n": 3, "ok": True,
          "x": 1.5}
    r = client.post("/v1/classify", json={"text": "Жарық жоқ үйде", "metadata": md}, headers=keys["intake"])
    assert r.status_code == 200 and r.json()["stored"], r.text
    with store.engine.connect() as conn:
        (raw,) = conn.execute(sa.text("SELECT metadata FROM messages")).one()
    stored = raw if isinstance(raw, dict) else json.loads(raw)
    assert stored == {"[EMAIL]": "sender", "phone": "[PHONE]", "iin": "[IIN]", "n": 3, "ok": True, "x": 1.5}


def test_author_longer_than_its_column_after_redaction_is_stored_cut(client, keys, store):
    items = [{"text": "Бүгін үйде жылу жоқ", "external_id": "ok-1"},
             {"text": "Жарық жоқ үйде", "author": LONG_EMAIL_AUTHOR, "external_id": "long-1"}]
    r = client.post("/v1/classify/batch", json={"items": items}, headers=keys["intake"])
    assert r.status_code == 200, r.text
    assert [x["stored"] for x in r.json()["results"]] == [True, True]
    author = client.get(f"/v1/messages/{r.json()['results'][1]['message_id']}", headers=keys["reviewer"]).json()["author"]
    assert len(author) == 200 and author.endswith("…") and author.startswith("[EMAIL] [EMAIL]")
    assert "@" not in author


def test_micro_batch_neighbour_of_a_long_author_is_stored(app, store, triage_model):
    out = process(triage_model, store, [ClassifyRequest(text="Бүгін үйде жылу жоқ"),
                                        ClassifyRequest(text="Жарық жоқ үйде", author=LONG_EMAIL_AUTHOR)])
    assert [o["stored"] for o in out] == [True, True]


@pytest.mark.parametrize("cursor_value", [[0.5, 10**30], [0.5, -1], [1e309, 5], ["nan", 5]])
def test_cursor_out_of_range_is_422(client, keys, cursor_value):
    cursor = base64.urlsafe_b64encode(json.dumps(cursor_value).encode()).decode()
    r = client.get("/v1/review/queue", params={"cursor": cursor}, headers=keys["reviewer"])
    assert r.status_code == 422, r.text


def test_chunked_body_over_the_limit_is_413(client, keys, settings, store):
    def body():
        yield b'{"text": "'
        yield b"a" * (settings.max_body_bytes + 10)
        yield b'"}'

    r = client.post("/v1/classify", content=body(), headers={**keys["intake"], "content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    assert _count(store) == 0


def test_chunked_body_within_the_limit_is_read_whole(client, keys):
    def body():
        yield b'{"text": "\xd0\x96\xd0\xb0\xd1\x80\xd1\x8b\xd2\x9b '
        yield b'\xd0\xb6\xd0\xbe\xd2\x9b", "external_id": "chunked-1"}'

    r = client.post("/v1/classify", content=body(), headers={**keys["intake"], "content-type": "application/json"})
    assert r.status_code == 200 and r.json()["stored"], r.text


@pytest.fixture
def pg_url(fresh_postgres_url):
    return fresh_postgres_url


def test_overlapping_concurrent_batches_never_deadlock_on_postgresql(pg_url):
    """Two workers storing the same (channel, external_id) keys in opposite orders: without a common
    insert order PostgreSQL detected a deadlock within 30 rounds and the loser's messages were lost."""
    stores = [Store(pg_url, quality_sample_rate=0.0, key_cache_seconds=0) for _ in range(2)]
    failures: list = []
    try:
        ensure_schema(stores[0].engine)
        pred = {"model_version": "v", "language": "ru", "needs_review": False}
        for rnd in range(20):
            shared = [f"r{rnd}-{j}" for j in range(200)]
            sides = [(stores[0], [*shared, f"r{rnd}-only-a"]), (stores[1], [*shared[::-1], f"r{rnd}-only-b"])]
            barrier = threading.Barrier(2)

            def run(st, ext_ids, barrier=barrier, rnd=rnd):
                items = [NewMessage(text="x", channel="tg", external_id=e) for e in ext_ids]
                barrier.wait()
                try:
                    st.save_classified(items, [pred] * len(items))
                except StoreUnavailableError as exc:
                    failures.append((rnd, str(exc)))

            threads = [threading.Thread(target=run, args=s) for s in sides]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not failures, failures
        assert _count(stores[0]) == 20 * 202
    finally:
        for s in stores:
            s.dispose()


def test_metadata_keys_redacted_alike_keep_both_values(client, keys, store):
    md = {"+7 701 234 56 78": "first", "+7 702 234 56 78": "second"}
    r = client.post("/v1/classify", json={"text": "Жарық жоқ үйде", "metadata": md}, headers=keys["intake"])
    assert r.status_code == 200 and r.json()["stored"], r.text
    with store.engine.connect() as conn:
        (raw,) = conn.execute(sa.text("SELECT metadata FROM messages")).one()
    assert (raw if isinstance(raw, dict) else json.loads(raw)) == {"[PHONE]": "first", "[PHONE] (2)": "second"}


# -- privacy and page headers (a security review) -----------------------------------------------

PII = "перезвонила по 8 701 123 45 67, ИИН 900101300126, почта aigerim@mail.kz"


def test_a_correction_comment_is_redacted_before_storage(client, keys, store):
    mid = client.post("/v1/classify", headers=keys["intake"], json={"text": "Подъезде газ иісі шығып тұр"}).json()["message_id"]
    r = client.post(f"/v1/messages/{mid}/corrections", headers=keys["reviewer"], json={"urgency": "critical", "comment": PII})
    assert r.status_code == 201
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT comment FROM corrections")).scalar_one()
    served = client.get(f"/v1/messages/{mid}", headers=keys["reviewer"]).json()["corrections"][0]["comment"]
    assert stored == served == "перезвонила по [PHONE], ИИН [IIN], почта [EMAIL]"


@pytest.mark.parametrize("pii, leaked", [("8 701 123 45 67", "8 701 123 4"), ("aigerim.serikbayeva@mail.kz", "aigerim.serikbayeva@mail.k"),
                                         ("900101300126", "90010130012"), ("4400 4301 2345 6789", "4400 4301 2345 678")])
def test_personal_data_across_the_length_limit_is_redacted_whole(client, keys, store, settings, pii, leaked):
    head = ("Жол бұзылған, шұңқыр көп. " * 400)[: settings.max_text_chars - len(leaked) - 1] + " "
    r = client.post("/v1/classify", headers=keys["intake"], json={"text": head + pii + " спасибо"})
    assert r.status_code == 200 and r.json()["stored"]
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT text FROM messages")).scalar_one()
    assert leaked not in stored and len(stored) <= settings.max_text_chars


def test_every_url_of_the_reviewer_page_and_the_docs_refuses_framing(client):
    for path in ("/review", "/static/review.html", "/static/review.js", "/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_the_docs_load_nothing_from_another_origin(client):
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html, path
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_a_long_text_full_of_numbers_leaves_no_partial_number_at_the_cut(client, keys, store, settings):
    # Placeholders are shorter than what they replace: the redacted text shrinks below the limit.
    text = ", ".join(["+7 701 234 56 78"] * 600) + " 4400 4301 2345 6789 спасибо"
    r = client.post("/v1/classify", headers=keys["intake"], json={"text": text})
    assert r.status_code == 200 and r.json()["stored"]
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT text FROM messages")).scalar_one()
    assert not any(ch.isdigit() for ch in stored.replace("[PHONE]", "").replace("[CARD]", "")), stored[-60:]
