"""The HTTP service, against SQLite and the real PostgreSQL (every test runs on both)."""

from __future__ import annotations

import logging

import sqlalchemy as sa

POTHOLE = "На проспекте Кабанбай батыра огромная яма, машины объезжают по встречке"
GAS = "Подъезде қатты газ иісі шығып тұр, тез келіңіздерші!"
HEATING = "Бүгін үйде жылу жоқ, балалар тоңып отыр"


def rows(store, table: str) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]


def post(client, keys, text, **kw):
    return client.post("/v1/classify", json={"text": text, **kw}, headers=keys["intake"])


# -- classify ----------------------------------------------------------------------------------


def test_classify_returns_the_engine_result_with_a_stored_message_id(client, keys, store, triage_model):
    r = post(client, keys, POTHOLE, channel="telegram", external_id="tg-1")
    assert r.status_code == 200, r.text
    body = r.json()
    expected = triage_model.classify(POTHOLE).to_dict()
    assert body["topic"]["label"] == expected["topic"]["label"]
    assert body["urgency"]["label"] == expected["urgency"]["label"]
    assert body["stored"] is True and body["duplicate"] is False
    (row,) = rows(store, "messages")
    assert row["id"] == body["message_id"]
    assert row["model_version"] == triage_model.version
    assert row["topic"] == body["topic"]["label"] and row["channel"] == "telegram"


def test_retry_with_same_channel_and_external_id_returns_the_same_message(client, keys, store):
    a = post(client, keys, POTHOLE, channel="telegram", external_id="tg-7").json()
    b = post(client, keys, POTHOLE, channel="telegram", external_id="tg-7").json()
    c = post(client, keys, POTHOLE, channel="instagram", external_id="tg-7").json()
    assert a["message_id"] == b["message_id"] != c["message_id"]
    assert b["duplicate"] is True and a["duplicate"] is False
    assert len(rows(store, "messages")) == 2


def test_messages_without_external_id_are_each_stored(client, keys, store):
    post(client, keys, POTHOLE)
    post(client, keys, POTHOLE)
    assert len(rows(store, "messages")) == 2


def test_emergency_message_is_critical_and_routed_to_emergency_service(client, keys):
    body = post(client, keys, GAS).json()
    assert body["urgency"]["label"] == "critical"
    assert body["recipient"]["authority"] == "emergency_service"


def test_batch_answers_in_order_with_per_item_errors(client, keys, store):
    items = [{"text": POTHOLE, "external_id": "a"}, {"text": "   "}, {"text": HEATING, "external_id": "b"},
             {"text": POTHOLE, "external_id": "a"}]
    r = client.post("/v1/classify/batch", json={"items": items}, headers=keys["intake"])
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert len(res) == 4
    assert res[1]["index"] == 1 and res[1]["error"]["code"] == "invalid_text"
    assert res[0]["message_id"] == res[3]["message_id"] and res[3]["duplicate"] is True
    assert res[2]["topic"]["label"] == "heating_hot_water"
    assert len(rows(store, "messages")) == 2


def test_batch_over_the_limit_is_refused_and_stores_nothing(client, keys, store, app):
    app.state.settings.batch_max_items = 3
    items = [{"text": POTHOLE}] * 4
    r = client.post("/v1/classify/batch", json={"items": items}, headers=keys["intake"])
    assert r.status_code == 422 and "at most 3" in r.json()["error"]["message"]
    assert rows(store, "messages") == []


def test_batch_matches_single_classification(client, keys, triage_model):
    texts = [POTHOLE, GAS, HEATING]
    res = client.post("/v1/classify/batch", json={"items": [{"text": t} for t in texts]},
                      headers=keys["intake"]).json()["results"]
    for t, r in zip(texts, res, strict=True):
        single = triage_model.classify(t).to_dict()
        assert [r[h]["label"] for h in ("topic", "authority", "urgency")] == \
               [single[h]["label"] for h in ("topic", "authority", "urgency")]


# -- bad input ---------------------------------------------------------------------------------


def test_malformed_json_is_400(client, keys):
    r = client.post("/v1/classify", content=b'{"text": "abc"', headers={**keys["intake"], "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"


def test_missing_empty_and_wrongly_typed_text_are_422(client, keys):
    for body in ({}, {"text": ""}, {"text": "  \n "}, {"text": 5}, {"text": ["a"]}, {"text": "ok", "channel": "Bad Channel!"}):
        r = client.post("/v1/classify", json=body, headers=keys["intake"])
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["message"]


def test_lone_surrogate_and_nul_are_422_not_500(client, keys, store):
    raw = b'{"text": "\\ud800 broken", "external_id": "x"}'
    r = client.post("/v1/classify", content=raw, headers={**keys["intake"], "content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/classify", json={"text": "ok text", "external_id": "a\x00b"}, headers=keys["intake"])
    assert r.status_code == 422
    assert rows(store, "messages") == []


def test_oversized_body_is_413(client, keys):
    r = client.post("/v1/classify", json={"text": "я" * 300_000}, headers=keys["intake"])
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_long_text_under_the_body_limit_is_truncated_and_flagged(client, keys):
    r = post(client, keys, "яма на дороге " * 1000)
    assert r.status_code == 200 and "truncated" in r.json()["warnings"]


def test_deeply_nested_metadata_is_422(client, keys):
    nested: dict = {}
    cur = nested
    for _ in range(50):
        cur["a"] = {}
        cur = cur["a"]
    r = client.post("/v1/classify", json={"text": POTHOLE, "metadata": nested}, headers=keys["intake"])
    assert r.status_code == 422


# -- roles -------------------------------------------------------------------------------------


def test_missing_or_wrong_key_is_401_without_data(client, keys):
    post(client, keys, POTHOLE)
    for headers in ({}, {"X-API-Key": "trg_deadbeef_nope"}, {"Authorization": "Bearer nope"}):
        r = client.get("/v1/messages/1", headers=headers)
        assert r.status_code == 401
        assert set(r.json()) == {"error"}


def test_wrong_role_is_403_without_data(client, keys):
    mid = post(client, keys, POTHOLE).json()["message_id"]
    r = client.get(f"/v1/messages/{mid}", headers=keys["intake"])
    assert r.status_code == 403 and set(r.json()) == {"error"}
    r = client.post("/v1/classify", json={"text": POTHOLE}, headers=keys["reviewer"])
    assert r.status_code == 403


def test_bearer_token_works_like_the_header(client, keys):
    key = keys["reviewer"]["X-API-Key"]
    r = client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    assert r.json() == {"role": "reviewer", "name": "test-reviewer"}


def test_admin_creates_and_revokes_keys(client, keys):
    r = client.post("/v1/admin/keys", json={"role": "intake", "name": "listener"}, headers=keys["admin"])
    assert r.status_code == 201
    new = {"intake": {"X-API-Key": r.json()["key"]}}
    assert post(client, new, POTHOLE).status_code == 200
    listed = client.get("/v1/admin/keys", headers=keys["admin"]).json()["keys"]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert client.delete(f"/v1/admin/keys/{r.json()['prefix']}", headers=keys["admin"]).status_code == 204
    assert post(client, new, POTHOLE).status_code == 401


def test_keys_are_stored_hashed(client, keys, store):
    stored = rows(store, "api_keys")
    plain = {h["X-API-Key"] for h in keys.values()}
    assert stored and not any(v in plain for r in stored for v in r.values())


# -- review ------------------------------------------------------------------------------------


def _fill(client, keys, texts):
    items = [{"text": t, "external_id": f"m{i}"} for i, t in enumerate(texts)]
    return client.post("/v1/classify/batch", json={"items": items}, headers=keys["intake"]).json()["results"]


def test_queue_holds_uncertain_messages_most_uncertain_first(client, keys, test_records):
    _fill(client, keys, [r["text"] for r in test_records[:60]])
    q = client.get("/v1/review/queue?limit=200", headers=keys["reviewer"]).json()
    items = q["items"]
    assert items and all(i["needs_review"] for i in items)
    prio = [i["review_priority"] for i in items]
    assert prio == sorted(prio, reverse=True)


def test_queue_pages_with_a_cursor_without_repeats(client, keys, test_records):
    _fill(client, keys, [r["text"] for r in test_records[:60]])
    full = [i["id"] for i in client.get("/v1/review/queue?limit=200", headers=keys["reviewer"]).json()["items"]]
    seen, cursor = [], None
    while True:
        url = "/v1/review/queue?limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=keys["reviewer"]).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == full


def test_queue_by_head_is_ordered_by_that_heads_confidence(client, keys, test_records):
    _fill(client, keys, [r["text"] for r in test_records[:40]])
    items = client.get("/v1/review/queue?head=urgency&limit=200", headers=keys["reviewer"]).json()["items"]
    conf = [i["prediction"]["urgency"]["confidence"] for i in items]
    assert conf == sorted(conf)


def test_bad_cursor_and_head_are_422(client, keys):
    assert client.get("/v1/review/queue?cursor=%%%", headers=keys["reviewer"]).status_code == 422
    assert client.get("/v1/review/queue?head=colour", headers=keys["reviewer"]).status_code == 422


def test_corrections_are_append_only_and_the_latest_wins_per_field(client, keys, store):
    mid = post(client, keys, POTHOLE).json()["message_id"]
    url = f"/v1/messages/{mid}/corrections"
    assert client.post(url, json={"topic": "landscaping", "urgency": "high"}, headers=keys["reviewer"]).status_code == 201
    assert client.post(url, json={"topic": "roads", "comment": "it is a pothole"}, headers=keys["admin"]).status_code == 201
    m = client.get(f"/v1/messages/{mid}", headers=keys["reviewer"]).json()
    assert [c["topic"] for c in m["corrections"]] == ["landscaping", "roads"]
    assert [c["reviewer"] for c in m["corrections"]] == ["test-reviewer", "test-admin"]
    assert m["labels"]["topic"] == "roads" and m["labels"]["urgency"] == "high"
    assert len(rows(store, "corrections")) == 2
    assert store.labeled_messages()[0]["topic"] == "roads"


def test_corrected_message_leaves_the_queue(client, keys, test_records):
    _fill(client, keys, [r["text"] for r in test_records[:30]])
    first = client.get("/v1/review/queue?limit=1", headers=keys["reviewer"]).json()["items"][0]
    client.post(f"/v1/messages/{first['id']}/corrections", json={"topic": "roads"}, headers=keys["reviewer"])
    ids = [i["id"] for i in client.get("/v1/review/queue?limit=200", headers=keys["reviewer"]).json()["items"]]
    assert first["id"] not in ids


def test_unknown_label_or_message_writes_nothing(client, keys, store):
    mid = post(client, keys, POTHOLE).json()["message_id"]
    r = client.post(f"/v1/messages/{mid}/corrections", json={"topic": "unicorns"}, headers=keys["reviewer"])
    assert r.status_code == 422 and "unicorns" in r.json()["error"]["message"]
    r = client.post(f"/v1/messages/{mid}/corrections", json={}, headers=keys["reviewer"])
    assert r.status_code == 422
    r = client.post("/v1/messages/999999/corrections", json={"topic": "roads"}, headers=keys["reviewer"])
    assert r.status_code == 404
    assert client.get("/v1/messages/999999", headers=keys["reviewer"]).status_code == 404
    assert client.get(f"/v1/messages/{2**70}", headers=keys["reviewer"]).status_code == 422
    assert rows(store, "corrections") == []


# -- meta --------------------------------------------------------------------------------------


def test_taxonomy_has_names_in_three_languages(client, keys):
    tax = client.get("/v1/taxonomy", headers=keys["intake"]).json()
    roads = next(t for t in tax["heads"]["topic"] if t["label"] == "roads")
    assert roads["names"] == {"kk": "Жолдар", "ru": "Дороги", "en": "Roads"}
    assert {u["label"] for u in tax["heads"]["urgency"]} >= {"low", "medium", "high", "critical"}


def test_model_endpoint_reports_version_and_thresholds(client, keys, triage_model):
    m = client.get("/v1/model", headers=keys["reviewer"]).json()
    assert m["version"] == triage_model.version
    assert set(m["thresholds"]) == set(triage_model.heads)
    assert m["thresholds_by_language"] == triage_model.thresholds_by_language
    assert set(m["thresholds_by_language"]["topic"]) == {"kk", "ru", "en"}
    assert m["critical_threshold"] == triage_model.critical_threshold
    assert m["rule_veto"] == triage_model.rule_veto == {"below": 0.01, "min_words": 10}


def test_stats_count_volumes_backlog_and_corrections(client, keys):
    mid = post(client, keys, POTHOLE).json()["message_id"]
    post(client, keys, HEATING)
    client.post(f"/v1/messages/{mid}/corrections", json={"topic": "landscaping"}, headers=keys["reviewer"])
    s = client.get("/v1/stats", headers=keys["reviewer"]).json()
    assert s["messages"] == 2 and sum(s["volumes"]["topic"].values()) == 2
    assert s["reviewed"] == 1 and s["correction_rate"]["topic"] == 1.0
    r = client.get("/v1/stats?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z", headers=keys["reviewer"])
    assert r.status_code == 422


def test_health_ready_and_metrics(client, keys, triage_model):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    post(client, keys, POTHOLE)
    text = client.get("/metrics").text
    assert 'triage_http_requests_total{endpoint="/v1/classify",method="POST",status="200"}' in text
    assert f'triage_model_info{{version="{triage_model.version}"}} 1.0' in text
    assert "triage_predictions_total" in text and "triage_needs_review_total" in text


def test_openapi_has_examples_for_classify(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/classify" in spec["paths"] and "/v1/review/queue" in spec["paths"]
    assert spec["components"]["schemas"]["ClassifyRequest"].get("examples")


# -- privacy -----------------------------------------------------------------------------------

PII = {
    "iin": "900101300123",
    "phone": "+7 701 234 56 78",
    "email": "aigerim.n@mail.kz",
    "card": "4400 4301 2345 6789",
}


def test_personal_data_reaches_neither_database_nor_logs(client, keys, store, caplog):
    text = (f"Менің ЖСН {PII['iin']}, телефон {PII['phone']}, почта {PII['email']}, "
            f"карта {PII['card']}. Подъезде жарық жоқ, лифт тоқтап тұр")
    caplog.set_level(logging.DEBUG)
    r = client.post("/v1/classify", json={"text": text, "author": PII["email"], "metadata": {"phone": PII["phone"]},
                                          "external_id": "pii-1"}, headers=keys["intake"])
    assert r.status_code == 200
    client.post(f"/v1/messages/{r.json()['message_id']}/corrections", json={"topic": "housing_maintenance"},
                headers=keys["reviewer"])
    dumped = " ".join(str(v) for t in ("messages", "corrections") for row in rows(store, t) for v in row.values())
    digits = "".join(c for c in dumped if c.isdigit())
    for kind, value in PII.items():
        assert value not in dumped, kind
        if kind != "email":
            assert "".join(c for c in value if c.isdigit()) not in digits, kind
    assert "[IIN]" in dumped and "[PHONE]" in dumped and "[EMAIL]" in dumped and "[CARD]" in dumped
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    for value in PII.values():
        assert value not in logged


def test_reviewer_page_is_served_with_security_headers(client):
    r = client.get("/review")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/review.js").status_code == 200


def test_workers_starting_together_on_a_fresh_sqlite_file_all_come_up(tmp_path, triage_model):
    import threading

    from fastapi.testclient import TestClient

    from api.app import create_app
    from triage.settings import Settings
    from triage.store import Store

    s = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", var_dir=tmp_path / "var")
    ok, errors = [], []

    def worker():
        try:
            with TestClient(create_app(s, engine=triage_model)) as c:
                ok.append(c.get("/readyz").status_code)
        except Exception as exc:  # reported by the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and ok == [200] * 4
    assert Store(s.resolved_database_url()).count_keys() == 1
