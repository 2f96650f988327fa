"""`triage promote --version N`: roll back or forward to any registered version through the MLflow
Model Registry (alias `champion`, the pointer the service reads, the audit row)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]



def test_promote_a_registered_version_sets_alias_pointer_and_audit_row(tmp_path, monkeypatch, capsys):
    import mlflow

    from training.tracking import log_training_run
    from triage.cli import main
    from triage.settings import get_settings
    from triage.store import Store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("TRIAGE_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'triage.db'}")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        model_dir = REPO / "models" / "default"
        manifest = json.loads((model_dir / "manifest.json").read_text())
        versions = [log_training_run(manifest, model_dir, None, None)["registered_version"] for _ in range(2)]
        capsys.readouterr()
        assert main(["promote", "--version", str(versions[0]), "--reason", "roll back", "--by", "ops"]) == 0
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert row["registry_version"] == str(versions[0]) and row["reason"] == "roll back"
        client = mlflow.MlflowClient(tracking_uri=uri)
        assert str(client.get_model_version_by_alias("astana-triage", "champion").version) == str(versions[0])
        pointer = json.loads((tmp_path / "var" / "models" / "CHAMPION").read_text())
        assert pointer["model_version"] == manifest["model_version"]
        assert (REPO / "models") not in Path(pointer["model_dir"]).parents  # a downloaded copy
        assert main(["promote", "--version", str(versions[1]), "--by", "ops"]) == 0
        assert str(client.get_model_version_by_alias("astana-triage", "champion").version) == str(versions[1])
        store = Store.from_settings()
        assert [p["registry_version"] for p in store.promotions()] == [str(versions[1]), str(versions[0])]
        assert main(["promote"]) == 2
    finally:
        get_settings.cache_clear()
