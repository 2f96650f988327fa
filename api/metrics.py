"""Prometheus metrics and a pure-ASGI middleware that times every request by route template.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty directory shared by the
workers) and /metrics aggregates all of them."""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as mp

REQUESTS = Counter("triage_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "triage_http_request_duration_seconds", "HTTP request latency", ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PREDICTIONS = Counter("triage_predictions_total", "Predicted labels", ["head", "label"])
CLASSIFIED = Counter("triage_classified_total", "Messages classified")
NEEDS_REVIEW = Counter("triage_needs_review_total", "Messages sent to review (abstentions)")
MODEL_INFO = Gauge("triage_model_info", "Loaded model version (value 1)", ["version"],
                   multiprocess_mode="liveall")


def observe_results(results: list[dict]) -> None:
    for r in results:
        CLASSIFIED.inc()
        if r.get("needs_review"):
            NEEDS_REVIEW.inc()
        for h in ("topic", "authority", "urgency"):
            if r.get(h):
                PREDICTIONS.labels(h, r[h]["label"]).inc()


_loaded: list[str] = []


def set_model(version: str) -> None:
    for old in _loaded:
        if old != version:
            MODEL_INFO.labels(old).set(0)
    _loaded[:] = [version]
    MODEL_INFO.labels(version).set(1)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The route template, never the raw path: ids must not explode label cardinality.
            observe_request(scope.get("method", ""), getattr(scope.get("route"), "path", None) or "unmatched",
                            status["code"], start)


def observe_request(method: str, endpoint: str, status: int, start: float) -> None:
    """One request in the latency histogram and the request counter (``start``: perf_counter)."""
    LATENCY.labels(method, endpoint).observe(time.perf_counter() - start)
    REQUESTS.labels(method, endpoint, str(status)).inc()


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes`` before parsing: by Content-Length, or, for a chunked body
    (no Content-Length), while reading it here."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if length is None:
            # No Content-Length (chunked): read the body here, so that an oversized one is a 413
            # before the app parses anything (an exception raised from ``receive`` inside FastAPI's
            # body parsing would come out as its generic 400).
            return await self._buffered(scope, receive, send)
        try:
            too_big = int(length) > self.max_bytes
        except ValueError:
            too_big = False
        if too_big:
            return await _reject(send, self.max_bytes)
        # Within its Content-Length the server never hands on more body than that.
        await self.app(scope, receive, send)

    async def _buffered(self, scope, receive, send):
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away: the app sees it first thing
                first = msg
                break
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await _reject(send, self.max_bytes)
            if not msg.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        await self.app(scope, replaying([first], receive), send)


def replaying(messages: list[dict], receive):
    """A ``receive`` that hands over ``messages`` (what was already read), then the real one's."""
    pending = list(messages)

    async def replay():
        return pending.pop(0) if pending else await receive()

    return replay


async def _reject(send, limit: int) -> None:
    import json

    body = json.dumps({"error": {"code": "payload_too_large",
                                 "message": f"request body over {limit} bytes"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
