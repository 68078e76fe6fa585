"""Sealing audit events into the one chain, and the anchors that pin it outside the database.

Requests insert audit events unsealed, with no lock (privacy/audit.py). The worker seals
them: each gets the next place (seq), the previous event's hash and an HMAC under the
current audit key. Order is commit order, in the sense that matters for a chain that
only grows: an event is sealed only once no transaction that could still add an earlier
one is running.

- PostgreSQL: each event carries the id of the transaction that inserted it. Every
  transaction of this database with an id below the oldest one still running has ended
  (the horizon, see HORIZON), so events below it are all there will ever be below it.
  They are sealed in (xid, id) order; an event of a transaction that is still open waits
  for a later round and takes a later place, never one before an event already sealed.
- SQLite: one writer at a time (BEGIN IMMEDIATE), so insertion order is commit order and
  every committed event may be sealed, in id order.

Sealing is claimed by one worker at a time: on PostgreSQL with an advisory lock held only
inside the sealing transaction (try-lock: a second worker skips the round rather than
wait); on SQLite by the single writer. The unique index on seq backs both. A round
costs one indexed read of the queue (a partial index holds only unsealed rows) and one
batched UPDATE.

After a round that moved the head, and at least every TRIM_AUDIT_ANCHOR_EVERY_MINUTES,
the worker writes an anchor (seq, hash, time): a JSON log line `audit.anchor` and a line
in TRIM_AUDIT_ANCHOR_FILE. `trim audit verify` checks the chain against every anchor, so
a deleted tail or a chain rebuilt from some point on is found even by someone who could
rewrite every row. Anchors are only as safe as where they are kept: ship them off the
database host (README).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.notifications.models import SweepMark
from trim.privacy import audit
from trim.privacy.models import AuditEvent

log = logging.getLogger("trim.audit")

ADVISORY_LOCK_ID = 7_274_615  # any constant: one chain, one sealer at a time
ANCHOR_MARK = "audit.anchor"  # the sweep mark that says when the last anchor was written


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: datetime
    key_id: str | None = None

    def line(self) -> str:
        return json.dumps(
            {
                "event": "audit.anchor",
                "seq": self.seq,
                "hash": self.hash,
                "at": self.at.isoformat(),
                "key_id": self.key_id,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class SealReport:
    claimed: bool  # False: another worker holds the sealing lock this round
    sealed: int = 0
    head: Anchor | None = None
    anchored: bool = False


def head(session: Session) -> tuple[int, str, str | None]:
    """The sealed chain's last (seq, hash, key id), or (0, GENESIS, None) when empty."""
    row = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash), col(AuditEvent.key_id))
        .where(col(AuditEvent.seq).is_not(None))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, audit.GENESIS, None
    return int(row[0] or 0), str(row[1]), row[2]


def _claim(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: this transaction began with BEGIN IMMEDIATE, the one writer
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID}).scalar())


# The oldest transaction id still running in this database (or the snapshot's xmax when
# none is): every event below it is committed or gone for good. pg_snapshot_xmin alone
# would do, but counts transactions in every database of the cluster, so one long
# transaction anywhere would hold sealing back. pg_stat_activity gives 32-bit xids: each is
# placed in the epoch of the snapshot's xmax (a running xid is within 2**31 of it; one
# assigned after the snapshot comes out above xmax and so does not lower the horizon).
# Without pg_read_all_stats a role sees only its own sessions' xids; the app's sessions
# are its own. A transaction the horizon misses costs order, not integrity: its events
# are sealed when it commits, after events sealed meanwhile, and the chain still holds.
HORIZON = text(
    """
    SELECT LEAST(s.xmax, COALESCE(MIN(s.xmax - ((s.xmax % 4294967296 - a.backend_xid::text::bigint
                                                 + 6442450944) % 4294967296 - 2147483648)), s.xmax))
    FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax) AS s
    LEFT JOIN pg_stat_activity AS a ON a.datname = current_database() AND a.backend_xid IS NOT NULL
    GROUP BY s.xmax
    """
)


def _queue(session: Session, limit: int) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(col(AuditEvent.seq).is_(None))
    if session.get_bind().dialect.name == "postgresql":
        horizon = session.execute(HORIZON).scalar_one()
        stmt = stmt.where(col(AuditEvent.xid) < horizon).order_by(col(AuditEvent.xid), col(AuditEvent.id))
    else:
        stmt = stmt.order_by(col(AuditEvent.id))
    return list(session.execute(stmt.limit(limit)).scalars())


def seal_pending(session: Session, *, keys: audit.KeyRing, now: datetime, limit: int) -> SealReport:
    """Seal up to `limit` events whose transactions have all ended, in commit order.

    Runs inside the caller's transaction (sync: call through run_sync); the caller commits."""
    if not _claim(session):
        return SealReport(claimed=False)
    seq, prev, last_key = head(session)
    rows = _queue(session, limit)
    if not rows:
        return SealReport(claimed=True, head=Anchor(seq, prev, now, last_key) if seq else None)
    kid = keys.current_id
    changes: list[dict[str, Any]] = []
    for row in rows:
        seq += 1
        digest = audit.event_hash(
            key=keys.current,
            seq=seq,
            at=row.at,
            actor_id=row.actor_id,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            subject_id=row.subject_id,
            details=row.details,
            prev_hash=prev,
        )
        changes.append({"id": row.id, "seq": seq, "prev_hash": prev, "hash": digest, "key_id": kid, "sealed_at": now})
        prev = digest
    session.execute(update(AuditEvent), changes)  # by primary key, batched
    return SealReport(claimed=True, sealed=len(rows), head=Anchor(seq, prev, now, kid))


def _anchor_due(session: Session, report: SealReport, *, now: datetime, every: timedelta) -> bool:
    if report.head is None:
        return False
    last = session.execute(select(col(SweepMark.mark)).where(col(SweepMark.name) == ANCHOR_MARK)).scalar()
    if report.sealed == 0 and last is not None and now - last < every:
        return False
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(SweepMark).values(name=ANCHOR_MARK, mark=now, updated_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"mark": now, "updated_at": now}))
    return True


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one anchor line to the anchor file, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(anchor.line() + "\n")
        out.flush()
        os.fsync(out.fileno())


async def seal_and_anchor(maker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime) -> SealReport:
    """One sealing round in its own short transaction, then the anchor (after the commit,
    so no anchor ever names a sealing that rolled back)."""
    keys = audit.keyring(settings)
    every = timedelta(minutes=settings.audit_anchor_every_minutes)

    def work(session: Session) -> SealReport:
        report = seal_pending(session, keys=keys, now=now, limit=settings.audit_seal_batch_size)
        if report.claimed and _anchor_due(session, report, now=now, every=every):
            return SealReport(claimed=True, sealed=report.sealed, head=report.head, anchored=True)
        return report

    async with maker() as session:
        report = await session.run_sync(work)
        await session.commit()
    if report.sealed:
        log.info("audit sealed", extra={"events": report.sealed, "head_seq": report.head.seq if report.head else 0})
    if report.anchored and report.head is not None:
        anchor = report.head
        log.info("audit.anchor", extra={"seq": anchor.seq, "hash": anchor.hash, "at": anchor.at.isoformat()})
        try:
            append_anchor(settings.audit_anchor_file, anchor)
        except OSError as exc:
            log.error(
                "audit anchor file not written", extra={"path": str(settings.audit_anchor_file), "error": str(exc)}
            )
    return report


async def seal_all(maker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime) -> int:
    """Seal until nothing that may be sealed is left (tests, the CLI); how many were sealed."""
    total = 0
    while True:
        report = await seal_and_anchor(maker, settings=settings, now=now)
        total += report.sealed
        if report.sealed < settings.audit_seal_batch_size:
            return total


# -- anchors, read back --------------------------------------------------------------


@dataclass(frozen=True)
class AnchorProblem:
    seq: int | None
    where: str  # the anchor's line, "anchor file line N (written <time>)"
    reason: str

    def __str__(self) -> str:
        if self.seq is None:
            return f"{self.where}: {self.reason}"
        return f"event {self.seq}: {self.reason} ({self.where})"


def read_anchors(lines: Iterable[str]) -> tuple[list[tuple[int, Anchor]], list[AnchorProblem]]:
    """Parse anchor lines (numbered from 1); a line that is not an anchor is a problem."""
    anchors: list[tuple[int, Anchor]] = []
    problems: list[AnchorProblem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            anchor = Anchor(int(data["seq"]), str(data["hash"]), datetime.fromisoformat(data["at"]), data.get("key_id"))
        except (ValueError, KeyError, TypeError):
            problems.append(AnchorProblem(None, f"anchor file line {number}", "not an anchor line"))
            continue
        anchors.append((number, anchor))
    return anchors, problems


async def check_anchors(
    session: AsyncSession, anchors: list[tuple[int, Anchor]], *, head_seq: int
) -> tuple[list[AnchorProblem], int]:
    """Each anchor against the chain: the event it names must be there with its hash.
    Returns the problems found and how many anchors held."""
    problems: list[AnchorProblem] = []
    wanted = sorted({a.seq for _, a in anchors if a.seq <= head_seq})
    held: dict[int, str | None] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = await session.exec(select(AuditEvent.seq, AuditEvent.hash).where(col(AuditEvent.seq).in_(chunk)))
        held.update({int(s): h for s, h in rows if s is not None})
    good = 0
    for number, anchor in anchors:
        where = f"anchor file line {number}, written {anchor.at:%Y-%m-%d %H:%M:%S %Z}"
        if anchor.seq > head_seq:
            gone = f"event {anchor.seq} is" if anchor.seq == head_seq + 1 else f"events {head_seq + 1}-{anchor.seq} are"
            problems.append(
                AnchorProblem(
                    anchor.seq, where, f"the sealed chain ends at event {head_seq}, so {gone} gone (a deleted tail)"
                )
            )
        elif anchor.seq not in held:
            problems.append(AnchorProblem(anchor.seq, where, "the event this anchor names is not in the chain"))
        elif held[anchor.seq] != anchor.hash:
            problems.append(
                AnchorProblem(
                    anchor.seq,
                    where,
                    "its hash is not the one anchored: the chain was rewritten or renumbered at or before this event",
                )
            )
        else:
            good += 1
    return problems, good


async def max_seq(session: AsyncSession) -> int:
    """The highest place in the sealed chain (0 when nothing is sealed)."""
    return int((await session.exec(select(func.max(col(AuditEvent.seq))))).one() or 0)
