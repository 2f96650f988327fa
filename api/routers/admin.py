"""Admin: API key management."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import Principal, get_store, require
from api.schemas import KeyRequest
from triage.store import Store

router = APIRouter(prefix="/v1/admin", tags=["admin"])


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
