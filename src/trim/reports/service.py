"""The board's quarterly report: the period's records read once (filtered in the
database by the period), counted by reports.rules, and written as a page, CSV or PDF.

Like the dashboard it reads other areas' tables directly (aggregates over a whole
programme), only reads, and only for those who see the dashboard
(privacy.policy.can_view_dashboard). A quarter's records are a few thousand rows even
for a large service; the report is made a few times a quarter, so it reads rows rather
than the dashboard's rollups.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Executable
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.analytics import read_session, replica_failed
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.dashboard.rules import Period, period_days, plain_number
from trim.errors import NotFound
from trim.exports import csv_text
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.incidents.models import KIND_LABELS, Exposure, Incident
from trim.planning.models import PlanningRecord
from trim.privacy import policy
from trim.referrals.models import Referral
from trim.reports import period as periods
from trim.reports import rules
from trim.reports.models import FeedbackAnswer
from trim.reports.rules import (
    CheckinRecord,
    ExposureRecord,
    FeedbackRecord,
    FlagRecord,
    IncidentRecord,
    Records,
    Report,
    RequestRecord,
)
from trim.requests.models import PeerRequest

PERIODIC = "periodic"


async def _rows(session: AsyncSession, stmt: Executable) -> list[tuple[Any, ...]]:
    result = await session.exec(stmt)  # type: ignore[call-overload]
    return [tuple(row) for row in result]


@asynccontextmanager
async def report_session(primary: AsyncSession, settings: Settings) -> AsyncIterator[AsyncSession]:
    """The one place the report takes its database session from: the read replica
    (TRIM_DATABASE_REPLICA_URL) when one is configured and within its lag tolerance, else
    the request's own. A quarter's figures do not move by a few seconds' lag."""
    del settings  # the replica is found through the request's session (trim.analytics)
    async with read_session(primary) as session:
        yield session


async def _records(session: AsyncSession, *, period: Period, settings: Settings) -> Records:
    """The period's rows, from the replica; read again from the primary when the replica
    fails part-way (it is then left alone for a while, trim.analytics)."""
    try:
        async with report_session(session, settings) as db:
            return await _read_records(db, period=period, zone=settings.zone)
    except Exception as exc:
        if not replica_failed(exc):
            raise
        return await _read_records(session, period=period, zone=settings.zone)


def period_of(
    *, quarter: str | None, from_month: str | None, to_month: str | None, now: datetime, settings: Settings
) -> Period:
    """The period asked for (a 422 naming the field when it is not one)."""
    return periods.report_period(quarter=quarter, from_month=from_month, to_month=to_month, now=now, zone=settings.zone)


async def quarterly(
    session: AsyncSession, *, actor: Actor, period: Period, now: datetime, settings: Settings
) -> Report:
    """Every table of the report for the period, small cells suppressed."""
    if not policy.can_view_dashboard(actor):
        raise NotFound()
    return await operator_report(session, period=period, now=now, settings=settings)


async def operator_report(session: AsyncSession, *, period: Period, now: datetime, settings: Settings) -> Report:
    """The same report for `trim report` on the server: whoever runs it holds the database
    already, and it shows only what the lead sees (suppressed aggregates)."""
    records = await _records(session, period=period, settings=settings)
    return rules.build_report(
        records,
        period=period,
        zone=settings.zone,
        timezone=settings.timezone,
        now=now,
        k=settings.report_small_cell_k,
        window=settings.due_window,
        grace=settings.missed_grace,
        planning_hours=settings.planning_due_hours,
        kind_labels=KIND_LABELS,
    )


async def _read_records(session: AsyncSession, *, period: Period, zone: ZoneInfo) -> Records:
    """The rows the report counts, each statement filtered to the period."""
    in_period = (col(Incident.occurred_at) >= period.start, col(Incident.occurred_at) < period.end)
    planned = (
        select(col(PlanningRecord.incident_id), col(PlanningRecord.held_at))
        .join(Incident, col(Incident.id) == col(PlanningRecord.incident_id))
        .where(*in_period)
    )
    held = {incident_id: held_at for incident_id, held_at in await session.exec(planned)}
    incidents = [
        IncidentRecord(i.id, i.occurred_at, i.kind, held.get(i.id))
        for i in await session.exec(select(Incident).where(*in_period))
    ]
    exposure_rows = await _rows(
        session,
        sa_select(
            col(Exposure.id), col(Exposure.person_id), col(Incident.id), col(Incident.occurred_at), col(Incident.kind)
        )
        .join(Incident, col(Incident.id) == col(Exposure.incident_id))
        .where(*in_period, col(Exposure.removed_at).is_(None)),
    )
    exposures = [ExposureRecord(*row) for row in exposure_rows]
    live = {e.exposure_id for e in exposures}
    band_of = (
        select(col(Assessment.band))
        .where(col(Assessment.checkin_id) == col(CheckIn.id), col(Assessment.is_current))
        .limit(1)
        .scalar_subquery()
    )
    checkin_columns = (
        col(CheckIn.exposure_id),
        col(CheckIn.person_id),
        col(CheckIn.kind),
        col(CheckIn.due_at),
        col(CheckIn.outcome),
        col(CheckIn.recorded_at),
        band_of,
        col(CheckIn.self_completed),
    )
    checkin_rows = await _rows(
        session,
        sa_select(*checkin_columns)
        .join(Exposure, col(Exposure.id) == col(CheckIn.exposure_id))
        .join(Incident, col(Incident.id) == col(Exposure.incident_id))
        .where(*in_period, col(CheckIn.kind) != PERIODIC),
    )
    checkins = [CheckinRecord(*row) for row in checkin_rows if row[0] in live]
    # Periodic check-ins have no incident (design section 14): by kind and due date alone.
    periodic_rows = await _rows(
        session,
        sa_select(*checkin_columns).where(
            col(CheckIn.kind) == PERIODIC, col(CheckIn.due_at) >= period.start, col(CheckIn.due_at) < period.end
        ),
    )
    periodic = [CheckinRecord(*row) for row in periodic_rows]
    flag_rows = await session.exec(
        select(col(Flag.id), col(Flag.exposure_id), col(Flag.person_id))
        .join(Exposure, col(Exposure.id) == col(Flag.exposure_id))
        .join(Incident, col(Incident.id) == col(Exposure.incident_id))
        .where(*in_period)
    )
    flags_found = [(flag_id, exposure_id, person_id) for flag_id, exposure_id, person_id in flag_rows]
    statuses: dict[uuid.UUID, list[str]] = {}
    referral_rows = await session.exec(
        select(col(Referral.flag_id), col(Referral.status))
        .join(Flag, col(Flag.id) == col(Referral.flag_id))
        .join(Exposure, col(Exposure.id) == col(Flag.exposure_id))
        .join(Incident, col(Incident.id) == col(Exposure.incident_id))
        .where(*in_period, col(Referral.consent))
    )
    for flag_id, status in referral_rows:
        if flag_id is not None:
            statuses.setdefault(flag_id, []).append(status)
    flags = [
        FlagRecord(exposure_id, person_id, rules.referral_stage(statuses.get(flag_id, [])))
        for flag_id, exposure_id, person_id in flags_found
        if exposure_id is not None and exposure_id in live
    ]
    request_rows = await session.exec(
        select(
            col(PeerRequest.requester_id),
            col(PeerRequest.created_at),
            col(PeerRequest.accepted_at),
            col(PeerRequest.first_contact_at),
        ).where(col(PeerRequest.created_at) >= period.start, col(PeerRequest.created_at) < period.end)
    )
    requests = [RequestRecord(*row) for row in request_rows]
    # Feedback carries its local day only.
    first_day, last_day = period_days(period, zone)
    feedback_rows = await session.exec(
        select(FeedbackAnswer).where(
            col(FeedbackAnswer.answered_on) >= first_day, col(FeedbackAnswer.answered_on) <= last_day
        )
    )
    feedback = [FeedbackRecord(f.context, f.answered_on, f.helpful, f.ask_again, f.ease) for f in feedback_rows]
    return Records(incidents, exposures, checkins, periodic, flags, requests, feedback)


# -- as CSV and PDF ------------------------------------------------------------------------------


def as_csv(report: Report) -> str:
    """Every cell as it is shown: section, row, column, value (one tidy table); times too."""
    rows: list[list[object]] = [
        ["section", "row", "column", "value"],
        ["period", "", "from", report.period.start.isoformat()],
        ["period", "", "to", report.period.end.isoformat()],
        ["period", "", "small_cell_k", report.k],
    ]
    for table in report.tables:
        rows += [[table.id, r, c, plain_number(table.shown[(r, c)])] for r, c in table.all_keys()]
    label = f"<{report.k}"
    for timing in report.timings:
        for row in timing.rows:
            found = timing.timings[row]
            for measure, value in (("median_hours", found.median), ("p90_hours", found.p90)):
                shown = "" if found.people == 0 else label if found.median is None else plain_number(value)
                rows.append([timing.id, row, measure, shown])
    return csv_text(rows)


def as_pdf(html: str, *, base_url: str) -> bytes:
    """The report's print page as a PDF (WeasyPrint: pango from the system)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # imported here: loading pango is slow and only the PDF needs it

    return bytes(HTML(string=html, base_url=base_url).write_pdf())


__all__ = ["as_csv", "as_pdf", "period_of", "quarterly", "report_session"]
