"""The API contract (Pydantic). Field names are the taxonomy's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _storable(value: str) -> str:
    # Lone surrogates can't be encoded and PostgreSQL refuses NUL: reject them here, as 422,
    # rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:  # NaN and Infinity are not JSON: PostgreSQL refuses them and responses can't carry them
        raw = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        raise ValueError("metadata must be plain JSON") from None
    _storable(raw)
    if len(raw) > 10_000:
        raise ValueError("metadata must be at most 10,000 characters of JSON")
    if _depth(value) > 8:
        raise ValueError("metadata must be nested at most 8 levels deep")
    return value


def _depth(v: Any, d: int = 0) -> int:
    if d > 8:
        return d
    if isinstance(v, dict):
        return max((_depth(x, d + 1) for x in v.values()), default=d + 1)
    if isinstance(v, list):
        return max((_depth(x, d + 1) for x in v), default=d + 1)
    return d


EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    """The same instant in UTC (a time without an offset is taken as UTC), within 1970-2200: SQLite
    keeps no offset, and PostgreSQL stores years it cannot read back (before year 1 in UTC)."""
    try:
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("must be a date between 1970 and 2200") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be a date between 1970 and 2200")
    return value


Str = Annotated[str, AfterValidator(_storable)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Label = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_storable)]

EXAMPLE_TEXT = "На проспекте Кабанбай батыра огромная яма, машины объезжают по встречке"


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": EXAMPLE_TEXT, "channel": "telegram", "external_id": "tg-100500",
        "author": "@aidana", "posted_at": "2026-11-28T08:15:00+05:00", "metadata": {"chat": "akimat_bot"},
    }]})

    text: str = Field(description="The message as written; the classifier sees it unredacted.")
    channel: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")] = "api"
    external_id: Annotated[Str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="The source system's id; with channel, makes retries idempotent.")
    author: Annotated[Str, Field(max_length=200)] | None = None
    posted_at: UtcDatetime | None = Field(None, description="When it was posted; stored in UTC "
                                          "(without an offset, taken as UTC).")
    metadata: Annotated[dict[str, Any] | None, AfterValidator(_metadata)] = None


class HeadOut(BaseModel):
    label: str
    confidence: float
    alternatives: list[tuple[str, float]]


class ClassifyResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "message_id": 42, "stored": True, "duplicate": False, "language": "ru", "script": "Cyrl",
        "topic": {"label": "roads", "confidence": 0.91, "alternatives": [["roads", 0.91], ["public_transport", 0.04], ["parking", 0.02]]},
        "authority": {"label": "transport_roads_dept", "confidence": 0.9, "alternatives": [["transport_roads_dept", 0.9]]},
        "urgency": {"label": "normal", "confidence": 0.7, "alternatives": [["normal", 0.7], ["high", 0.2]]},
        "district": "yesil", "recipient": {"id": "transport_roads_dept", "authority": "transport_roads_dept",
                                           "district": None, "name": {"en": "Department of Passenger Transport and Roads"},
                                           "channel": "eotinish:transport-roads"},
        "needs_review": True, "reasons": ["urgency_below_threshold"], "model_version": "20261128-022703-eaf1bae8",
        "explanation": {}, "warnings": [], "language_confidence": 0.99,
    }]})

    message_id: int | None = Field(description="Stored message id; null when the store was unavailable.")
    stored: bool
    duplicate: bool = Field(description="True when (channel, external_id) was already stored: this is that message.")
    language: str
    script: str
    topic: HeadOut | None
    authority: HeadOut | None
    urgency: HeadOut | None
    district: str | None
    recipient: dict | None
    needs_review: bool
    reasons: list[str]
    model_version: str
    explanation: dict[str, list[tuple[str, float]]] = {}
    warnings: list[str] = []
    language_confidence: float


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        {"text": EXAMPLE_TEXT, "channel": "telegram", "external_id": "tg-1"},
        {"text": "Бүгін жылу жоқ, балалар тоңып отыр", "channel": "instagram", "external_id": "ig-7"},
    ]}]})

    items: list[ClassifyRequest] = Field(min_length=1)


class BatchItemError(BaseModel):
    index: int
    error: dict


class BatchResponse(BaseModel):
    results: list[ClassifyResponse | BatchItemError]
    stored: bool


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"topic": "roads", "authority": "transport_roads_dept", "urgency": "high", "comment": "pothole on a main avenue"},
    ]})

    topic: Label | None = None
    authority: Label | None = None
    urgency: Label | None = None
    district: Label | None = None
    comment: Annotated[Str, Field(max_length=2000)] | None = None


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(pattern="^(intake|reviewer|admin)$")
    name: Annotated[Str, Field(min_length=1, max_length=100)]
