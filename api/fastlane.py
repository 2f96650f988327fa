"""A fast lane for the hottest request: a well-formed ``POST /v1/classify`` from a known key.

Profiling a worker under load at 50 connections (py-spy, README *Speed*) showed its event-loop
thread spending about three times as much CPU as the classification itself: routing, dependency
resolution, request objects and six middleware layers, for every message. The fast lane answers
the common case straight from ASGI, before any of that, with the same parts the route uses
(``ClassifyRequest`` for validation, the worker's micro-batcher, ``json_response``, the error
bodies of ``api/errors.py``, the same Prometheus series).

It only takes a request it is sure to answer exactly as the route would: a JSON body within its
Content-Length and the body limit, an X-API-Key or bearer key verified in the last
``key_cache_seconds`` with a role that may classify, a body that parses and validates. Anything
else (no or unknown key, wrong role, chunked or oversized body, malformed JSON, NaN, a validation
error, another content type) is handed to the full application with the body replayed, so every
error and edge case keeps exactly one implementation. ``TRIAGE_FAST_LANE=false`` turns it off;
``tests/test_fastlane.py`` checks both lanes answer alike.
"""

from __future__ import annotations

import json
import time

from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import Counter

from api import metrics
from api.deps import allowed_roles
from api.errors import error_response, json_response, log_unhandled, status_of
from api.metrics import replaying
from api.routers import classify
from api.schemas import ClassifyRequest
from triage.errors import TriageError

PATH = "/v1/classify"
ROLES = allowed_roles(*classify.ROLES)  # as the route's require()
FAST = Counter("triage_fast_lane_requests_total", "POST /v1/classify requests answered by the fast lane")


def _json_content_type(value: bytes | None) -> bool:
    return value is not None and value.split(b";", 1)[0].strip().lower() == b"application/json"


def _key(key: bytes | None, authorization: bytes | None) -> str | None:
    """The key as the route's dependencies read it: X-API-Key, else a bearer token."""
    if key:
        return key.decode("latin-1")
    if authorization:
        scheme, credentials = get_authorization_scheme_param(authorization.decode("latin-1"))
        if scheme and credentials and scheme.lower() == "bearer":
            return credentials
    return None


class FastLane:
    """The outermost ASGI layer: with ``enabled``, classify requests that qualify are answered
    here; everything else goes to ``inner`` (the application's full middleware stack).

    It also stops an unexpected error that Starlette re-raises after its 500 response (already
    logged without its message by ``api/errors.py``), so the server does not log it again with a
    message that may quote a citizen's text; an error in the fast lane's own code is answered and
    logged the same way."""

    def __init__(self, app, inner, enabled: bool = True):
        self.app, self.inner, self.enabled = app, inner, enabled

    async def _full(self, scope, receive, send):
        try:
            await self.inner(scope, receive, send)
        except Exception:  # noqa: BLE001 - answered (500) and logged by api/errors.py already
            return

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        if not (self.enabled and scope["path"] == PATH and scope["method"] == "POST"):
            return await self._full(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await handle(self.app, scope, receive, tracked, self._full)
        except Exception as exc:  # noqa: BLE001 - the fast lane's own code: as api/errors.py does
            log_unhandled(exc)
            metrics.REQUESTS.labels("POST", PATH, "500").inc()
            if not started:
                await error_response(500, "internal_error", "internal error")(scope, receive, send)


async def handle(app, scope, receive, send, full_app) -> None:
    """Answer ``scope`` on the fast lane, or hand it to ``full_app`` unchanged."""
    start = time.perf_counter()
    state = app.state
    store = getattr(state, "store", None)
    settings = getattr(state, "settings", None)
    key = authorization = ctype = length = None
    for name, value in scope["headers"]:  # the first of repeated headers, as Starlette reads them
        if name == b"x-api-key":
            key = value if key is None else key
        elif name == b"authorization":
            authorization = value if authorization is None else authorization
        elif name == b"content-type":
            ctype = value if ctype is None else ctype
        elif name == b"content-length":
            length = value if length is None else length
    # At most 18 digits: int() refuses strings of over 4,300 digits, which httptools lets through
    # as leading zeros (the full app's body limit reads those, and answers them).
    if (store is None or settings is None or length is None or len(length) > 18 or not length.isdigit()
            or int(length) > settings.max_body_bytes or not _json_content_type(ctype)):
        return await full_app(scope, receive, send)

    chunks = []
    while True:  # within its Content-Length the server never hands on more body than that
        message = await receive()
        if message["type"] != "http.request":
            # The client went away mid-body: the full app sees the same cut-short body (it answers
            # 400 to nobody, and counts it in the metrics).
            cut = [{"type": "http.request", "body": b"".join(chunks), "more_body": True}, message]
            return await full_app(scope, replaying(cut, receive), send)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)

    item = None
    plain = _key(key, authorization)
    found = store.cached_key(plain) if plain else None
    if found is not None and found[0] in ROLES:
        try:  # json.loads as Starlette's request.json() (orjson would turn a 40-digit integer into a float)
            data = json.loads(body)
            if isinstance(data, dict):
                item = ClassifyRequest.model_validate(data)
        except Exception:  # noqa: BLE001 - whatever it is, the full application answers it
            item = None
    if item is None:
        return await full_app(scope, replaying([{"type": "http.request", "body": body, "more_body": False}],
                                               receive), send)

    FAST.inc()
    try:
        response = json_response(await state.batcher.submit(item))
    except TriageError as exc:
        response = error_response(status_of(exc), exc.code, str(exc))
    except Exception as exc:  # as api/errors.py's handler: never the message
        log_unhandled(exc)
        response = error_response(500, "internal_error", "internal error")
    try:
        await response(scope, receive, send)
    finally:
        metrics.observe_request("POST", PATH, response.status_code, start)
