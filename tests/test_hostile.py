"""A hostile-input corpus (over 200 cases) against the real API on SQLite and PostgreSQL: no 5xx,
nothing lost (every accepted message is stored and readable back, byte for byte as redacted),
injection strings stored as plain data."""

from __future__ import annotations

import json

import pytest

INJECTIONS = [
    "'; DROP TABLE messages; --", "\" OR 1=1 --", "1; SELECT pg_sleep(5)", "' UNION SELECT key_hash FROM api_keys --",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg/onload=alert(1)>", "javascript:alert(1)",
    "{{7*7}}", "${jndi:ldap://x/a}", "%s%s%s%n", "../../../../etc/passwd", "\\x00\\x01", "<!--", "]]>",
    "<iframe src='//evil'></iframe>", "' OR ''='", "admin'--", "\"><script>fetch('/v1/admin/keys')</script>",
    "SELECT * FROM corrections", "$(rm -rf /)", "`id`", "<style>*{display:none}</style>", "&lt;b&gt;",
]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202d", "\u2066", "\u2069", "\u00ad"]
SCRIPTS = ["Жолда шұңқыр", "Яма на дороге", "pothole", "ямa на дорогe", "Жoлдa", "道路に穴", "حفرة في الطريق",
           "חור בכביש", "गड्ढा", "🕳️🚗💥", "Ⓜ️ⓔⓣⓡⓞ", "ｙａｍａ", "𝐲𝐚𝐦𝐚", "Z̴̢̛a̸l̵g̶o̷"]


def corpus() -> list[tuple[str, object]]:
    """(name, JSON body or raw bytes) pairs."""
    cases: list[tuple[str, object]] = []
    for i, inj in enumerate(INJECTIONS):
        cases.append((f"inject-{i}", {"text": f"Жолда шұңқыр {inj}"}))
        cases.append((f"inject-only-{i}", {"text": inj}))
        cases.append((f"inject-meta-{i}", {"text": "яма", "author": inj[:200], "metadata": {"note": inj}}))
    for i, ch in enumerate(INVISIBLE):
        cases.append((f"invisible-{i}", {"text": f"Я{ch}ма на до{ch}роге{ch}"}))
        cases.append((f"invisible-only-{i}", {"text": ch * 50}))
        cases.append((f"bidi-wrap-{i}", {"text": f"\u202e{ch}Подъезде газ иісі\u202c"}))
    for i, a in enumerate(SCRIPTS):
        for j, b in enumerate(SCRIPTS):
            if (i + j) % 3 == 0:
                cases.append((f"mixed-{i}-{j}", {"text": f"{a} {b} {a}"}))
    for n in (1, 2, 4999, 5000, 5001, 20_000, 150_000):
        cases.append((f"long-{n}", {"text": ("жол " * n)[:n]}))
    cases += [
        ("control-chars", {"text": "яма\x01\x02\x03\x1b[31m на дороге\x7f"}),
        ("newlines", {"text": "яма\r\n\r\nна\tдороге\n" * 20}),
        ("only-emoji", {"text": "😡😡😡"}),
        ("only-digits", {"text": "1234567890" * 3}),
        ("only-punct", {"text": "?!?!...,,,"}),
        ("surrogate", b'{"text": "\\ud83d broken"}'),
        ("surrogate-pair-ok", b'{"text": "\\ud83d\\ude00 ok"}'),
        ("nul-escaped", b'{"text": "a\\u0000b"}'),
        ("invalid-utf8", b'{"text": "\xff\xfe\xfd"}'),
        ("invalid-utf8-2", b'{"text": "\xc3\x28"}'),
        ("latin1", "{\"text\": \"caf\xe9\"}".encode("latin-1")),
        ("utf16", json.dumps({"text": "яма"}).encode("utf-16")),
        ("not-json", b"text=hello"),
        ("empty-body", b""),
        ("json-array", b'["text"]'),
        ("json-null", b"null"),
        ("json-number", b"42"),
        ("text-null", b'{"text": null}'),
        ("text-object", b'{"text": {"a": 1}}'),
        ("text-bool", b'{"text": true}'),
        ("dup-keys", b'{"text": "a", "text": "\\u0434\\u043e\\u0440\\u043e\\u0433\\u0430"}'),
        ("extra-field", b'{"text": "a", "admin": true}'),
        ("huge-number", b'{"text": "a", "external_id": 1e999}'),
        ("deep-array", b'{"text": "a", "metadata": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"),
        ("deep-object", b'{"text": "a", "metadata": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}"),
        ("wide-metadata", json.dumps({"text": "a", "metadata": {f"k{i}": "v" * 10 for i in range(2000)}}).encode()),
        ("bad-posted-at", {"text": "a", "posted_at": "yesterday"}),
        ("posted-at-tz", {"text": "a", "posted_at": "2026-11-28T08:00:00+05:00"}),
        ("external-id-long", {"text": "a", "external_id": "x" * 201}),
        ("external-id-unicode", {"text": "a", "external_id": "ид-😀", "channel": "telegram"}),
        ("channel-upper", {"text": "a", "channel": "TELEGRAM"}),
        ("channel-sql", {"text": "a", "channel": "x'; --"}),
    ]
    return cases


CASES = corpus()


def test_the_corpus_has_over_200_cases():
    assert len(CASES) >= 200


@pytest.fixture
def hostile(client, keys, store):
    return client, keys, store


def test_no_hostile_input_gets_a_5xx_and_nothing_accepted_is_lost(hostile):
    client, keys, store = hostile
    accepted = []
    for name, body in CASES:
        if isinstance(body, bytes):
            r = client.post("/v1/classify", content=body,
                            headers={**keys["intake"], "content-type": "application/json"})
        else:
            r = client.post("/v1/classify", json=body, headers=keys["intake"])
        assert r.status_code < 500, (name, r.status_code, r.text[:200])
        assert "error" in r.json() if r.status_code >= 400 else True, name
        if r.status_code == 200:
            out = r.json()
            assert out["stored"] is True and out["message_id"], name
            accepted.append((name, body, out["message_id"]))
    assert len(accepted) > 100
    from triage.redact import redact
    from triage.text import clean

    for name, body, mid in accepted:
        m = client.get(f"/v1/messages/{mid}", headers=keys["reviewer"]).json()
        if isinstance(body, dict):
            assert m["text"] == redact(clean(body["text"], 5000).text).text, name


def test_injection_strings_are_stored_as_data(hostile):
    client, keys, store = hostile
    ids = []
    for inj in INJECTIONS:
        r = client.post("/v1/classify", json={"text": inj, "metadata": {"note": inj}}, headers=keys["intake"])
        assert r.status_code == 200
        ids.append((inj, r.json()["message_id"]))
    for inj, mid in ids:
        m = client.get(f"/v1/messages/{mid}", headers=keys["reviewer"]).json()
        assert inj.replace("\\x00", "") in m["text"] or m["text"].strip() in inj
        assert m["metadata"]["note"] == inj
    # the tables are all still there and intact
    assert client.get("/readyz").json()["status"] == "ready"
    assert len(client.get("/v1/admin/keys", headers=keys["admin"]).json()["keys"]) >= 3
