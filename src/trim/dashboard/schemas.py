"""GET /api/dashboard: the figures as JSON, documented in the OpenAPI schema."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from litestar.params import QueryParameter
from pydantic import BaseModel, Field, PlainSerializer

from trim.analytics import PRIMARY, ReadFrom
from trim.dashboard import rules
from trim.dashboard.figures import Dashboard, Figure

# One number type in the schema: "integer | number" would make every whole number match
# both branches of a oneOf.
CellValue = Annotated[float | str | None, PlainSerializer(rules.plain_number)]

VALUES = (
    'One value per measure of the figure: a number; or the string "<5" (generally "<k") when the '
    'figure describes fewer than k people; or "*" when it is hidden so that a "<k" figure cannot be '
    "worked out from the totals; null only for a median, percentile or share with nothing to measure."
)

# The filters' query parameters, the same on the API, the page and the CSV.
From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        description="Start: a date (YYYY-MM-DD, the start of that day in the organisation's zone) or an ISO "
        "date-time (widened to the start of its day: periods are whole days). Default: the first of the month "
        "eleven months back.",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        description="End: a date (the whole of that day is included) or an ISO date-time (widened to the end "
        "of its day). Default: the end of today. The answer's from_date and to_date say the range used.",
    ),
]
StationId = Annotated[str | None, QueryParameter(description="Only incidents at this station (a station id).")]
Kind = Annotated[
    str | None,
    QueryParameter(description="Only incidents of this kind; requests for a peer have no kind and stay unfiltered."),
]


class RowOut(BaseModel):
    dimensions: dict[str, str] = Field(
        description='What the row is about, e.g. {"month": "2026-01", "kind": "suicide"}; "all" is the total '
        "over that dimension."
    )
    values: dict[str, CellValue] = Field(description=VALUES)


class FigureOut(BaseModel):
    title: str
    counts: str = Field(description="What the counts in this figure count.")
    people: str = Field(description="Who the people behind each count are (for the small-number rule).")
    note: str
    dimensions: list[str]
    measures: list[str]
    rows: list[RowOut]

    @classmethod
    def of(cls, figure: Figure) -> FigureOut:
        return cls(
            title=figure.title,
            counts=figure.counts,
            people=figure.people,
            note=figure.note,
            dimensions=list(figure.dimensions),
            measures=list(figure.measures),
            rows=[RowOut(dimensions=row.dims, values=row.values) for row in figure.rows],
        )


class FiguresOut(BaseModel):
    incidents_by_month_kind: FigureOut = Field(description="month x kind: incidents (month in the org's zone).")
    people_exposed: FigureOut = Field(description="exposure (direct, witness, support): people, exposures.")
    checkin_timeliness: FigureOut = Field(
        description="interval (day3, day28, ...) x timeliness (on_time, late, answered_themselves, missed, declined, "
        "unreachable, not_needed, pending): check-ins after incidents. answered_themselves: the person answered "
        "the questions themselves and preferred not to talk (not a conversation held)."
    )
    periodic_checkins: FigureOut = Field(
        description="month due x timeliness (the same categories): periodic check-ins (no incident), by the "
        "person's current station; all zero when a kind of incident is chosen."
    )
    first_contact: FigureOut = Field(
        description="month of the incident: contacted (exposures), median_hours, p90_hours from incident to "
        "first contact."
    )
    score_bands: FigureOut = Field(
        description="interval x month of the incident: completed, elevated, not_elevated, elevated_share (%)."
    )
    flags: FigureOut = Field(description="cause x status (open, referred, declined, closed): flags.")
    referrals: FigureOut = Field(
        description="stage: offered, not_consented, consented and each status of a consented referral: referrals."
    )
    requests: FigureOut = Field(
        description="urgency: requests, accepted, not_accepted, median_hours_to_acceptance, "
        "p90_hours_to_acceptance. Requests have no incident: the kind filter does not apply."
    )
    peer_caseloads: FigureOut = Field(description="caseload band (people with an open check-in): peers.")
    planning: FigureOut = Field(
        description="planning (on_time, late, not_held: a planning meeting within TRIM_PLANNING_DUE_HOURS of the "
        "incident): incidents."
    )
    planning_routes: FigureOut = Field(
        description="route (risk_assessment, briefing_only, no_action) on incidents with a planning meeting: exposures."
    )
    briefings: FigureOut = Field(description="month of the incident: group briefings held.")


class DashboardOut(BaseModel):
    """The lead's dashboard: every figure for the filters, small numbers suppressed."""

    start: datetime = Field(
        description="Start of the period (inclusive), UTC: local midnight of the `from` day. Periods are whole "
        "days in the organisation's zone, so a time of day in `from` or `to` is widened to its whole day."
    )
    end: datetime = Field(description="End of the period (exclusive), UTC: local midnight after the `to` day.")
    from_date: date = Field(description="The first day of the range used (local date, included).")
    to_date: date = Field(description="The last day of the range used (local date, included).")
    station_id: uuid.UUID | None
    kind: str | None
    k: int = Field(description='Counts about fewer than k people are shown as the string "<k".')
    timezone: str = Field(description="Months are calendar months in this zone.")
    months: list[str]
    intervals: list[str]
    generated_at: datetime
    figures_as_of: datetime | None = Field(
        default=None,
        description="The check-in figures are from rollups up to date at this time (null: counted live).",
    )
    changes_waiting: bool = Field(
        default=False, description="Changes made since `figures_as_of` wait for the next refresh (within a minute)."
    )
    missed_as_of: datetime = Field(description="Check-ins count as missed as of this time: the start of today.")
    source: Literal["primary", "replica"] = Field(
        default="primary",
        description="Where the figures were read: the primary database, or its read replica "
        "(TRIM_DATABASE_REPLICA_URL) when that was current enough.",
    )
    replica_as_of: datetime | None = Field(
        default=None,
        description="null: the database read was current (the primary, or a replica that had caught up). Otherwise "
        "the replica was behind and the figures hold every change up to this time (UTC), at most "
        "TRIM_REPLICA_MAX_LAG_SECONDS old; a replica further behind is not read, the primary serves.",
    )
    figures: FiguresOut

    @classmethod
    def of(cls, dashboard: Dashboard, *, read_from: ReadFrom = PRIMARY) -> DashboardOut:
        figures = {name: FigureOut.of(figure) for name, figure in dashboard.figures.items()}
        first, last = rules.period_days(dashboard.period, ZoneInfo(dashboard.timezone))
        return cls(
            start=dashboard.period.start,
            end=dashboard.period.end,
            from_date=first,
            to_date=last,
            station_id=uuid.UUID(dashboard.station_id) if dashboard.station_id else None,
            kind=dashboard.kind,
            k=dashboard.k,
            timezone=dashboard.timezone,
            months=[m.label for m in dashboard.months],
            intervals=dashboard.intervals,
            generated_at=dashboard.generated_at,
            figures_as_of=dashboard.figures_as_of,
            changes_waiting=dashboard.changes_waiting,
            missed_as_of=rules.missed_as_of(dashboard.generated_at, ZoneInfo(dashboard.timezone)),
            source=read_from.source,
            replica_as_of=read_from.as_of,
            figures=FiguresOut(**figures),
        )
