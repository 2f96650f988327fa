"""Reviewers: one message, the review queue, corrections."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query

from api.deps import Principal, get_engine, get_store, require
from api.schemas import CorrectionRequest
from triage.engine import Triage
from triage.store import Store

router = APIRouter(prefix="/v1", tags=["review"])
MessageId = Path(ge=1, le=2**63 - 1)


def allowed_labels(engine: Triage) -> dict[str, set[str]]:
    """What a correction may say: the taxonomy's labels plus any the model was trained on."""
    tax = engine.taxonomy
    out = {h: set(tax.labels(h)) for h in ("topic", "authority", "urgency", "district")}
    for h, classes in engine.model.classes_.items():
        out.setdefault(h, set()).update(classes)
    return out


@router.get("/messages/{message_id}", summary="One stored message, its prediction and corrections")
def get_message(message_id: int = MessageId, store: Store = Depends(get_store),
                _: Principal = Depends(require("reviewer"))):
    return store.get_message(message_id)


@router.get("/review/queue", summary="Messages to review, most in need first (see triage.review)")
def review_queue(
    head: Literal["topic", "authority", "urgency"] | None = None,
    limit: int = Query(20, ge=1, le=200),
    cursor: str | None = Query(None, max_length=200),
    store: Store = Depends(get_store),
    _: Principal = Depends(require("reviewer")),
):
    return store.review_queue(head=head, limit=limit, cursor=cursor)


@router.post("/messages/{message_id}/corrections", status_code=201,
             summary="Append a correction (audit trail; the latest label per field wins)")
def correct(body: CorrectionRequest, message_id: int = MessageId, store: Store = Depends(get_store),
            engine: Triage = Depends(get_engine), who: Principal = Depends(require("reviewer"))):
    labels = {f: getattr(body, f) for f in ("topic", "authority", "urgency", "district")}
    return store.add_correction(message_id, who.name, labels, body.comment, allowed_labels(engine))
