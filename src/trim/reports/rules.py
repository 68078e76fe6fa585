"""The board's quarterly report (design section 17): every table counted from
plain records, small cells suppressed with complements. Pure functions; the clock is
passed in.

Each table is months (or another dimension) down the side and categories across, with
row totals, column totals and a grand total shown. A cell describing someone but fewer
than k people is "<k"; further cells are hidden as "*" until no hidden cell follows
from the shown ones and the table's own sums (the dashboard's exact rule,
dashboard.rules.suppress). A time (median, 90th percentile) is shown only over at least
k people. Rare incident kinds are grouped as "other" before suppression, so a kind is
named only when it is not rare.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from trim.dashboard import rules as dashboard_rules
from trim.dashboard.rules import Count, Equation, Period
from trim.followups.models import Outcome
from trim.reports.period import month_of, period_title
from trim.reports.tables import TOTAL, Key, Table, TimingTable, build_table, hours_between, timing

# -- the records the report counts (plain values, fetched by the service) ----------------------


@dataclass(frozen=True)
class ExposureRecord:
    exposure_id: uuid.UUID
    person_id: uuid.UUID
    incident_id: uuid.UUID
    occurred_at: datetime
    kind: str  # the incident's kind


@dataclass(frozen=True)
class CheckinRecord:
    exposure_id: uuid.UUID | None
    person_id: uuid.UUID
    kind: str
    due_at: datetime
    outcome: str | None
    recorded_at: datetime | None
    band: str | None  # the current trim_risk band, when completed
    self_completed: bool = False  # completed from the person's own answers, no conversation


@dataclass(frozen=True)
class FlagRecord:
    exposure_id: uuid.UUID
    person_id: uuid.UUID
    referral: str | None  # its furthest referral stage (referral_stage), None when none consented


@dataclass(frozen=True)
class IncidentRecord:
    incident_id: uuid.UUID
    occurred_at: datetime
    kind: str
    planned_at: datetime | None


@dataclass(frozen=True)
class RequestRecord:
    requester_id: uuid.UUID
    created_at: datetime
    accepted_at: datetime | None
    first_contact_at: datetime | None  # the peer's first contact (logged, or at the latest at the close)


@dataclass(frozen=True)
class FeedbackRecord:
    context: str  # "request" | "checkins"
    answered_on: date
    helpful: int
    ask_again: int
    ease: int


@dataclass(frozen=True)
class Records:
    incidents: Sequence[IncidentRecord]
    exposures: Sequence[ExposureRecord]  # live exposures of the period's incidents
    checkins: Sequence[CheckinRecord]  # those exposures' check-ins
    periodic: Sequence[CheckinRecord]  # periodic check-ins due in the period
    flags: Sequence[FlagRecord]
    requests: Sequence[RequestRecord]
    feedback: Sequence[FeedbackRecord]


# -- the sections -------------------------------------------------------------------------------

UPTAKE = ("took_up", "declined", "no_contact")
UPTAKE_LABELS = {"took_up": "Took up", "declined": "Declined", "no_contact": "Not reached yet"}
TIMELINESS = ("on_time", "late", "answered_themselves", "missed", "declined", "other")
TIMELINESS_LABELS = {
    "on_time": "On time",
    "late": "Late",
    "answered_themselves": dashboard_rules.TIMELINESS_LABELS["answered_themselves"],
    "missed": "Missed",
    "declined": "Declined",
    "other": "Other (open, unreachable, not needed)",
}
REFERRAL = ("not_referred", "waiting", "taken_up", "not_taken_up")
REFERRAL_LABELS = {
    "not_referred": "Not referred",
    "waiting": "Referred, waiting",
    "taken_up": "Taken up",
    "not_taken_up": "Not taken up or ended",
}
BANDS = ("low", "elevated")
BAND_LABELS = {"low": "Low", "elevated": "Elevated"}
PLANNING = ("on_time", "late", "not_held")
PLANNING_LABELS = {"on_time": "Within the planning window", "late": "Later", "not_held": "Not held"}
ACCEPTED = ("accepted", "not_accepted")
ACCEPTED_LABELS = {"accepted": "A peer took it", "not_accepted": "Not taken (yet), or withdrawn"}
QUESTIONS = {
    "helpful": "Was it helpful?",
    "ask_again": "Would you ask again?",
    "ease": "How easy was it to reach someone?",
}
CONTEXTS = {"request": "After a request for a peer", "checkins": "After check-ins"}
SCALE = ("1", "2", "3", "4", "5")
SCALE_LABELS = {value: value for value in SCALE}
KIND_COLUMN = ("incidents",)
OTHER_KIND = "other"


def referral_stage(statuses: Iterable[str]) -> str | None:
    """A flag's furthest consented referral: taken up before waiting before ended."""
    found = set(statuses)
    for stage, members in (
        ("taken_up", {"taken_up"}),
        ("waiting", {"referred", "contact_made"}),
        ("not_taken_up", {"not_taken_up", "closed", "withdrawn"}),
    ):
        if found & members:
            return stage
    return None


def checkin_category(c: CheckinRecord, *, now: datetime, window: timedelta, grace: timedelta) -> str | None:
    category = dashboard_rules.timeliness(
        due_at=c.due_at,
        outcome=c.outcome,
        recorded_at=c.recorded_at,
        now=now,
        window=window,
        grace=grace,
        self_completed=c.self_completed,
    )
    if category is None:
        return None
    return category if category in TIMELINESS else "other"


def grouped_kinds(
    incidents: Sequence[IncidentRecord], exposed: dict[uuid.UUID, set[uuid.UUID]], k: int
) -> dict[str, str]:
    """Each incident kind's row: its own, or "other" when it would be suppressed (fewer than
    k people exposed to incidents of that kind)."""
    people: dict[str, set[uuid.UUID]] = {}
    for incident in incidents:
        people.setdefault(incident.kind, set()).update(exposed.get(incident.incident_id, set()))
    return {kind: kind if len(found) >= k and kind != OTHER_KIND else OTHER_KIND for kind, found in people.items()}


@dataclass
class Report:
    period: Period
    title: str
    k: int
    timezone: str
    generated_at: datetime
    months: list[str]
    tables: list[Table]
    timings: list[TimingTable]
    shared: list[Equation[tuple[str, str, str]]] = field(default_factory=list)  # figures tables share

    def table(self, id: str) -> Table:
        return next(t for t in self.tables if t.id == id)

    def timing(self, id: str) -> TimingTable:
        return next(t for t in self.timings if t.id == id)


def build_report(
    records: Records,
    *,
    period: Period,
    zone: ZoneInfo,
    timezone: str,
    now: datetime,
    k: int,
    window: timedelta,
    grace: timedelta,
    planning_hours: int,
    kind_labels: dict[str, str],
) -> Report:
    """Every table of the report from its records, suppressed."""
    months = [m.label for m in dashboard_rules.months(period, zone)]
    month_labels = {m: dashboard_rules.month_title(m) for m in months}

    def month(when: datetime) -> str:
        return month_of(when, zone)

    incident_month = {i.incident_id: month(i.occurred_at) for i in records.incidents}
    exposed: dict[uuid.UUID, set[uuid.UUID]] = {}
    for e in records.exposures:
        exposed.setdefault(e.incident_id, set()).add(e.person_id)
    by_exposure: dict[uuid.UUID, list[CheckinRecord]] = {}
    for c in records.checkins:
        if c.exposure_id is not None:
            by_exposure.setdefault(c.exposure_id, []).append(c)

    def table(
        id: str,
        title: str,
        counts: str,
        columns: Sequence[str],
        labels: dict[str, str],
        items: Iterable[tuple[str, str, uuid.UUID | None]],
        note: str = "",
        rows: Sequence[str] | None = None,
        row_labels: dict[str, str] | None = None,
    ) -> Table:
        return build_table(
            id=id,
            title=title,
            counts=counts,
            rows=months if rows is None else rows,
            columns=columns,
            items=items,
            row_labels=month_labels if row_labels is None else row_labels,
            column_labels=labels,
            note=note,
        )

    # Incidents by kind, rare kinds grouped.
    kind_row = grouped_kinds(records.incidents, exposed, k)
    kinds = [kind for kind in kind_labels if kind in set(kind_row.values())]
    incidents = table(
        "incidents",
        "Incidents by kind",
        "incidents",
        KIND_COLUMN,
        {"incidents": "Incidents"},
        [],
        note="Kinds that fewer than k people were exposed to are counted under “other”.",
        rows=kinds,
        row_labels=kind_labels,
    )
    _count_incidents(incidents, records.incidents, kind_row, exposed)

    # Offers and uptake: each exposure offered check-ins.
    offered = []
    for e in records.exposures:
        own = [c for c in by_exposure.get(e.exposure_id, []) if c.outcome != Outcome.cancelled]
        if not own:
            continue
        outcomes = {c.outcome for c in own}
        state = (
            "took_up" if Outcome.completed in outcomes else "declined" if Outcome.declined in outcomes else "no_contact"
        )
        offered.append((incident_month[e.incident_id], state, e.person_id))
    offers = table(
        "offers",
        "Offers of support and uptake",
        "people offered check-ins after an incident (one per person per incident)",
        UPTAKE,
        UPTAKE_LABELS,
        offered,
        note="Took up: at least one check-in held. Declined: declined and none held.",
    )

    # Time to first contact: incident to the first check-in held or declined.
    contact_hours: dict[str, list[tuple[uuid.UUID, float]]] = {m: [] for m in [*months, TOTAL]}
    for e in records.exposures:
        times = [
            c.recorded_at
            for c in by_exposure.get(e.exposure_id, [])
            if c.outcome in (Outcome.completed, Outcome.declined) and c.recorded_at is not None
        ]
        if times:
            hours = hours_between(min(times), e.occurred_at)
            for key in (incident_month[e.incident_id], TOTAL):
                contact_hours[key].append((e.person_id, hours))
    first_contact = TimingTable(
        "first_contact",
        "Time from incident to first contact (hours)",
        [*months, TOTAL],
        {**month_labels, TOTAL: "All months"},
        {m: timing(hours, k) for m, hours in contact_hours.items()},
        note="First check-in held or declined. Shown over at least k people.",
    )

    # Check-ins on time.
    exposure_month = {e.exposure_id: incident_month[e.incident_id] for e in records.exposures}
    checkin_items = []
    for c in records.checkins:
        category = checkin_category(c, now=now, window=window, grace=grace)
        if category is not None and c.exposure_id in exposure_month:
            checkin_items.append((exposure_month[c.exposure_id], category, c.person_id))
    on_time = table(
        "checkins",
        "Check-ins after incidents: on time",
        "check-ins, by the month of their incident",
        TIMELINESS,
        TIMELINESS_LABELS,
        checkin_items,
        note="On time: held before its due window closed. Answered themselves, no talk: the person answered "
        "the questions themselves and preferred not to talk (not counted as a conversation).",
    )

    # Referral share and uptake.
    referral_items = [
        (exposure_month[f.exposure_id], f.referral or "not_referred", f.person_id)
        for f in records.flags
        if f.exposure_id in exposure_month
    ]
    referrals = table(
        "referrals",
        "Flags, referrals and uptake",
        "flags raised after the period's incidents",
        REFERRAL,
        REFERRAL_LABELS,
        referral_items,
    )

    # Paired change in band, day 3 to day 28, same exposure.
    pairs = []
    for e in records.exposures:
        bands = {c.kind: c.band for c in by_exposure.get(e.exposure_id, []) if c.outcome == Outcome.completed}
        if bands.get("day3") in BANDS and bands.get("day28") in BANDS:
            pairs.append((str(bands["day3"]), str(bands["day28"]), e.person_id))
    band_change = table(
        "band_change",
        "Change in risk band from day 3 to day 28 (same people)",
        "people with both check-ins held (rows: day 3, columns: day 28)",
        BANDS,
        BAND_LABELS,
        pairs,
        rows=BANDS,
        row_labels=BAND_LABELS,
    )

    # Planning meetings on time.
    planned: dict[uuid.UUID, Key] = {}
    for incident in records.incidents:
        held = incident.planned_at
        in_window = held is not None and held <= incident.occurred_at + timedelta(hours=planning_hours)
        state = "not_held" if held is None else "on_time" if in_window else "late"
        planned[incident.incident_id] = (incident_month[incident.incident_id], state)
    planning = table(
        "planning",
        "Planning meetings",
        "incidents",
        PLANNING,
        PLANNING_LABELS,
        [],
        note=f"Within the planning window: held within {planning_hours} hours of the incident.",
    )
    _count_incidents_by(planning, records.incidents, planned, exposed)

    # Periodic check-ins (no incident), by the month they were due.
    periodic_items = []
    for c in records.periodic:
        category = checkin_category(c, now=now, window=window, grace=grace)
        if category is not None:
            periodic_items.append((month(c.due_at), category, c.person_id))
    periodic = table(
        "periodic",
        "Periodic check-ins (high-exposure roles)",
        "periodic check-ins, by the month they were due",
        TIMELINESS,
        TIMELINESS_LABELS,
        periodic_items,
        note="The same categories as the check-ins after incidents.",
    )

    # Requests for a peer and the time until a peer took them.
    request_items = []
    request_hours: dict[str, list[tuple[uuid.UUID, float]]] = {m: [] for m in [*months, TOTAL]}
    for r in records.requests:
        asked = month(r.created_at)
        request_items.append((asked, "accepted" if r.accepted_at else "not_accepted", r.requester_id))
        if r.first_contact_at is not None:
            for key in (asked, TOTAL):
                request_hours[key].append((r.requester_id, hours_between(r.first_contact_at, r.created_at)))
    requests = table(
        "requests", "Requests for a peer", "requests, by the month asked", ACCEPTED, ACCEPTED_LABELS, request_items
    )
    request_timing = TimingTable(
        "request_contact",
        "Time from a request to first contact (hours)",
        [*months, TOTAL],
        {**month_labels, TOTAL: "All months"},
        {m: timing(hours, k) for m, hours in request_hours.items()},
        note="First contact as the peer logged it (or the close, if they did not). Shown over at least k people.",
    )

    # Anonymous feedback: one table per question, answers 1-5 by where it was given.
    feedback = [
        table(
            f"feedback_{question}",
            f"Feedback: {title}",
            "anonymous answers (1 = not at all, 5 = very)",
            SCALE,
            SCALE_LABELS,
            [(f.context, str(getattr(f, question)), None) for f in records.feedback],
            rows=list(CONTEXTS),
            row_labels=CONTEXTS,
            note="Each answer is one person, never linked to them. A cell under k answers is not shown.",
        )
        for question, title in QUESTIONS.items()
    ]

    tables = [incidents, offers, on_time, referrals, band_change, planning, periodic, requests, *feedback]
    for t in tables:
        t.row_labels = {**t.row_labels, TOTAL: "Total"}
        t.column_labels = {**t.column_labels, TOTAL: "Total"}
    shared = links(tables)
    suppress_together(tables, shared, k)
    return Report(
        period=period,
        title=period_title(period, zone),
        k=k,
        timezone=timezone,
        generated_at=now,
        months=months,
        tables=tables,
        timings=[first_contact, request_timing],
        shared=shared,
    )


CellId = tuple[str, str, str]  # (table, row, column)


def links(tables: Sequence[Table]) -> list[Equation[CellId]]:
    """Figures one table shares with another, which a reader can match: every incident is
    in both the kinds table and the planning table; every feedback answer answers all
    three questions, so the three tables' row totals are the same numbers."""
    ids = {t.id for t in tables}
    found: list[Equation[CellId]] = []
    if {"incidents", "planning"} <= ids:
        found.append(Equation(("incidents", TOTAL, TOTAL), (("planning", TOTAL, TOTAL),)))
    questions = [f"feedback_{q}" for q in QUESTIONS if f"feedback_{q}" in ids]
    for other in questions[1:]:
        for row in [*CONTEXTS, TOTAL]:
            found.append(Equation((questions[0], row, TOTAL), ((other, row, TOTAL),)))
    return found


def report_equations(tables: Sequence[Table], shared: Sequence[Equation[CellId]]) -> list[Equation[CellId]]:
    """Every table's sums, and the figures tables share: the system a reader can solve."""
    own = [Equation((t.id, *e.total), tuple((t.id, *part) for part in e.parts)) for t in tables for e in t.equations()]
    return [*own, *shared]


def suppress_together(tables: Sequence[Table], shared: Sequence[Equation[CellId]], k: int) -> None:
    """Suppress every table at once, so a cell hidden in one cannot be read off another."""
    cells = {(t.id, *key): count for t in tables for key, count in t.cells.items()}
    shown = dashboard_rules.suppress(cells, report_equations(tables, shared), k)
    for t in tables:
        t.shown = {key: shown[(t.id, *key)] for key in t.cells}


def _count_incidents(
    table: Table,
    incidents: Sequence[IncidentRecord],
    kind_row: dict[str, str],
    exposed: dict[uuid.UUID, set[uuid.UUID]],
) -> None:
    _count_incidents_by(table, incidents, {i.incident_id: (kind_row[i.kind], "incidents") for i in incidents}, exposed)


def _count_incidents_by(
    table: Table,
    incidents: Sequence[IncidentRecord],
    place: dict[uuid.UUID, Key],
    exposed: dict[uuid.UUID, set[uuid.UUID]],
) -> None:
    """Incidents counted into cells, the people behind each cell those exposed to them."""
    values: dict[Key, int] = {}
    people: dict[Key, set[uuid.UUID]] = {}
    for incident in incidents:
        row, column = place[incident.incident_id]
        for key in ((row, column), (row, TOTAL), (TOTAL, column), (TOTAL, TOTAL)):
            values[key] = values.get(key, 0) + 1
            people.setdefault(key, set()).update(exposed.get(incident.incident_id, set()))
    table.cells = {key: Count(values.get(key, 0), len(people.get(key, ()))) for key in table.all_keys()}
