"""The operational surface, from a review: settings that were accepted but unusable (an infinite key
cache keeps a revoked key working forever) or refused with a traceback, start-up mistakes that
printed a traceback per worker, and a fresh install where `triage keys create` had no table yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from triage.cli import main
from triage.settings import Settings, SettingsError, get_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.parametrize("name,value,message", [
    ("TRIAGE_KEY_CACHE_SECONDS", "inf", "TRIAGE_KEY_CACHE_SECONDS: Input should be a finite number"),
    ("TRIAGE_KEY_CACHE_SECONDS", "86400", "TRIAGE_KEY_CACHE_SECONDS: Input should be less than or equal to 3600"),
    ("TRIAGE_MODEL_CHECK_SECONDS", "inf", "TRIAGE_MODEL_CHECK_SECONDS: Input should be a finite number"),
    ("TRIAGE_MAX_TEXT_CHARS", "abc", "TRIAGE_MAX_TEXT_CHARS: Input should be a valid integer"),
    ("TRIAGE_BATCH_MAX_ITEMS", "-1", "TRIAGE_BATCH_MAX_ITEMS: Input should be greater than or equal to 1"),
    ("TRIAGE_DATABASE_URL", "mysql://x@y/z", "TRIAGE_DATABASE_URL: Value error, use sqlite:///"),
])
def test_an_unusable_setting_is_one_clear_line(fresh_env, monkeypatch, capsys, name, value, message):
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="invalid setting"):
        get_settings()
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_plain_postgresql_url_means_the_shipped_driver():
    assert Settings(database_url="postgresql://u@h:5432/db").database_url == "postgresql+psycopg://u@h:5432/db"
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_keys_work_on_a_fresh_install_and_names_fit_their_column(fresh_env, capsys):
    assert main(["keys", "create", "--role", "intake", "--name", "first"]) == 0
    assert capsys.readouterr().out.startswith("trg_")
    assert main(["keys", "create", "--role", "intake", "--name", "x" * 101]) == 2
    assert "a key name has 1 to 100 characters" in capsys.readouterr().err


def _serve(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triage.cli", "serve", "--port", "1", *args],
                          env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_serve_refuses_a_corrupt_database_or_an_unmigrated_schema_in_one_line(tmp_path, fresh_postgres_url):
    var = tmp_path / "var"
    var.mkdir()
    (var / "triage.db").write_text("not a database")
    for workers in ("1", "2"):
        p = _serve({"TRIAGE_VAR_DIR": str(var)}, "--workers", workers)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert "triage serve: database error: DatabaseError: file is not a database" in p.stderr
    p = _serve({"TRIAGE_VAR_DIR": str(tmp_path / "var2"), "TRIAGE_DATABASE_URL": fresh_postgres_url}, "--workers", "2")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "run `triage db upgrade`" in p.stderr


def test_an_empty_database_url_means_the_default_and_sqlalchemy_sqlite_urls_pass(fresh_env, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", "")
    get_settings.cache_clear()
    assert get_settings().resolved_database_url().endswith("/var/triage.db")
    assert Settings(database_url="sqlite+pysqlite:///x.db").database_url == "sqlite+pysqlite:///x.db"
    assert Settings(database_url="POSTGRESQL://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_db_current_reports_without_migrating(fresh_env, capsys):
    assert main(["db", "upgrade", "0001"]) == 0
    assert main(["db", "current"]) == 0
    assert "revision 0001 (head" in capsys.readouterr().out.splitlines()[-1]


def test_a_wrong_database_name_gets_no_schema_hint(fresh_env, monkeypatch, capsys):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/no_such_db_here")
    get_settings.cache_clear()
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert 'database "no_such_db_here" does not exist' in err and "db upgrade" not in err


def test_admin_reload_answers_when_the_request_file_cannot_be_written(client, keys, monkeypatch):
    import api.routers.admin as admin

    def read_only(settings):
        raise PermissionError("read-only volume")

    monkeypatch.setattr(admin, "request_reload", read_only)
    r = client.post("/v1/admin/reload", headers=keys["admin"])
    assert r.status_code == 200 and "periodic check" in r.json()["other_workers"]
