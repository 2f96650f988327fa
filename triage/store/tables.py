"""Tables of the store: messages (redacted text + the model's prediction), corrections (append-only
audit trail) and API keys (hashed). Column names are the taxonomy's words: topic, authority, urgency,
district, needs_review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotency: a client retrying the same (channel, external_id) gets the same row.
        UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
        Index("ix_messages_queue", "in_queue", "review_priority"),
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(200))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(Text)  # redacted; the classifier saw the original
    redactions: Mapped[dict] = mapped_column(JSON, default=dict)
    extra: Mapped[dict | None] = mapped_column("metadata", JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(64))
    topic_confidence: Mapped[float | None] = mapped_column(Float)
    authority: Mapped[str | None] = mapped_column(String(64))
    authority_confidence: Mapped[float | None] = mapped_column(Float)
    urgency: Mapped[str | None] = mapped_column(String(32))
    urgency_confidence: Mapped[float | None] = mapped_column(Float)
    district: Mapped[str | None] = mapped_column(String(64))
    needs_review: Mapped[bool] = mapped_column(Boolean)
    prediction: Mapped[dict] = mapped_column(JSON)  # the engine's full result (contract of Result.to_dict)
    # Review queue: why it is queued ("uncertain" / "quality_check"), and its active-learning priority.
    review_reason: Mapped[str | None] = mapped_column(String(16))
    review_priority: Mapped[float] = mapped_column(Float, default=0.0)
    in_queue: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Correction(Base):
    __tablename__ = "corrections"
    __table_args__ = (Index("ix_corrections_message_id", "message_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(Id, ForeignKey("messages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviewer: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(String(64))
    authority: Mapped[str | None] = mapped_column(String(64))
    urgency: Mapped[str | None] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Promotion(Base):
    """Every change of the champion model: who, when, which version, with which metrics."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_version: Mapped[str] = mapped_column(String(64))
    registry_version: Mapped[str | None] = mapped_column(String(32))
    model_dir: Mapped[str] = mapped_column(Text)
    previous_version: Mapped[str | None] = mapped_column(String(64))
    promoted_by: Mapped[str] = mapped_column(String(100))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict | None] = mapped_column(JSON)
