"""The FastAPI application: ``create_app()`` wires engine, store, routers, errors and metrics.

``triage serve`` runs it with uvicorn; tests build it with their own settings.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from api import errors, metrics
from api.batcher import MicroBatcher
from api.routers import admin, classify, meta, review
from triage import __version__
from triage.engine import Triage
from triage.settings import Settings, get_settings
from triage.store import Store, upgrade

log = logging.getLogger("triage.api")
STATIC_DIR = Path(__file__).resolve().parent / "static"


class ModelHolder:
    """The live engine. Swapping it is one reference assignment: requests that already hold the
    old engine finish on it."""

    def __init__(self, engine: Triage):
        self._lock = threading.Lock()
        self.current = engine
        metrics.set_model(engine.version)

    def swap(self, engine: Triage) -> Triage:
        with self._lock:
            old, self.current = self.current, engine
        metrics.set_model(engine.version)
        return old


def bootstrap_admin_key(store: Store, settings: Settings) -> Path | None:
    """On a store with no keys at all, create one admin key and write it to a file only the owner
    can read (never to the log), so a fresh install can be tried without any set-up."""
    if store.count_keys():
        return None
    key = store.create_key("admin", "bootstrap-admin")
    path = settings.var_dir / "bootstrap-admin.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def create_app(settings: Settings | None = None, engine: Triage | None = None,
               store: Store | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own_store = store is None
        st = store or Store(settings.resolved_database_url(), settings.quality_sample_rate,
                            settings.key_cache_seconds)
        if st.dialect == "sqlite":
            Path(st.engine.url.database or ".").parent.mkdir(parents=True, exist_ok=True)
            upgrade(st.engine)  # embedded database: migrate on start; PostgreSQL: `triage db upgrade`
        app.state.store = st
        app.state.models = ModelHolder(engine or Triage.load(settings.model_dir, settings))
        # Warm-up: lingua's language models and the matchers load on first use; ready means ready.
        app.state.models.current.classify_batch(["warm-up жол вода"])
        app.state.settings = settings
        path = bootstrap_admin_key(st, settings)
        if path:
            log.warning("no API keys existed: an admin key was written to %s", path)
        log.info("ready: model %s, store %s", app.state.models.current.version, st.dialect)
        yield
        await app.state.batcher.close()
        if own_store:
            st.dispose()

    app = FastAPI(
        title="Astana citizens' message triage",
        version=__version__,
        description=(
            "Assigns each message a topic, the responsible authority and an urgency level with "
            "calibrated confidences, routes it, stores it (redacted) and lets reviewers correct it. "
            "Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`."
        ),
        lifespan=lifespan,
    )
    if engine is not None and store is not None:
        # Everything given (tests, embedding): usable even by clients that don't run the lifespan.
        app.state.store, app.state.models, app.state.settings = store, ModelHolder(engine), settings
    app.state.batcher = MicroBatcher(classify.batcher_process(app))
    errors.install(app)
    app.add_middleware(metrics.BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    for r in (classify.router, review.router, meta.router, admin.router):
        app.include_router(r)
    meta.mount_page(app, STATIC_DIR)
    return app
