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
import logging
import time

from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import Counter

from api import metrics
from api.errors import error_response, json_response, status_of
from api.schemas import ClassifyRequest
from triage.errors import TriageError

log = logging.getLogger("triage.api")

PATH = "/v1/classify"
ROLES = frozenset({"intake", "admin"})  # require("intake") lets admin through too
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
    """ASGI: classify requests that qualify are answered here, everything else goes to ``inner``
    (the application's full middleware stack)."""

    def __init__(self, app, inner):
        self.app, self.inner = app, inner

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            return await handle(self.app, scope, receive, send, self.inner)
        await self.inner(scope, receive, send)


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
    if (store is None or settings is None or length is None or not length.isdigit()
            or int(length) > settings.max_body_bytes or not _json_content_type(ctype)):
        return await full_app(scope, receive, send)

    chunks = []
    while True:  # within its Content-Length the server never hands on more body than that
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away before sending its body: nobody to answer
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)

    item = None
    plain = _key(key or None, authorization)
    found = store.cached_key(plain) if plain else None
    if found is not None and found[0] in ROLES:
        try:  # json.loads as Starlette's request.json() (orjson would turn a 40-digit integer into a float)
            data = json.loads(body)
            if isinstance(data, dict):
                item = ClassifyRequest.model_validate(data)
        except Exception:  # noqa: BLE001 - whatever it is, the full application answers it
            item = None
    if item is None:
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await full_app(scope, replay, send)

    FAST.inc()
    try:
        response = json_response(await state.batcher.submit(item))
    except TriageError as exc:
        response = error_response(status_of(exc), exc.code, str(exc))
    except Exception as exc:  # as api/errors.py's handler: the type only, never the text
        log.error("unhandled %s", type(exc).__name__)
        response = error_response(500, "internal_error", "internal error")
    try:
        await response(scope, receive, send)
    finally:
        metrics.LATENCY.labels("POST", PATH).observe(time.perf_counter() - start)
        metrics.REQUESTS.labels("POST", PATH, str(response.status_code)).inc()
