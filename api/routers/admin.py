"""Admin: API key management, model reload, promotion history."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import Principal, get_store, require
from api.errors import error_response
from api.schemas import KeyRequest
from triage.champion import RELOAD_POLL_SECONDS, request_reload
from triage.errors import ModelLoadError
from triage.store import Store

router = APIRouter(prefix="/v1/admin", tags=["admin"])
log = logging.getLogger("triage.api")


@router.get("/keys", summary="List API keys (prefixes and roles; never the keys)")
def list_keys(store: Store = Depends(get_store), _: Principal = Depends(require("admin"))):
    return {"keys": store.list_keys()}


@router.post("/keys", status_code=201, summary="Create an API key; the key is shown only in this response")
def create_key(body: KeyRequest, store: Store = Depends(get_store), _: Principal = Depends(require("admin"))):
    key = store.create_key(body.role, body.name)
    return {"key": key, "role": body.role, "name": body.name, "prefix": key[4:12]}


@router.delete("/keys/{prefix}", status_code=204, summary="Revoke an API key by its prefix")
def revoke_key(prefix: str, store: Store = Depends(get_store), _: Principal = Depends(require("admin"))):
    store.revoke_key(prefix)


@router.post("/reload", summary="Serve the current champion (hash check and smoke test first; a refused model "
             "leaves the old one serving)")
async def reload_model(request: Request, force: bool = False, _: Principal = Depends(require("admin"))):
    state = request.app.state
    try:
        result = await run_in_threadpool(state.models.reload, state.settings, force)
    except ModelLoadError as exc:
        return error_response(409, "model_refused", f"{exc}; still serving {state.models.current.version}")
    # This worker answered; the others (and other machines sharing the pointer's directory) see the
    # request file change and check the pointer within a second.
    try:
        await run_in_threadpool(request_reload, state.settings)
    except OSError as exc:  # a read-only volume for the pointer: the others follow at their periodic check
        log.warning("reload request file not written (%s): other workers reload at their periodic check",
                    type(exc).__name__)
        return {**result, "other_workers": f"at their periodic check ({state.settings.model_check_seconds:g} s)"}
    return {**result, "other_workers": f"within {RELOAD_POLL_SECONDS:g} s"}


@router.get("/promotions", summary="Champion changes: who, when, which version, metrics")
def promotions(store: Store = Depends(get_store), _: Principal = Depends(require("admin"))):
    return {"promotions": store.promotions()}
