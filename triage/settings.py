"""One typed settings object, read once from the environment (prefix TRIAGE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
REPO_DIR = PACKAGE_DIR.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    model_dir: Path = Field(REPO_DIR / "models" / "default", description="Model directory to load by default.")
    data_dir: Path = Field(REPO_DIR / "data" / "samples", description="Starter dataset (train/test JSONL).")
    taxonomy_path: Path = RESOURCES_DIR / "taxonomy.yaml"
    routing_path: Path = RESOURCES_DIR / "routing.yaml"
    gazetteer_path: Path = RESOURCES_DIR / "gazetteer.yaml"
    emergency_rules_path: Path = RESOURCES_DIR / "emergency_rules.yaml"
    lexicon_path: Path = RESOURCES_DIR / "lexicon.yaml"
    max_text_chars: int = Field(5000, ge=1, description="Longer texts are truncated and flagged.")
    mlflow_tracking_uri: str | None = Field(
        None, description="Overrides MLFLOW_TRACKING_URI; default is a local SQLite store under var/."
    )
    mlflow_experiment: str = "astana-triage"
    registered_model_name: str = "astana-triage"
    var_dir: Path = REPO_DIR / "var"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
