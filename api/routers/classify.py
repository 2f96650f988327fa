"""POST /v1/classify and /v1/classify/batch (intake).

Single messages go through the worker's micro-batcher (api/batcher.py): concurrent requests are
classified together on the vectorized path and stored in one transaction, in a worker thread, so
CPU-bound classification never blocks the event loop."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from api import memory, metrics
from api.deps import Principal, require
from api.errors import json_response
from api.schemas import BatchRequest, BatchResponse, ClassifyRequest, ClassifyResponse
from triage.engine import Triage
from triage.errors import InvalidTextError, StoreUnavailableError
from triage.store import Store
from triage.store.service import NewMessage

router = APIRouter(prefix="/v1", tags=["classify"])
ROLES = ("intake",)  # who may classify (and admin); api/fastlane.py reads it too
log = logging.getLogger("triage.api")


def _new(item: ClassifyRequest) -> NewMessage:
    return NewMessage(text=item.text, channel=item.channel, external_id=item.external_id,
                      author=item.author, posted_at=item.posted_at, metadata=item.metadata)


def process(engine: Triage, store: Store, items: Sequence[ClassifyRequest]) -> list[dict | InvalidTextError]:
    """Classify and store ``items`` (one vectorized pass, one transaction), results in order.

    An invalid text is an :class:`InvalidTextError` in its place. When the database is away the
    others are still answered, with ``stored: false`` and no message id.
    """
    results = engine.classify_batch([i.text for i in items], explain=True, errors="return")
    ok = [(i, r.to_dict()) for i, r in enumerate(results) if not isinstance(r, Exception)]
    preds = [r for _, r in ok]
    metrics.observe_results(preds)
    out: list[dict | InvalidTextError] = list(results)  # type: ignore[arg-type]
    try:
        saved = store.save_classified([_new(items[i]) for i, _ in ok], preds) if ok else []
    except StoreUnavailableError:
        log.warning("store unavailable: %d classified messages not stored", len(ok))
        for i, r in ok:
            out[i] = {**r, "message_id": None, "stored": False, "duplicate": False}
        return out
    for (i, r), s in zip(ok, saved, strict=True):
        # A retried message answers with what was stored the first time.
        body = {**s.prediction, "explanation": r.get("explanation", {})} if s.duplicate else r
        out[i] = {**body, "message_id": s.id, "stored": True, "duplicate": s.duplicate}
    return out


def _process_large(engine: Triage, store: Store, items: Sequence[ClassifyRequest]) -> list:
    """:func:`process`, then hand the batch's freed heap back to the OS (api/memory.py)."""
    try:
        return process(engine, store, items)
    finally:
        memory.release_after(len(items))


def batcher_process(app):
    def run(items: Sequence[ClassifyRequest]) -> list:
        return process(app.state.models.current, app.state.store, items)

    return run


@router.post("/classify", response_model=ClassifyResponse, summary="Classify and store one message")
async def classify_one(body: ClassifyRequest, request: Request, _: Principal = Depends(require(*ROLES))):
    result = await request.app.state.batcher.submit(body)
    return json_response(result)


@router.post("/classify/batch", response_model=BatchResponse,
             summary="Classify and store up to batch_max_items messages in one transaction")
async def classify_batch(body: BatchRequest, request: Request, _: Principal = Depends(require(*ROLES))):
    limit = request.app.state.settings.batch_max_items
    if len(body.items) > limit:
        raise InvalidTextError(f"a batch holds at most {limit} items, got {len(body.items)}")
    state = request.app.state
    results = await run_in_threadpool(_process_large, state.models.current, state.store, body.items)
    merged = [{"index": i, "error": {"code": r.code, "message": str(r)}} if isinstance(r, Exception) else r
              for i, r in enumerate(results)]
    stored = all(r.get("stored", True) for r in merged)
    return json_response({"results": merged, "stored": stored})
