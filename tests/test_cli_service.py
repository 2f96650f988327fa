"""`triage db` and `triage keys` against SQLite and the real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys


def run(args, env):
    return subprocess.run([sys.executable, "-m", "triage.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_db_upgrade_then_keys_create_list_revoke(database_url, tmp_path, monkeypatch):
    import os

    from triage.store import Store

    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url, "TRIAGE_VAR_DIR": str(tmp_path)}
    up = run(["db", "upgrade"], env)
    assert up.returncode == 0, up.stderr
    assert "revision 0002 (head 0002)" in up.stdout
    created = run(["keys", "create", "--role", "reviewer", "--name", "dana"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("trg_") and key not in created.stderr
    store = Store(database_url)
    assert store.verify_key(key) == ("reviewer", "dana")
    listed = run(["keys", "list"], env).stdout
    assert '"name": "dana"' in listed and key not in listed
    prefix = key.split("_")[1]
    assert run(["keys", "revoke", prefix], env).returncode == 0
    store.key_cache_seconds = 0
    assert store.verify_key(key) is None
    assert run(["keys", "revoke", prefix], env).returncode == 2
    store.dispose()


def test_keys_create_rejects_an_unknown_role(tmp_path):
    import os

    env = {**os.environ, "TRIAGE_VAR_DIR": str(tmp_path)}
    r = run(["keys", "create", "--role", "superuser"], env)
    assert r.returncode == 2 and "invalid choice" in r.stderr
