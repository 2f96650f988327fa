"""Store operations: what the API and retraining do with the database, testable without HTTP.

Every write is one transaction: a batch of classified messages, a correction (plus the message's
``reviewed_at``), a key. Database failures surface as :class:`StoreUnavailableError`, after the
transaction has been rolled back, so nothing is ever half-written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, insert, select, text, tuple_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from triage.errors import InvalidLabelError, InvalidRequestError, NotFoundError, StoreUnavailableError
from triage.redact import redact
from triage.review import review_priority
from triage.store.tables import ApiKey, Correction, Message, Promotion
from triage.text import clean

HEADS = ("topic", "authority", "urgency")
LABEL_FIELDS = (*HEADS, "district")
ROLES = ("intake", "reviewer", "admin")
KEY_PREFIX = "trg_"
AUTHOR_CHARS = Message.__table__.c.author.type.length
KEY_NAME_CHARS = ApiKey.__table__.c.name.type.length
REDACT_MARGIN = 320  # longer than any e-mail address (254) or formatted number


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we write is UTC.
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _to_utc(dt: datetime | None) -> datetime | None:
    """An aware time as the same instant in UTC (SQLite keeps no offset); a naive one is UTC."""
    if dt is None or dt.tzinfo is None:
        return dt
    try:
        return dt.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidRequestError("posted_at is out of range") from exc


def _iso(dt: datetime | None) -> str | None:
    dt = _aware(dt)
    return dt.isoformat() if dt else None


@dataclass
class NewMessage:
    """One message to store, as the intake client sent it (text is the original, unredacted)."""

    text: str
    channel: str = "api"
    external_id: str | None = None
    author: str | None = None
    posted_at: datetime | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class Stored:
    id: int
    duplicate: bool
    prediction: dict = field(default_factory=dict)


def make_engine(url: str) -> Engine:
    """An engine with the pragmas and pool settings this store relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _):  # pragma: no cover - exercised by every SQLite test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # A database that stops answering must not hang a worker: connecting gives up after 5 s; a
    # connection whose sent data stays unacknowledged for 10 s (a network partition) or whose peer
    # stops answering keepalives is closed (an error, so messages are answered "stored: false");
    # a statement that runs 15 s (locks, an overloaded server) is cancelled by the server.
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10,
                           connect_args={"connect_timeout": 5, "tcp_user_timeout": 10_000, "keepalives": 1,
                                         "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3})

    @event.listens_for(engine, "connect")
    def _timeouts(dbapi_conn, _):  # pragma: no cover - exercised by every PostgreSQL test
        with dbapi_conn.cursor() as cur:
            cur.execute("SET statement_timeout = 15000")
        dbapi_conn.commit()

    return engine


def _safe_explanation(prediction: dict) -> dict:
    """The stored copy of a result: explanation terms with digits or '@' are dropped, since the
    classifier saw the unredacted text and a term could be a fragment of a number or address."""
    p = dict(prediction)
    p["explanation"] = {
        h: [[f, w] for f, w in feats if not any(c.isdigit() or c == "@" for c in f)]
        for h, feats in (prediction.get("explanation") or {}).items()
    }
    return p


# ORM attribute -> table column ("extra" is stored in the column "metadata"): Core inserts take column
# keys and would silently skip an attribute name, so every row key is looked up here (KeyError if unknown).
_MESSAGE_COLUMNS = {attr.key: attr.columns[0].key for attr in sa_inspect(Message).column_attrs}


def hash_key(plain: str) -> str:
    # API keys are 32 random bytes: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(plain.encode()).hexdigest()


class Store:
    """All database access of the service and of retraining."""

    def __init__(self, url: str, quality_sample_rate: float = 0.05, key_cache_seconds: float = 30.0,
                 seed: int | None = None, max_text_chars: int = 5000):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.quality_sample_rate = quality_sample_rate
        self.max_text_chars = max_text_chars
        self.key_cache_seconds = key_cache_seconds
        self._rng = random.Random(seed)
        self._key_cache: dict[str, tuple[float, str, str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings=None) -> Store:
        """The store the settings name (TRIAGE_DATABASE_URL, default SQLite under var/)."""
        from triage.settings import get_settings

        s = settings or get_settings()
        if s.resolved_database_url().startswith("sqlite:///"):
            s.var_dir.mkdir(parents=True, exist_ok=True)
        return cls(s.resolved_database_url(), s.quality_sample_rate, s.key_cache_seconds,
                   max_text_chars=s.max_text_chars)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return self.sessions()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    # -- messages -----------------------------------------------------------------------------

    def save_classified(self, items: Sequence[NewMessage], predictions: Sequence[dict]) -> list[Stored]:
        """Store messages with their predictions in one transaction, in order.

        A (channel, external_id) already stored, or repeated within the batch, is not stored
        again: its item gets the existing id, ``duplicate=True`` and the stored prediction.
        """
        for attempt in range(3):
            try:
                return self._save(items, predictions)
            except IntegrityError:
                # Another worker inserted one of our keys between our read and our write: the
                # whole transaction was rolled back; the next attempt finds that row.
                if attempt == 2:
                    raise
            except DBAPIError as exc:
                # PostgreSQL chose this transaction as a deadlock's or serialization conflict's
                # victim (rolled back): try again. Anything else means the store is unavailable.
                if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in _RETRYABLE:
                    raise StoreUnavailableError(f"messages not stored: {type(exc).__name__}") from exc
            except SQLAlchemyError as exc:
                raise StoreUnavailableError(f"messages not stored: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def _save(self, items: Sequence[NewMessage], predictions: Sequence[dict]) -> list[Stored]:
        now = utcnow()
        keys = {(m.channel, m.external_id) for m in items if m.external_id is not None}
        out: list[Stored | None] = [None] * len(items)
        with self._session() as s, s.begin():
            existing: dict[tuple, Stored] = {}
            if keys:
                for chunk in _chunks(sorted(keys, key=str), 500):
                    rows = s.execute(
                        select(Message.id, Message.channel, Message.external_id, Message.prediction)
                        .where(tuple_(Message.channel, Message.external_id).in_(chunk))
                    ).all()
                    for r in rows:
                        existing[(r.channel, r.external_id)] = Stored(r.id, True, r.prediction)
            new_rows, new_idx = [], []
            pending: dict[tuple, int] = {}
            for i, (m, pred) in enumerate(zip(items, predictions, strict=True)):
                key = (m.channel, m.external_id)
                if m.external_id is not None and key in existing:
                    out[i] = existing[key]
                    continue
                if m.external_id is not None and key in pending:
                    continue  # resolved after insert
                if m.external_id is not None:
                    pending[key] = i
                new_rows.append(self._row(m, pred, now))
                new_idx.append(i)
            if new_rows:
                # Keyed rows go in (channel, external_id) order: two batches inserting the same keys
                # then wait for each other in one order and never deadlock.
                order = sorted(range(len(new_rows)), key=lambda j: _key_order(items[new_idx[j]]))
                new_rows, new_idx = [new_rows[j] for j in order], [new_idx[j] for j in order]
                # Core executemany with RETURNING in parameter order: on PostgreSQL one multi-row
                # INSERT per 1,000 rows; on SQLite one statement per row but without the ORM's unit
                # of work (about 1.7x less time per message than add_all + flush, README "Speed").
                table = Message.__table__
                params = [{_MESSAGE_COLUMNS[k]: v for k, v in r.items()} for r in new_rows]
                ids = s.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                params).scalars().all()
                for i, row, message_id in zip(new_idx, new_rows, ids, strict=True):
                    out[i] = Stored(message_id, False, row["prediction"])
            for i, m in enumerate(items):
                if out[i] is None:  # repeated within this batch
                    first = out[pending[(m.channel, m.external_id)]]
                    out[i] = Stored(first.id, True, first.prediction)
        return out  # type: ignore[return-value]

    def _row(self, m: NewMessage, pred: dict, now: datetime) -> dict:
        # What the classifier read (control, zero-width and bidi characters removed, cut at the
        # configured length), redacted: PostgreSQL refuses NUL, and retraining should see that text.
        # Redacted before the cut: a number or address across the limit must still match whole. Only a
        # window is scanned (a 2 MB body is not), grown until its redacted text reaches past the cut by
        # more than any number's length (placeholders are shorter than what they replace).
        full = clean(m.text, max(len(m.text), 1)).text
        window = self.max_text_chars + REDACT_MARGIN
        while True:
            red = redact(full[:window])
            if window >= len(full) or len(red.text) >= self.max_text_chars + REDACT_MARGIN:
                break
            window *= 2
        stored_text = red.text[: self.max_text_chars]
        # Redaction can lengthen a text ("a@b.kz" -> "[EMAIL]"): cut to the column, marked.
        author = _fit(redact(m.author).text, AUTHOR_CHARS) if m.author else None
        with self._lock:
            reason, priority = review_priority(pred, self._rng, self.quality_sample_rate)
        stored_pred = _safe_explanation(pred)
        return dict(
            created_at=now, channel=m.channel, external_id=m.external_id, author=author,
            posted_at=_to_utc(m.posted_at), text=stored_text, redactions=dict(red.counts),
            extra=_redact_json(m.metadata) if m.metadata else None,
            model_version=pred.get("model_version", "unknown"), language=pred.get("language"),
            **{h: (pred.get(h) or {}).get("label") for h in HEADS},
            **{f"{h}_confidence": (pred.get(h) or {}).get("confidence") for h in HEADS},
            district=pred.get("district"), needs_review=bool(pred.get("needs_review")),
            prediction=stored_pred, review_reason=reason, review_priority=priority,
            in_queue=reason is not None,
        )

    def get_message(self, message_id: int) -> dict:
        """One stored message with its corrections (oldest first) and its effective labels."""
        try:
            with self._session() as s:
                m = s.get(Message, message_id)
                if m is None:
                    raise NotFoundError(f"message {message_id} not found")
                corr = s.scalars(select(Correction).where(Correction.message_id == message_id)
                                 .order_by(Correction.id)).all()
                return _message_dict(m, corr)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError("store unavailable") from exc

    def review_queue(self, head: str | None = None, limit: int = 20, cursor: str | None = None) -> dict:
        """Unreviewed queued messages, most in need of review first; keyset-paginated."""
        try:
            with self._session() as s:
                q = select(Message).where(Message.in_queue.is_(True), Message.reviewed_at.is_(None))
                if head is None:
                    key_col, desc = Message.review_priority, True
                else:
                    key_col, desc = getattr(Message, f"{head}_confidence"), False
                    q = q.where(key_col.is_not(None))
                if cursor:
                    value, last_id = _decode_cursor(cursor)
                    after = key_col < value if desc else key_col > value
                    q = q.where(after | ((key_col == value) & (Message.id > last_id)))
                q = q.order_by(key_col.desc() if desc else key_col.asc(), Message.id.asc()).limit(limit + 1)
                rows = s.scalars(q).all()
                page = rows[:limit]
                nxt = None
                if len(rows) > limit:
                    last = page[-1]
                    nxt = _encode_cursor(getattr(last, key_col.key), last.id)
                return {"items": [_message_dict(m, []) for m in page], "next_cursor": nxt}
        except SQLAlchemyError as exc:
            raise StoreUnavailableError("store unavailable") from exc

    def add_correction(self, message_id: int, reviewer: str, labels: dict[str, str | None],
                       comment: str | None, allowed: dict[str, set[str]]) -> dict:
        """Append a correction (the audit trail is never rewritten) and take the message out of the
        review queue. Unknown labels raise :class:`InvalidLabelError` before anything is written."""
        for f, v in labels.items():
            if v is not None and f in allowed and v not in allowed[f]:
                raise InvalidLabelError(f"unknown {f} label {v!r}")
        if all(v is None for v in labels.values()) and not comment:
            raise InvalidLabelError("a correction needs at least one label or a comment")
        now = utcnow()
        try:
            with self._session() as s, s.begin():
                exists = s.execute(select(Message.id).where(Message.id == message_id)).first()
                if exists is None:
                    raise NotFoundError(f"message {message_id} not found")
                # A reviewer's note may quote the citizen's number back: redacted like the text.
                c = Correction(message_id=message_id, created_at=now, reviewer=reviewer,
                               comment=redact(comment).text if comment else comment,
                               **{f: labels.get(f) for f in LABEL_FIELDS})
                s.add(c)
                s.execute(update(Message).where(Message.id == message_id).values(reviewed_at=now))
                s.flush()
                return _correction_dict(c)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError("correction not stored") from exc

    def labeled_messages(self) -> list[dict]:
        """Every corrected message with the labels reviewers gave it: per field, the latest
        correction that sets it, and None for a field no correction set (retraining must learn
        from people, not from the model's own predictions). What retraining adds to the data."""
        with self._session() as s:
            corr = s.scalars(select(Correction).order_by(Correction.message_id, Correction.id)).all()
            by_msg: dict[int, list[Correction]] = {}
            for c in corr:
                by_msg.setdefault(c.message_id, []).append(c)
            out = []
            for chunk in _chunks(sorted(by_msg), 500):
                for m in s.scalars(select(Message).where(Message.id.in_(chunk))).all():
                    human: dict[str, str | None] = dict.fromkeys(LABEL_FIELDS)
                    for c in by_msg[m.id]:
                        for f in LABEL_FIELDS:
                            if getattr(c, f) is not None:
                                human[f] = getattr(c, f)
                    out.append({"id": m.id, "text": m.text, "language": m.language,
                                "corrected_at": _iso(by_msg[m.id][-1].created_at), **human})
            return sorted(out, key=lambda r: r["id"])

    # -- stats --------------------------------------------------------------------------------

    def stats(self, since: datetime, until: datetime) -> dict:
        """Volumes per label over [since, until), the current review backlog and, for messages of
        the period that were reviewed, how often each head's label was changed."""
        try:
            with self._session() as s:
                period = (Message.created_at >= since) & (Message.created_at < until)
                total = s.scalar(select(func.count()).select_from(Message).where(period)) or 0
                volumes = {}
                for col in ("topic", "authority", "urgency", "language", "district", "channel"):
                    c = getattr(Message, col)
                    rows = s.execute(select(c, func.count()).where(period).group_by(c)).all()
                    volumes[col] = {str(k): n for k, n in sorted(rows, key=lambda r: -r[1]) if k is not None}
                needs_review = s.scalar(select(func.count()).select_from(Message)
                                        .where(period, Message.needs_review.is_(True))) or 0
                backlog = s.scalar(select(func.count()).select_from(Message)
                                   .where(Message.in_queue.is_(True), Message.reviewed_at.is_(None))) or 0
                reviewed = s.scalars(select(Message).where(period, Message.reviewed_at.is_not(None))).all()
                changed: Counter[str] = Counter()
                ids = [m.id for m in reviewed]
                corr: dict[int, list[Correction]] = {}
                for chunk in _chunks(ids, 500):
                    for c in s.scalars(select(Correction).where(Correction.message_id.in_(chunk))
                                       .order_by(Correction.id)).all():
                        corr.setdefault(c.message_id, []).append(c)
                for m in reviewed:
                    labels = _effective(m, corr.get(m.id, []))
                    for h in (*HEADS, "district"):
                        changed[h] += labels[h] != getattr(m, h)
                n_rev = len(reviewed)
                return {
                    "since": _iso(since), "until": _iso(until), "messages": total,
                    "needs_review": needs_review,
                    "abstention_rate": round(needs_review / total, 4) if total else None,
                    "volumes": volumes, "review_backlog": backlog, "reviewed": n_rev,
                    "correction_rate": {h: (round(changed[h] / n_rev, 4) if n_rev else None)
                                        for h in (*HEADS, "district")},
                }
        except SQLAlchemyError as exc:
            raise StoreUnavailableError("store unavailable") from exc

    # -- promotions ---------------------------------------------------------------------------

    def record_promotion(self, model_version: str, model_dir: str, promoted_by: str, *,
                         registry_version: str | None = None, previous_version: str | None = None,
                         forced: bool = False, reason: str | None = None, metrics: dict | None = None) -> dict:
        try:
            with self._session() as s, s.begin():
                p = Promotion(created_at=utcnow(), model_version=model_version, registry_version=registry_version,
                              model_dir=model_dir, previous_version=previous_version, promoted_by=promoted_by,
                              forced=forced, reason=reason, metrics=metrics)
                s.add(p)
                s.flush()
                return _promotion_dict(p)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError("promotion not recorded") from exc

    def promotions(self, limit: int = 50) -> list[dict]:
        with self._session() as s:
            rows = s.scalars(select(Promotion).order_by(Promotion.id.desc()).limit(limit)).all()
            return [_promotion_dict(p) for p in rows]

    # -- API keys -----------------------------------------------------------------------------

    def create_key(self, role: str, name: str) -> str:
        """A new API key for ``role``; the plaintext is returned once and only its hash is stored."""
        if role not in ROLES:
            raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
        if not name or len(name) > KEY_NAME_CHARS:
            raise InvalidRequestError(f"a key name has 1 to {KEY_NAME_CHARS} characters, got {len(name)}")
        prefix = secrets.token_hex(4)
        plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        with self._session() as s, s.begin():
            s.add(ApiKey(name=name, role=role, prefix=prefix, key_hash=hash_key(plain), created_at=utcnow()))
        return plain

    def verify_key(self, plain: str | None) -> tuple[str, str] | None:
        """(role, name) for a valid, unrevoked key; None otherwise. Verified keys are cached for
        ``key_cache_seconds`` so the hot path does not hit the database on every request."""
        if not plain or not plain.startswith(KEY_PREFIX) or len(plain) > 200:
            return None
        hit = self.cached_key(plain)
        if hit:
            return hit
        digest = hash_key(plain)
        now = time.monotonic()
        prefix = plain[len(KEY_PREFIX):].split("_", 1)[0]
        try:
            with self._session() as s:
                k = s.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        except SQLAlchemyError as exc:
            raise StoreUnavailableError("cannot verify API key") from exc
        if k is None or k.revoked_at is not None or not hmac.compare_digest(k.key_hash, digest):
            self._key_cache.pop(digest, None)
            return None
        self._key_cache[digest] = (now, k.role, k.name)
        return k.role, k.name

    def cached_key(self, plain: str) -> tuple[str, str] | None:
        """(role, name) when this key was verified less than ``key_cache_seconds`` ago; no I/O."""
        hit = self._key_cache.get(hash_key(plain))
        if hit and time.monotonic() - hit[0] < self.key_cache_seconds:
            return hit[1], hit[2]
        return None

    def list_keys(self) -> list[dict]:
        with self._session() as s:
            return [{"prefix": k.prefix, "name": k.name, "role": k.role, "created_at": _iso(k.created_at),
                     "revoked_at": _iso(k.revoked_at)} for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_key(self, prefix: str) -> None:
        with self._session() as s, s.begin():
            n = s.execute(update(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
                          .values(revoked_at=utcnow())).rowcount
            if not n:
                raise NotFoundError(f"no active key with prefix {prefix!r}")
        self._key_cache.clear()

    def count_keys(self) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).select_from(ApiKey)) or 0


# -- helpers ----------------------------------------------------------------------------------


def _chunks(seq: Sequence, n: int) -> Iterable[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _redact_json(value: Any) -> Any:
    """Client metadata is stored too, so it is redacted like the text: strings, keys, and numbers
    (a phone or IIN sent as a number is stored as the redacted string)."""
    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = base = redact(str(k)).text
            n = 1
            while key in out:  # two keys redacted alike ("[PHONE]"): both values kept
                n += 1
                key = f"{base} ({n})"
            out[key] = _redact_json(v)
        return out
    if isinstance(value, list):
        return [_redact_json(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        red = redact(str(value)).text
        return value if red == str(value) else red
    return value


def _key_order(m: NewMessage) -> tuple:
    return (0, m.channel, m.external_id) if m.external_id is not None else (1, "", "")


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _encode_cursor(value: float, last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, last_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, int]:
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        value, last_id = float(value), int(last_id)
    except (ValueError, TypeError, json.JSONDecodeError, OverflowError) as exc:
        raise InvalidRequestError("invalid cursor") from exc
    if not (math.isfinite(value) and 0 <= last_id < 2**63):  # a BIGINT id, a finite key
        raise InvalidRequestError("invalid cursor")
    return value, last_id


def _effective(m: Message, corrections: Sequence[Correction]) -> dict[str, str | None]:
    labels = {f: getattr(m, f) for f in LABEL_FIELDS}
    for c in corrections:  # oldest first: later corrections win, field by field
        for f in LABEL_FIELDS:
            if getattr(c, f) is not None:
                labels[f] = getattr(c, f)
    return labels


def _promotion_dict(p: Promotion) -> dict:
    return {"id": p.id, "created_at": _iso(p.created_at), "model_version": p.model_version,
            "registry_version": p.registry_version, "model_dir": p.model_dir,
            "previous_version": p.previous_version, "promoted_by": p.promoted_by, "forced": p.forced,
            "reason": p.reason, "metrics": p.metrics}


def _correction_dict(c: Correction) -> dict:
    return {"id": c.id, "message_id": c.message_id, "created_at": _iso(c.created_at), "reviewer": c.reviewer,
            **{f: getattr(c, f) for f in LABEL_FIELDS}, "comment": c.comment}


def _message_dict(m: Message, corrections: Sequence[Correction]) -> dict:
    return {
        "id": m.id, "created_at": _iso(m.created_at), "channel": m.channel, "external_id": m.external_id,
        "author": m.author, "posted_at": _iso(m.posted_at), "text": m.text, "redactions": m.redactions,
        "metadata": m.extra, "model_version": m.model_version, "language": m.language,
        "prediction": m.prediction, "needs_review": m.needs_review, "review_reason": m.review_reason,
        "review_priority": m.review_priority, "reviewed_at": _iso(m.reviewed_at),
        "labels": _effective(m, corrections), "corrections": [_correction_dict(c) for c in corrections],
    }


__all__ = ["NewMessage", "ROLES", "Store", "Stored", "make_engine"]
