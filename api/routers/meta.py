"""Taxonomy, model, stats, health, metrics, and the reviewer page."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import metrics
from api.deps import ANY_ROLE, Principal, get_engine, get_store, principal, require
from api.schemas import UtcDatetime
from triage.engine import Triage
from triage.errors import InvalidRequestError
from triage.store import Store

router = APIRouter()


@router.get("/v1/whoami", tags=["meta"], summary="The role and name of the calling key")
def whoami(p: Principal = Depends(principal)):
    return {"role": p.role, "name": p.name}


@router.get("/v1/taxonomy", tags=["meta"], summary="Labels of every head with kk/ru/en names")
def taxonomy(engine: Triage = Depends(get_engine), _: Principal = Depends(require(*ANY_ROLE))):
    tax = engine.taxonomy
    heads = {}
    for h in ("topic", "authority", "urgency", "district"):
        labels = list(dict.fromkeys([*tax.labels(h), *engine.model.classes_.get(h, [])]))
        heads[h] = [{"label": lab, "names": {lang: tax.name(h, lab, lang) for lang in ("kk", "ru", "en")},
                     **({"default_authority": tax.default_authority(lab)} if h == "topic" else {})}
                    for lab in labels]
    return {"heads": heads, "languages": list(tax.languages), "channels": list(tax.channels)}


@router.get("/v1/model", tags=["meta"], summary="Loaded model: version, metrics, thresholds")
def model(engine: Triage = Depends(get_engine), _: Principal = Depends(require(*ANY_ROLE))):
    m = engine.manifest
    return {
        "version": engine.version, "heads": engine.heads, "thresholds": engine.thresholds,
        "thresholds_by_language": engine.thresholds_by_language,
        "critical_threshold": engine.critical_threshold, "rule_veto": engine.rule_veto,
        "labels": {h: list(engine.model.classes_[h]) for h in engine.heads},
        "trained_at": m.get("created_at") or m.get("trained_at"),
        "metrics": m.get("metrics") or m.get("validation") or {},
        "data": m.get("data"),
    }


@router.get("/v1/stats", tags=["meta"], summary="Volumes, review backlog and correction rates over a period")
def stats(
    since: UtcDatetime | None = Query(None, description="Default: 7 days before `until`."),
    until: UtcDatetime | None = Query(None, description="Default: now."),
    store: Store = Depends(get_store),
    _: Principal = Depends(require("reviewer")),
):
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=7)
    if since >= until:
        raise InvalidRequestError("since must be before until")
    return store.stats(since, until)


@router.get("/healthz", tags=["ops"], summary="The process is up")
def healthz():
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], summary="Model loaded and database reachable")
async def readyz(request: Request):
    models = getattr(request.app.state, "models", None)
    store = getattr(request.app.state, "store", None)
    db_ok = bool(store) and await _ping(request.app.state, store)
    body = {"model": models.current.version if models else None, "database": "ok" if db_ok else "unreachable"}
    if models is None or not db_ok:
        return JSONResponse({"status": "not_ready", **body}, status_code=503)
    return {"status": "ready", **body}


READY_PING_SECONDS = 2.0
_PINGER = ThreadPoolExecutor(1, thread_name_prefix="readyz")


async def _ping(state, store: Store) -> bool:
    """The database's answer within READY_PING_SECONDS, else not ready. One ping at a time on its own
    thread: probes against a database that stopped answering wait on the ping already running instead
    of piling up threads (or taking the thread pool that classification uses)."""
    pending = getattr(state, "ready_ping", None)
    if pending is None or pending.done():
        pending = state.ready_ping = asyncio.wrap_future(_PINGER.submit(store.ping))
    try:
        return await asyncio.wait_for(asyncio.shield(pending), READY_PING_SECONDS)
    except TimeoutError:
        return False


@router.get("/metrics", tags=["ops"], summary="Prometheus metrics")
def prometheus():
    data, ctype = metrics.render()
    return Response(data, media_type=ctype)


# Sent as headers too: a <meta> CSP cannot forbid framing (clickjacking) by another site.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# The API docs (assets served locally by fastapi-offline) run an inline script: no script CSP there,
# but never framed either (operators paste keys into Swagger's "Authorize").
FRAME_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY",
                 "X-Content-Type-Options": "nosniff"}


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class PageHeadersMiddleware:
    """The page's headers on every static file (``/static/review.html`` is the same page as
    ``/review``) and framing protection on the API docs."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        raw = (_PAGE_RAW if path.startswith("/static/") else
               _FRAME_RAW if path.startswith(("/docs", "/redoc", "/static-offline-docs/")) else None)
        if raw is None:
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in raw if k not in present)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_PAGE_RAW, _FRAME_RAW = _raw(PAGE_HEADERS), _raw(FRAME_HEADERS)


def mount_page(app: FastAPI, static_dir: Path) -> None:
    """The reviewer page: static files served by the API itself, no build step."""
    if not (static_dir / "review.html").exists():
        return
    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    app.add_middleware(PageHeadersMiddleware)

    @app.get("/review", include_in_schema=False)
    def review_page():
        return FileResponse(static_dir / "review.html", headers={"Cache-Control": "no-cache", **PAGE_HEADERS})

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/review")
