"""POST /v1/classify and /v1/classify/batch (intake). Sync handlers: FastAPI runs them in its
thread pool, so CPU-bound classification never blocks the event loop."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request

from api import metrics
from api.deps import Principal, get_engine, get_store, require
from api.schemas import BatchRequest, BatchResponse, ClassifyRequest, ClassifyResponse
from triage.engine import Triage
from triage.errors import InvalidTextError, StoreUnavailableError
from triage.store import Store
from triage.store.service import NewMessage

router = APIRouter(prefix="/v1", tags=["classify"])
log = logging.getLogger("triage.api")


def _new(item: ClassifyRequest) -> NewMessage:
    return NewMessage(text=item.text, channel=item.channel, external_id=item.external_id,
                      author=item.author, posted_at=item.posted_at, metadata=item.metadata)


def _store(store: Store, items: list[NewMessage], results: list[dict]) -> list[dict]:
    """Store and answer; when the database is away, still answer with ``stored: false``."""
    try:
        saved = store.save_classified(items, results)
    except StoreUnavailableError:
        log.warning("store unavailable: %d classified messages not stored", len(items))
        return [{**r, "message_id": None, "stored": False, "duplicate": False} for r in results]
    out = []
    for r, s in zip(results, saved, strict=True):
        # A retried message answers with what was stored the first time.
        body = {**s.prediction, "explanation": r.get("explanation", {})} if s.duplicate else r
        out.append({**body, "message_id": s.id, "stored": True, "duplicate": s.duplicate})
    return out


@router.post("/classify", response_model=ClassifyResponse, summary="Classify and store one message")
def classify_one(body: ClassifyRequest, engine: Triage = Depends(get_engine),
                 store: Store = Depends(get_store), _: Principal = Depends(require("intake"))):
    result = engine.classify(body.text, explain=True).to_dict()
    metrics.observe_results([result])
    return _store(store, [_new(body)], [result])[0]


@router.post("/classify/batch", response_model=BatchResponse,
             summary="Classify and store up to batch_max_items messages in one transaction")
def classify_batch(body: BatchRequest, request: Request, engine: Triage = Depends(get_engine),
                   store: Store = Depends(get_store), _: Principal = Depends(require("intake"))):
    limit = request.app.state.settings.batch_max_items
    if len(body.items) > limit:
        raise InvalidTextError(f"a batch holds at most {limit} items, got {len(body.items)}")
    results = engine.classify_batch([i.text for i in body.items], explain=True, errors="return")
    ok = [(i, r.to_dict()) for i, r in enumerate(results) if not isinstance(r, Exception)]
    metrics.observe_results([r for _, r in ok])
    stored = _store(store, [_new(body.items[i]) for i, _ in ok], [r for _, r in ok])
    out: list[dict] = [{"index": i, "error": {"code": r.code, "message": str(r)}}
                       for i, r in enumerate(results) if isinstance(r, Exception)]
    merged: list[dict | None] = [None] * len(results)
    for e in out:
        merged[e["index"]] = e
    for (i, _), s in zip(ok, stored, strict=True):
        merged[i] = s
    return {"results": merged, "stored": all(s["stored"] for s in stored) if stored else True}
