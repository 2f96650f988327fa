"""MLflow: every training run is a complete record (params, metrics, plots, the model, the data
hash) and the model is registered in the Model Registry. The default tracking store is a local
SQLite file under var/ (nothing to start); MLFLOW_TRACKING_URI or TRIAGE_MLFLOW_TRACKING_URI point
it anywhere else."""

from __future__ import annotations

import os
import re
from pathlib import Path

from triage.settings import get_settings


def tracking_uri() -> str:
    s = get_settings()
    if s.mlflow_tracking_uri:
        return s.mlflow_tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):  # MLflow's own variable, honoured as documented
        return os.environ["MLFLOW_TRACKING_URI"]
    s.var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(s.var_dir / 'mlflow.db').resolve()}"


def setup():
    import mlflow

    s = get_settings()
    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(s.mlflow_experiment) is None:
        artifacts = None
        if tracking_uri().startswith("sqlite:///"):
            artifacts = (s.var_dir / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(s.mlflow_experiment, artifact_location=artifacts)
    mlflow.set_experiment(s.mlflow_experiment)
    return mlflow


_UNSAFE = re.compile(r"[^\w\-./:]")


def _flatten(prefix: str, d: dict, out: dict) -> dict:
    for k, v in d.items():
        # MLflow names allow letters, digits and _ - . / : and spaces; a city's label may hold others.
        key = _UNSAFE.sub("_", f"{prefix}{k}".replace(" ", "_"))
        if isinstance(v, dict):
            _flatten(key + ".", v, out)
        elif isinstance(v, bool):
            continue
        elif isinstance(v, int | float) and v == v:
            out[key] = float(v)
    return out


def log_training_run(manifest: dict, model_dir: Path, report: dict | None, report_dir: Path | None,
                     register: bool = True) -> dict:
    """Log one training run and register its model. Returns run id and registered version."""
    import mlflow

    from triage.mlflow_model import TriagePyfunc

    setup()
    s = get_settings()
    with mlflow.start_run(run_name=f"train-{manifest['model_version']}") as run:
        cfg = manifest["config"]
        params = {"folds": cfg["folds"], "seed": cfg["seed"], "precision_target": cfg["precision_target"],
                  "precision_delta": cfg.get("precision_delta"), "threshold_grid": cfg.get("threshold_grid"),
                  "critical_recall_target": cfg["critical_recall_target"], "data_sha256": manifest["data"]["sha256"],
                  "data_n": manifest["data"]["n"], "heads": ",".join(manifest["heads"]),
                  "git_commit": manifest.get("git_commit") or "unknown"}
        for h, spec in cfg["heads"].items():
            params.update({f"{h}.{k}": v for k, v in spec.items()})
        mlflow.log_params(params)
        mlflow.set_tags({"model_version": manifest["model_version"]})
        metrics = _flatten("validation.", manifest.get("validation", {}), {})
        metrics.update({f"threshold.{h}": t for h, t in manifest["thresholds"].items()})
        metrics.update({f"threshold.{h}.{lang}": t for h, by in manifest.get("thresholds_by_language", {}).items()
                        for lang, t in by.items()})
        metrics["train_seconds"] = manifest["train_seconds"]
        if report:
            _flatten("test.", {k: v for k, v in report.items() if k != "model_version"}, metrics)
        mlflow.log_metrics(metrics)
        if report_dir and Path(report_dir).is_dir():
            mlflow.log_artifacts(str(report_dir), artifact_path="evaluation")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=TriagePyfunc(), artifacts={"model_dir": str(model_dir)},
            registered_model_name=s.registered_model_name if register else None,
            pip_requirements=["astana-triage", "scikit-learn", "spacy", "lingua-language-detector", "emoji"],
        )
        version = getattr(info, "registered_model_version", None)
        return {"run_id": run.info.run_id, "registered_version": version, "model_uri": info.model_uri}
