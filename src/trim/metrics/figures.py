"""The programme's figures an operator watches, read from the database at each scrape.

They live in the database, not in a process, so every web process reports the same ones and
they still tell the truth when the worker has died (the outbox growing is how that shows).
Each is a count or an age in seconds over an indexed column; a scrape costs a handful of
small queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.flags.models import Flag, FlagStatus
from trim.followups.models import CheckIn
from trim.notifications.models import OutboxMessage, SweepMark
from trim.privacy.models import AuditEvent
from trim.privacy.sealing import ANCHOR_MARK
from trim.requests.models import PeerRequest, RequestStatus


@dataclass(frozen=True)
class Figures:
    """One reading. An age is None when there is nothing to be old (an empty outbox)."""

    outbox_depth: int
    outbox_oldest_age: float | None
    outbox_given_up: int
    audit_unsealed: int
    audit_oldest_unsealed_age: float | None
    audit_last_anchor_age: float | None
    urgent_flags_unacknowledged: int
    urgent_flag_oldest_age: float | None
    flags_unacknowledged: int
    checkins_waiting_for_peer: int
    checkin_oldest_waiting_age: float | None
    requests_waiting_for_peer: int
    request_oldest_waiting_age: float | None
    sweep_mark_lag: dict[str, float] = field(default_factory=dict)


def _age(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


async def read_figures(session: AsyncSession, *, now: datetime) -> Figures:
    """Every figure, as of `now`."""
    pending = (col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))
    outbox_depth, outbox_oldest = (
        await session.exec(select(func.count(), func.min(OutboxMessage.created_at)).where(*pending))
    ).one()
    given_up = (
        await session.exec(
            select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.failed_at).is_not(None))
        )
    ).one()
    unsealed, unsealed_oldest = (
        await session.exec(select(func.count(), func.min(AuditEvent.at)).where(col(AuditEvent.seq).is_(None)))
    ).one()
    anchored = (await session.exec(select(SweepMark.mark).where(SweepMark.name == ANCHOR_MARK))).first()
    unacknowledged = (col(Flag.status) == FlagStatus.open.value, col(Flag.acknowledged_at).is_(None))
    urgent, urgent_oldest = (
        await session.exec(select(func.count(), func.min(Flag.raised_at)).where(*unacknowledged, col(Flag.urgent)))
    ).one()
    all_flags = (await session.exec(select(func.count()).select_from(Flag).where(*unacknowledged))).one()
    waiting = (col(CheckIn.outcome).is_(None), col(CheckIn.peer_id).is_(None), col(CheckIn.due_at) <= now)
    checkins, checkin_oldest = (
        await session.exec(select(func.count(), func.min(CheckIn.due_at)).where(*waiting))
    ).one()
    requests, request_oldest = (
        await session.exec(
            select(func.count(), func.min(PeerRequest.created_at)).where(
                col(PeerRequest.status) == RequestStatus.open.value
            )
        )
    ).one()
    marks = (await session.exec(select(SweepMark.name, SweepMark.mark).where(SweepMark.name != ANCHOR_MARK))).all()
    return Figures(
        outbox_depth=int(outbox_depth),
        outbox_oldest_age=_age(now, outbox_oldest),
        outbox_given_up=int(given_up),
        audit_unsealed=int(unsealed),
        audit_oldest_unsealed_age=_age(now, unsealed_oldest),
        audit_last_anchor_age=_age(now, anchored),
        urgent_flags_unacknowledged=int(urgent),
        urgent_flag_oldest_age=_age(now, urgent_oldest),
        flags_unacknowledged=int(all_flags),
        checkins_waiting_for_peer=int(checkins),
        checkin_oldest_waiting_age=_age(now, checkin_oldest),
        requests_waiting_for_peer=int(requests),
        request_oldest_waiting_age=_age(now, request_oldest),
        # A mark may run ahead of the clock (a day's digest marks the day): lag is never negative.
        sweep_mark_lag={name: _age(now, mark) or 0.0 for name, mark in marks},
    )


# name, help, the Figures attribute; an age that is None reads as 0 (nothing is waiting).
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("trim_outbox_depth", "Messages waiting to be sent (not sent, not given up).", "outbox_depth"),
    (
        "trim_outbox_oldest_unsent_age_seconds",
        "Age of the oldest message waiting to be sent (0 when none).",
        "outbox_oldest_age",
    ),
    ("trim_outbox_given_up", "Messages given up on after the last attempt (still in the outbox).", "outbox_given_up"),
    ("trim_audit_unsealed_events", "Audit events waiting for the worker to seal them.", "audit_unsealed"),
    (
        "trim_audit_sealing_lag_seconds",
        "Age of the oldest audit event not yet sealed (0 when none).",
        "audit_oldest_unsealed_age",
    ),
    ("trim_audit_last_anchor_age_seconds", "Time since the worker last wrote an anchor.", "audit_last_anchor_age"),
    (
        "trim_flags_urgent_unacknowledged",
        "Urgent flags open and not yet acknowledged by anyone.",
        "urgent_flags_unacknowledged",
    ),
    (
        "trim_flags_urgent_oldest_unacknowledged_age_seconds",
        "Age of the oldest urgent flag not yet acknowledged (0 when none).",
        "urgent_flag_oldest_age",
    ),
    ("trim_flags_unacknowledged", "Flags open and not yet acknowledged (urgent or not).", "flags_unacknowledged"),
    (
        "trim_checkins_waiting_for_peer",
        "Check-ins due, not recorded, with no peer assigned.",
        "checkins_waiting_for_peer",
    ),
    (
        "trim_checkins_oldest_waiting_for_peer_age_seconds",
        "Time since the longest-waiting check-in with no peer fell due (0 when none).",
        "checkin_oldest_waiting_age",
    ),
    ("trim_requests_waiting_for_peer", "Requests for a peer that no peer has taken yet.", "requests_waiting_for_peer"),
    (
        "trim_requests_oldest_waiting_age_seconds",
        "Age of the oldest request no peer has taken (0 when none).",
        "request_oldest_waiting_age",
    ),
)


class FiguresCollector(Collector):
    """Hands one reading to prometheus_client as gauges (read it first, then collect)."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, documentation, attribute in GAUGES:
            value = getattr(self.figures, attribute)
            yield GaugeMetricFamily(name, documentation, value=0.0 if value is None else float(value))
        # No anchor ever written reads as age 0 above: this says which it is.
        missing = 1.0 if self.figures.audit_last_anchor_age is None else 0.0
        yield GaugeMetricFamily("trim_audit_anchor_missing", "1 while no anchor has been written yet.", value=missing)
        lag = GaugeMetricFamily(
            "trim_sweep_mark_lag_seconds", "How far behind the clock each sweep's mark stands.", labels=["sweep"]
        )
        for name, seconds in sorted(self.figures.sweep_mark_lag.items()):
            lag.add_metric([name], seconds)
        yield lag
