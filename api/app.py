"""The FastAPI application: ``create_app()`` wires engine, store, routers, errors and metrics.

``triage serve`` runs it with uvicorn; tests build it with their own settings.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api import errors, fastlane, metrics
from api.batcher import MicroBatcher
from api.routers import admin, classify, meta, review
from triage import __version__
from triage.champion import RELOAD_POLL_SECONDS, reload_request_path, reload_stamp, serving_model_dir
from triage.engine import Triage
from triage.errors import ModelLoadError
from triage.settings import Settings, get_settings
from triage.smoke import load_checked, smoke_problems
from triage.store import Store, ensure_schema, startup_lock

log = logging.getLogger("triage.api")
STATIC_DIR = Path(__file__).resolve().parent / "static"


class ModelHolder:
    """The live engine. Swapping it is one reference assignment: requests that already hold the
    old engine finish on it. A candidate is swapped in only after it loaded, passed its hash check
    and its smoke test (triage/smoke.py); otherwise the old one keeps serving."""

    def __init__(self, engine: Triage, model_dir: Path | None = None):
        self._lock = threading.Lock()
        self.current = engine
        self.model_dir = model_dir
        metrics.set_model(engine.version)

    def swap(self, engine: Triage, model_dir: Path | None = None) -> Triage:
        with self._lock:
            old, self.current, self.model_dir = self.current, engine, model_dir
        metrics.set_model(engine.version)
        return old

    def reload(self, settings: Settings, force: bool = False) -> dict:
        """Serve the champion the pointer names, if it differs from the current model."""
        target = serving_model_dir(settings)
        if not force and self.model_dir is not None and Path(target).resolve() == Path(self.model_dir).resolve():
            return {"status": "unchanged", "version": self.current.version}
        engine = load_checked(target, settings)  # raises ModelLoadError: nothing is swapped
        if not force and engine.version == self.current.version:
            self.model_dir = target
            return {"status": "unchanged", "version": engine.version}
        old = self.swap(engine, target)
        log.warning("model reloaded: %s -> %s", old.version, engine.version)
        return {"status": "reloaded", "version": engine.version, "previous": old.version}


def initial_engine(settings: Settings, smoke: bool = True) -> tuple[Triage, Path]:
    """The champion when the pointer names a loadable one, else the shipped model. Without
    ``smoke``, only the hash-verified load (the caller runs the smoke test later)."""
    load = load_checked if smoke else Triage.load
    try:
        target = serving_model_dir(settings)
    except ModelLoadError as exc:  # at start something must serve; a reload keeps the current model instead
        log.error("champion pointer refused at start (%s); serving the shipped model", exc)
        return load(settings.model_dir, settings), settings.model_dir
    try:
        return load(target, settings), target
    except ModelLoadError as exc:
        if Path(target).resolve() == Path(settings.model_dir).resolve():
            raise
        log.error("champion refused at start (%s); serving the shipped model", exc)
        return load(settings.model_dir, settings), settings.model_dir


async def watch_champion(app: FastAPI, settings: Settings) -> None:
    """Checks the champion pointer every ``model_check_seconds`` (0: never by itself) and whenever the
    reload request file changes (looked at every second); a refused model is logged and the old one
    keeps serving."""
    loop = asyncio.get_running_loop()
    request_file = reload_request_path(settings)
    seen, last_check = reload_stamp(request_file), time.monotonic()
    while True:
        await asyncio.sleep(RELOAD_POLL_SECONDS)
        stamp = reload_stamp(request_file)
        periodic = settings.model_check_seconds > 0 and time.monotonic() - last_check >= settings.model_check_seconds
        if stamp == seen and not periodic:
            continue
        seen, last_check = stamp, time.monotonic()
        try:
            await loop.run_in_executor(None, app.state.models.reload, settings)
        except ModelLoadError as exc:
            log.error("new champion refused: %s", exc)
        except Exception as exc:  # the watcher must survive anything
            log.error("champion check failed: %s", type(exc).__name__)


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
               store: Store | None = None, preload: bool = False) -> FastAPI:
    """The API. With ``preload``, the serving model is loaded now, in the calling process, and
    its objects frozen out of the garbage collector: `triage serve --workers N` calls this once in
    the supervisor and forks the workers, which share the model's memory pages and skip the
    imports and the load (language ID's lingua detector is still built in each worker, after the
    fork: its thread pool must not be forked)."""
    settings = settings or get_settings()
    preloaded = None
    if preload and engine is None:
        # No smoke test here: it classifies, which starts lingua's thread pool, and a forked child
        # cannot use its parent's pool (it hangs). Each worker runs it after the fork (lifespan).
        preloaded = initial_engine(settings, smoke=False)
        preloaded[0].model.feature_names()  # built once here, shared by the forked workers
        gc.collect()
        gc.freeze()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own_store = store is None
        st = store or Store.from_settings(settings)
        with startup_lock(settings.var_dir):  # several workers start at once: one migrates, one bootstraps
            if st.dialect == "sqlite":
                Path(st.engine.url.database or ".").parent.mkdir(parents=True, exist_ok=True)
                ensure_schema(st.engine)  # embedded database: migrate on start; PostgreSQL: `triage db upgrade`
            path = bootstrap_admin_key(st, settings)
        app.state.store = st
        if engine is not None:
            app.state.models = ModelHolder(engine)
        else:
            serving = preloaded
            if serving is not None and (problems := smoke_problems(serving[0])):
                log.error("preloaded model %s failed its smoke test: %s", serving[0].version, "; ".join(problems))
                serving = None  # load again, with the fallback to the shipped model
            app.state.models = ModelHolder(*(serving or initial_engine(settings)))
        # Warm-up: lingua's language models and the matchers load on first use; ready means ready.
        app.state.models.current.classify_batch(["warm-up жол вода"], explain=True)
        # The model is hundreds of thousands of long-lived objects; without this, every full
        # collection walks them all (tens of milliseconds, straight into tail latency).
        gc.collect()
        gc.freeze()
        app.state.settings = settings
        if path:
            log.warning("no API keys existed: an admin key was written to %s", path)
        log.info("ready: model %s, store %s", app.state.models.current.version, st.dialect)
        watcher = asyncio.create_task(watch_champion(app, settings)) if engine is None else None
        yield
        if watcher:
            watcher.cancel()
        await app.state.batcher.close()
        if own_store:
            st.dispose()

    # fastapi-offline: /docs and /redoc with their scripts served by the API itself, not from a CDN.
    app = FastAPIOffline(
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
    # Outermost, ahead of the framework's middleware and routing (api/fastlane.py).
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: fastlane.FastLane(app, build(), enabled=settings.fast_lane)
    app.state.batcher = MicroBatcher(classify.batcher_process(app), max_batch=settings.micro_batch_max)
    errors.install(app)
    app.add_middleware(metrics.BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    for r in (classify.router, review.router, meta.router, admin.router):
        app.include_router(r)
    meta.mount_page(app, STATIC_DIR)
    return app
