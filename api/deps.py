"""Dependencies: the loaded engine and store, and role checks by API key."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from triage.engine import Triage
from triage.store import Store

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (intake, reviewer or admin).")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


@dataclass(frozen=True)
class Principal:
    role: str
    name: str


# Dependencies are async where they do no I/O: a sync dependency costs a thread-pool hop.
async def get_engine(request: Request) -> Triage:
    return request.app.state.models.current


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def principal(
    request: Request,
    key: str | None = Security(_api_key),
    bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
) -> Principal:
    plain = key or (bearer.credentials if bearer else None)
    store: Store = request.app.state.store
    found = store.cached_key(plain) if plain else None
    if found is None:
        found = await run_in_threadpool(store.verify_key, plain)
    if found is None:
        raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return Principal(*found)


def allowed_roles(*roles: str) -> frozenset[str]:
    """The given roles and admin (admin may do everything)."""
    return frozenset({*roles, "admin"})


def require(*roles: str):
    """A dependency that lets through :func:`allowed_roles`."""
    allowed = allowed_roles(*roles)

    async def check(p: Principal = Depends(principal)) -> Principal:
        if p.role not in allowed:
            raise HTTPException(403, f"role {p.role!r} may not do this")
        return p

    return check


ANY_ROLE = ("intake", "reviewer", "admin")
