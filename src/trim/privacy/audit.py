"""Audit events, written in the same transaction as the change or read they record.

Events are queued on the session by `record()` and chained when the session
commits: the chain's tail is locked only for the moment of the commit, so
audited requests do not queue behind each other while they work.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import event, text
from sqlalchemy.orm import Session
from sqlmodel import col, select

from trim.db import utcnow
from trim.privacy.models import AuditEvent

GENESIS = "0" * 64
PENDING_KEY = "trim_audit_pending"
ADVISORY_LOCK_ID = 7_274_615  # any constant; one chain, one lock

# Who acted, when it was not a signed-in person, a token or "system": the log credits an
# action to whoever did it, never to the person it is about unless it was them (design 3a).
ANONYMOUS = "anonymous"  # not signed in, on a public page (asking for a reset link)
LINK_HOLDER = "link"  # whoever used a single-use link we emailed: we cannot know it was the person


class HasActorId(Protocol):
    @property
    def audit_id(self) -> str: ...


@dataclass(frozen=True)
class PendingEvent:
    at: datetime
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    subject_id: str | None
    details: dict[str, Any]


def _id(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
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
    """Queue an audit event on this session; it is chained and written at commit."""
    actor_id = actor if isinstance(actor, str) or actor is None else actor.audit_id
    sync_session: Session = getattr(session, "sync_session", session)
    pending: list[PendingEvent] = sync_session.info.setdefault(PENDING_KEY, [])
    pending.append(
        PendingEvent(
            at=at or utcnow(),
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=_id(target_id),
            subject_id=_id(subject_id),
            details={k: _jsonable(v) for k, v in (details or {}).items()},
        )
    )


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


def event_hash(
    *,
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
    """The hash that links an event to the one before it."""
    body = json.dumps(
        [
            seq,
            _utc_iso(at),
            actor_id,
            action,
            target_type,
            target_id,
            subject_id,
            details,
            prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _utc_iso(at: datetime) -> str:
    # Microseconds are dropped: not every database keeps them.
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


def _flush_pending(session: Session) -> None:
    pending: list[PendingEvent] = session.info.pop(PENDING_KEY, [])
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
    last = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash)).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS)
    for item in pending:
        seq += 1
        at = item.at.replace(microsecond=0)
        digest = event_hash(
            seq=seq,
            at=at,
            actor_id=item.actor_id,
            action=item.action,
            target_type=item.target_type,
            target_id=item.target_id,
            subject_id=item.subject_id,
            details=item.details,
            prev_hash=prev,
        )
        session.add(
            AuditEvent(
                seq=seq,
                at=at,
                actor_id=item.actor_id,
                action=item.action,
                target_type=item.target_type,
                target_id=item.target_id,
                subject_id=item.subject_id,
                details=item.details,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    session.flush()


def _discard_pending(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


event.listen(Session, "before_commit", _flush_pending)
event.listen(Session, "after_rollback", _discard_pending)


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_seq: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_rows(rows: list[AuditEvent], *, prev_hash: str = GENESIS, expected_seq: int = 1) -> ChainReport:
    """Walk events in order; report the first whose link or content does not hold."""
    checked = 0
    for row in rows:
        if row.seq != expected_seq:
            return ChainReport(checked, row.seq, f"event {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev_hash:
            return ChainReport(checked, row.seq, "its link to the previous event does not match")
        digest = event_hash(
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
        if digest != row.hash:
            return ChainReport(checked, row.seq, "its contents were changed after it was written")
        prev_hash = row.hash
        expected_seq += 1
        checked += 1
    return ChainReport(checked, None, None)


async def verify_chain(session: Any, *, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order, a batch at a time."""
    prev, expected, total = GENESIS, 1, 0
    while True:
        rows = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.seq >= expected).order_by(AuditEvent.seq).limit(batch)  # type: ignore[arg-type]
            )
        ).all()
        if not rows:
            return ChainReport(total, None, None)
        report = verify_rows(list(rows), prev_hash=prev, expected_seq=expected)
        total += report.checked
        if not report.ok:
            return ChainReport(total, report.broken_seq, report.reason)
        prev, expected = rows[-1].hash, rows[-1].seq + 1


async def recent(session: Any, *, actions: tuple[str, ...], limit: int = 20) -> list[AuditEvent]:
    """The latest events of these kinds (metadata only)."""
    rows = await session.exec(
        select(AuditEvent).where(col(AuditEvent.action).in_(actions)).order_by(col(AuditEvent.seq).desc()).limit(limit)
    )
    return list(rows)


# The rows `record_row` knows: table -> (the log's target type, the column naming whom the
# row is about, or None when it is about nobody). A table not listed here is a mistake in
# the caller, not something to guess at: `record` takes any target spelled out.
ROW_TARGETS: dict[str, tuple[str, str | None]] = {
    "flags": ("flag", "person_id"),
    "referrals": ("referral", "person_id"),
    "referral_services": ("referral_service", None),
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
