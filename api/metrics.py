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
            route = scope.get("route")
            # The route template, never the raw path: ids must not explode label cardinality.
            endpoint = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            LATENCY.labels(method, endpoint).observe(time.perf_counter() - start)
            REQUESTS.labels(method, endpoint, str(status["code"])).inc()


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, by Content-Length or while streaming, before parsing."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    return await _reject(send, self.max_bytes)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _reject(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _reject(send, limit: int) -> None:
    import json

    body = json.dumps({"error": {"code": "payload_too_large",
                                 "message": f"request body over {limit} bytes"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
