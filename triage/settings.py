"""One typed settings object, read once from the environment (prefix TRIAGE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from triage.errors import TriageError

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
REPO_DIR = PACKAGE_DIR.parent


class SettingsError(TriageError, ValueError):
    """A TRIAGE_ environment variable with a value the service cannot use."""

    code = "settings_error"


class Settings(BaseSettings):
    # Finite numbers only: an infinite key cache would keep a revoked key working forever.
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", allow_inf_nan=False)

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

    # Store and service
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is an SQLite file under var_dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    max_body_bytes: int = Field(2_000_000, ge=1024, description="Larger request bodies get 413.")
    batch_max_items: int = Field(1000, ge=1)
    micro_batch_max: int = Field(16, ge=1, description="Most single-message requests classified together.")
    quality_sample_rate: float = Field(
        0.05, ge=0, le=1, description="Share of confident messages also sent to review as quality checks."
    )
    fast_lane: bool = Field(True, description="Answer well-formed POST /v1/classify requests from a known key "
                            "without the framework's routing and middleware (api/fastlane.py).")
    key_cache_seconds: float = Field(30.0, ge=0, le=3600, description="How long a verified API key is trusted in memory.")

    # Model lifecycle
    champion_pointer: Path | None = Field(
        None, description="File naming the champion model directory, written by promotion and read by "
        "the service; default var_dir/models/CHAMPION. Put it on a shared volume for several machines.",
    )
    model_check_seconds: float = Field(30.0, ge=0, le=86400, description="How often the service checks the champion "
                                       "pointer (0: only POST /v1/admin/reload).")
    promotion_tolerance: float = Field(0.01, ge=0, le=1, description="Largest macro-F1 drop on the frozen test split "
                                       "a candidate may have on any head and still be promoted.")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():  # unset, or set empty (TRIAGE_DATABASE_URL=${DATABASE_URL:-})
            return None
        scheme = url.split("://", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):  # the driver this project ships: psycopg 3
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        if not scheme.startswith(("sqlite", "postgresql+")):
            raise ValueError("use sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db")
        return url

    def champion_pointer_path(self) -> Path:
        return self.champion_pointer or self.var_dir / "models" / "CHAMPION"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'triage.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"TRIAGE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid setting: {problems}") from None
