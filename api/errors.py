"""Typed errors -> HTTP status codes, in one place. Every error body is
``{"error": {"code": ..., "message": ..., "details"?: [...]}}``."""

from __future__ import annotations

import logging
import traceback

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage.errors import (
    InvalidLabelError,
    InvalidRequestError,
    InvalidTextError,
    ModelLoadError,
    NotFoundError,
    StoreUnavailableError,
    TriageError,
)

log = logging.getLogger("triage.api")

STATUS = {
    InvalidTextError: 422,
    InvalidLabelError: 422,
    InvalidRequestError: 422,
    NotFoundError: 404,
    StoreUnavailableError: 503,
    ModelLoadError: 503,
}


def json_response(body, status: int = 200) -> Response:
    """A JSON response serialized by orjson, for hot paths whose body is already plain data."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str, details: list | None = None,
                   headers: dict | None = None) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def status_of(exc: TriageError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(TriageError)
    async def triage_error(_: Request, exc: TriageError):
        return error_response(status_of(exc), exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return error_response(400, "malformed_json", "request body is not valid JSON")
        details = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "message": e.get("msg")}
                   for e in errs]
        first = details[0] if details else {}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        return error_response(422, "validation_error", f"{where}: {first.get('message')}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log_unhandled(exc)
        return error_response(500, "internal_error", "internal error")


def log_unhandled(exc: BaseException) -> None:
    """An unexpected error, for whoever fixes it: its type and where it was raised (file, line and
    source line of each frame), never its message, which may quote a citizen's text. Starlette
    re-raises it after the 500 is sent; api/fastlane.py's wrapper stops it there, so the server's
    own traceback with the message never reaches the log."""
    where = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    log.error("unhandled %s\n%s", type(exc).__name__, where)
