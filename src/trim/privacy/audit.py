"""Audit events, written in the same transaction as the change or read they record.

`record()` adds the event to the session unsealed: it is inserted with the request's
other changes and lands (or is lost) with them, and no request waits for another to
write one. The worker then seals events into the one chain (privacy/sealing.py): each
gets its place (seq) and an HMAC over its contents and the previous event's hash, under
TRIM_AUDIT_KEY, which the database does not hold, so no one with only database access
can rewrite or recompute the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func
from sqlmodel import col, select

from trim.db import utcnow
from trim.privacy.models import AuditEvent, current_xid

if TYPE_CHECKING:
    from trim.config import Settings

GENESIS = "0" * 64

# Who acted, when it was not a signed-in person, a token or "system": the log credits an
# action to whoever did it, never to the person it is about unless it was them (design 3a).
ANONYMOUS = "anonymous"  # not signed in, on a public page (asking for a reset link)
LINK_HOLDER = "link"  # whoever used a single-use link we emailed: we cannot know it was the person


class HasActorId(Protocol):
    @property
    def audit_id(self) -> str: ...


def _id(value: object) -> str | None:
    if value is None:
        return None
    return str(value)


def record(
    session: Any,
    *,
    actor: HasActorId | str | None,
    action: str,
    target_type: str,
    target_id: object = None,
    subject_id: object = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Add an audit event to this session's transaction: it commits (or not) with the change."""
    actor_id = actor if isinstance(actor, str) or actor is None else actor.audit_id
    event = AuditEvent(
        # Microseconds are dropped: not every database keeps them, and the hash covers the time.
        at=(at or utcnow()).replace(microsecond=0),
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=_id(target_id),
        subject_id=_id(subject_id),
        details={k: _jsonable(v) for k, v in (details or {}).items()},
    )
    # Evaluated by the database in the INSERT, so it is the inserting transaction's id.
    event.xid = current_xid()  # type: ignore[assignment]
    session.add(event)


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# -- keys ----------------------------------------------------------------------------


def key_id(key: bytes) -> str:
    """A key's public name: stored on each event it seals, and safe to show (one-way)."""
    return hmac.new(key, b"trim audit key id", hashlib.sha256).hexdigest()[:16]


def derive_key(secret_key: str) -> bytes:
    """The audit key when TRIM_AUDIT_KEY is unset: HKDF-SHA256 of TRIM_SECRET_KEY."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"trim audit chain").derive(secret_key.encode())


@dataclass(frozen=True)
class KeyRing:
    """The key that seals new events, and every key that may have sealed older ones."""

    current: bytes
    older: tuple[bytes, ...] = ()
    by_id: dict[str, bytes] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for key in (self.current, *self.older):
            self.by_id.setdefault(key_id(key), key)

    @property
    def current_id(self) -> str:
        return key_id(self.current)


class NoAuditKey(Exception):
    """Neither TRIM_AUDIT_KEY nor TRIM_SECRET_KEY is set."""


def keyring(settings: Settings) -> KeyRing:
    """The audit keys from settings (TRIM_AUDIT_KEY, else derived from TRIM_SECRET_KEY)."""
    if settings.audit_key is not None:
        current = settings.audit_key.get_secret_value().encode()
    elif settings.secret_key is not None:
        current = derive_key(settings.secret_key.get_secret_value())
    else:
        raise NoAuditKey("TRIM_AUDIT_KEY (or TRIM_SECRET_KEY, to derive it from) is not set")
    older = [k.get_secret_value().encode() for k in settings.audit_old_keys]
    # With an explicit audit key, the key derived from the secret may have sealed the past.
    if settings.audit_key is not None and settings.secret_key is not None:
        older.append(derive_key(settings.secret_key.get_secret_value()))
    return KeyRing(current=current, older=tuple(older))


# -- the hash ------------------------------------------------------------------------


def event_hash(
    *,
    key: bytes,
    seq: int,
    at: datetime,
    actor_id: str | None,
    action: str,
    target_type: str,
    target_id: str | None,
    subject_id: str | None,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    """The HMAC-SHA256 that links an event to the one before it."""
    body = json.dumps(
        [seq, _utc_iso(at), actor_id, action, target_type, target_id, subject_id, details, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def row_hash(row: AuditEvent, key: bytes) -> str:
    """The hash a sealed row should carry."""
    assert row.seq is not None and row.prev_hash is not None
    return event_hash(
        key=key,
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        subject_id=row.subject_id,
        details=row.details,
        prev_hash=row.prev_hash,
    )


def _utc_iso(at: datetime) -> str:
    # Microseconds are dropped: not every database keeps them.
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


# -- verifying -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_seq: int | None
    reason: str | None
    head_seq: int = 0
    head_hash: str = GENESIS
    unsealed: int = 0
    key_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


@dataclass
class _Walk:
    prev_hash: str = GENESIS
    expected_seq: int = 1
    checked: int = 0
    key_ids: set[str] = field(default_factory=set)


def _check_row(row: AuditEvent, walk: _Walk, keys: KeyRing) -> str | None:
    """Why this row breaks the chain, or None when it holds."""
    assert row.seq is not None
    if row.seq != walk.expected_seq:
        if row.seq > walk.expected_seq:
            missing = (
                f"events {walk.expected_seq}-{row.seq - 1} are"
                if row.seq - walk.expected_seq > 1
                else (f"event {walk.expected_seq} is")
            )
            return f"{missing} missing (next is {row.seq})"
        return f"expected event {walk.expected_seq} here"
    if row.prev_hash != walk.prev_hash:
        return "its link to the previous event does not match"
    key = keys.by_id.get(row.key_id or "")
    if key is None:
        return f"it was sealed with audit key {row.key_id}, which is not configured (TRIM_AUDIT_OLD_KEYS)"
    if not hmac.compare_digest(row_hash(row, key), row.hash or ""):
        return "its contents were changed after it was sealed"
    return None


def verify_rows(rows: Iterable[AuditEvent], keys: KeyRing, *, walk: _Walk | None = None) -> ChainReport:
    """Walk sealed events in seq order; report the first whose place, link or contents do not hold."""
    walk = walk or _Walk()
    for row in rows:
        reason = _check_row(row, walk, keys)
        if reason is not None:
            return ChainReport(walk.checked, row.seq, reason, walk.expected_seq - 1, walk.prev_hash)
        walk.key_ids.add(row.key_id or "")
        walk.prev_hash = row.hash or ""
        walk.expected_seq += 1
        walk.checked += 1
    return ChainReport(walk.checked, None, None, walk.expected_seq - 1, walk.prev_hash, key_ids=tuple(walk.key_ids))


async def verify_chain(session: Any, *, keys: KeyRing, batch: int = 5000) -> ChainReport:
    """Walk the whole sealed chain in order, a batch at a time, and count what awaits sealing."""
    walk = _Walk()
    report = ChainReport(0, None, None)
    last_seq = 0
    while True:
        rows = list(
            await session.exec(
                select(AuditEvent).where(col(AuditEvent.seq) > last_seq).order_by(col(AuditEvent.seq)).limit(batch)
            )
        )
        if not rows:
            break
        report = verify_rows(rows, keys, walk=walk)
        if not report.ok:
            break
        last_seq = rows[-1].seq or 0
    unsealed = int((await session.exec(select(func.count()).where(col(AuditEvent.seq).is_(None)))).one())
    return ChainReport(
        walk.checked,
        report.broken_seq,
        report.reason,
        walk.expected_seq - 1,
        walk.prev_hash,
        unsealed=unsealed,
        key_ids=tuple(sorted(walk.key_ids)),
    )


# -- reading -------------------------------------------------------------------------

# Newest first, sealed or not: the time recorded, then the order of insertion.
NEWEST_FIRST = (col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
OLDEST_FIRST = (col(AuditEvent.at), col(AuditEvent.id))


async def recent(session: Any, *, actions: tuple[str, ...], limit: int = 20) -> list[AuditEvent]:
    """The latest events of these kinds (metadata only), sealed or not."""
    rows = await session.exec(
        select(AuditEvent).where(col(AuditEvent.action).in_(actions)).order_by(*NEWEST_FIRST).limit(limit)
    )
    return list(rows)


# The rows `record_row` knows: table -> (the log's target type, the column naming whom the
# row is about, or None when it is about nobody). A table not listed here is a mistake in
# the caller, not something to guess at: `record` takes any target spelled out.
ROW_TARGETS: dict[str, tuple[str, str | None]] = {
    "flags": ("flag", "person_id"),
    "referrals": ("referral", "person_id"),
    "referral_services": ("referral_service", None),
    "peer_requests": ("request", "requester_id"),
}


def record_row(
    session: Any,
    *,
    actor: HasActorId | str | None,
    action: str,
    row: Any,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """`record` for an event about one row: target type, id and subject come from the row."""
    table = getattr(row, "__tablename__", None)
    if not isinstance(table, str) or table not in ROW_TARGETS:
        raise TypeError(f"audit.record_row does not know {type(row).__name__} rows; add its table to ROW_TARGETS")
    if row.id is None:
        raise ValueError(f"audit.record_row needs a {type(row).__name__} with an id")
    target_type, subject_column = ROW_TARGETS[table]
    record(
        session,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=row.id,
        subject_id=getattr(row, subject_column) if subject_column else None,
        details=details,
        at=at,
    )
