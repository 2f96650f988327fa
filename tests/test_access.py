"""Every endpoint against every role and no key, matching the permission table in the README."""

from __future__ import annotations

import pytest

# (method, path, body, roles allowed); admin may do everything; "open" endpoints need no key.
ENDPOINTS = [
    ("POST", "/v1/classify", {"text": "яма на дороге"}, {"intake"}),
    ("POST", "/v1/classify/batch", {"items": [{"text": "яма"}]}, {"intake"}),
    ("GET", "/v1/messages/{message_id}", None, {"reviewer"}),
    ("GET", "/v1/review/queue", None, {"reviewer"}),
    ("POST", "/v1/messages/{message_id}/corrections", {"topic": "roads"}, {"reviewer"}),
    ("GET", "/v1/stats", None, {"reviewer"}),
    ("GET", "/v1/taxonomy", None, {"intake", "reviewer"}),
    ("GET", "/v1/model", None, {"intake", "reviewer"}),
    ("GET", "/v1/whoami", None, {"intake", "reviewer"}),
    ("GET", "/v1/admin/keys", None, set()),
    ("POST", "/v1/admin/keys", {"role": "intake", "name": "x"}, set()),
    ("POST", "/v1/admin/reload", None, set()),
    ("GET", "/v1/admin/promotions", None, set()),
]
OPEN = ["/healthz", "/readyz", "/metrics", "/review", "/openapi.json", "/docs"]


@pytest.fixture
def message_id(client, keys):
    return client.post("/v1/classify", json={"text": "Жолда шұңқыр"}, headers=keys["intake"]).json()["message_id"]


def test_the_table_covers_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() if p.startswith("/v1/") for m in ops}
    covered = {(m, p) for m, p, _, _ in ENDPOINTS} | {("DELETE", "/v1/admin/keys/{prefix}")}
    assert routes == covered


@pytest.mark.parametrize("role", ["none", "wrong", "intake", "reviewer", "admin"])
def test_every_endpoint_answers_each_role_as_documented(client, keys, message_id, role, caplog):
    special = {"none": {}, "wrong": {"X-API-Key": "trg_00000000_not-a-key"}}
    headers = special[role] if role in special else keys[role]
    for method, path, body, allowed in ENDPOINTS:
        url = path.replace("{message_id}", str(message_id))
        r = client.request(method, url, json=body, headers=headers)
        if role in ("none", "wrong"):
            expected = {401}
        elif role == "admin" or role in allowed:
            expected = {200, 201}
        else:
            expected = {403}
        assert r.status_code in expected, (role, method, path, r.status_code, r.text[:200])
        if r.status_code in (401, 403):
            assert set(r.json()) == {"error"}, (role, path)
    for path in OPEN:
        assert client.get(path, headers=headers).status_code == 200, path
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    assert not any(k["X-API-Key"] in logged for k in keys.values())


def test_revoking_needs_admin(client, keys):
    prefix = keys["intake"]["X-API-Key"].split("_")[1]
    for role in ("intake", "reviewer"):
        assert client.delete(f"/v1/admin/keys/{prefix}", headers=keys[role]).status_code == 403
    assert client.delete(f"/v1/admin/keys/{prefix}").status_code == 401
    assert client.delete(f"/v1/admin/keys/{prefix}", headers=keys["admin"]).status_code == 204
