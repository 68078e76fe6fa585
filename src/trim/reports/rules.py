"""The board's quarterly report (design section 17): the period, every table counted from
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

import re
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from trim.dashboard import rules as dashboard_rules
from trim.dashboard.rules import Count, Equation, Period, Shown
from trim.errors import FieldError, InvalidInput

TOTAL = "total"
MAX_REPORT_MONTHS = 24

# -- the period ---------------------------------------------------------------------------------

QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
MONTH = re.compile(r"^\s*(\d{4})-(\d{2})\s*$")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _month_after(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_period(first: date, last: date, zone: ZoneInfo) -> Period:
    """From the first of `first`'s month to the end of `last`'s month, local time."""
    return Period(_midnight(first.replace(day=1), zone), _midnight(_month_after(last.replace(day=1)), zone))


def quarter_period(text: str, zone: ZoneInfo) -> Period:
    """'2026Q4' -> October to December 2026 in the organisation's zone."""
    found = QUARTER.match(text)
    if not found:
        raise InvalidInput("Give the quarter as YYYYQn, e.g. 2026Q4.", [FieldError("quarter", "Give YYYYQn.")])
    year, quarter = int(found[1]), int(found[2])
    first = date(year, 3 * quarter - 2, 1)
    return months_period(first, date(year, 3 * quarter, 1), zone)


def _month(text: str, name: str) -> date:
    found = MONTH.match(text)
    if not found or not 1 <= int(found[2]) <= 12:
        raise InvalidInput(f"Give {name} as a month, YYYY-MM.", [FieldError(name, "Give a month as YYYY-MM.")])
    return date(int(found[1]), int(found[2]), 1)


def report_period(
    *, quarter: str | None, from_month: str | None, to_month: str | None, now: datetime, zone: ZoneInfo
) -> Period:
    """The quarter asked for, or a whole-month range (from and to both included); with
    neither, the last whole quarter before now."""
    if quarter and quarter.strip():
        return quarter_period(quarter, zone)
    if (from_month and from_month.strip()) or (to_month and to_month.strip()):
        if not (from_month and to_month):
            missing = "from" if not from_month else "to"
            raise InvalidInput("Give both months of the range.", [FieldError(missing, "Give a month as YYYY-MM.")])
        first, last = _month(from_month, "from"), _month(to_month, "to")
        if last < first:
            raise InvalidInput("The range ends before it starts.", [FieldError("to", "End after the start.")])
        if (last.year - first.year) * 12 + last.month - first.month >= MAX_REPORT_MONTHS:
            message = f"Choose at most {MAX_REPORT_MONTHS} months."
            raise InvalidInput(message, [FieldError("from", message)])
        return months_period(first, last, zone)
    return quarter_period(previous_quarter(now, zone), zone)


def previous_quarter(now: datetime, zone: ZoneInfo) -> str:
    local = now.astimezone(zone)
    quarter = (local.month - 1) // 3
    return f"{local.year - 1}Q4" if quarter == 0 else f"{local.year}Q{quarter}"


def period_title(period: Period, zone: ZoneInfo) -> str:
    """'October 2026 to December 2026' (or one month's name)."""
    first, last = dashboard_rules.period_days(period, zone)
    start, end = first.strftime("%B %Y"), last.strftime("%B %Y")
    return start if start == end else f"{start} to {end}"


def month_of(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m")


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


# -- tables -------------------------------------------------------------------------------------

Key = tuple[str, str]  # (row, column)


@dataclass
class Table:
    """One section's counts: rows by columns, with a total row and a total column."""

    id: str
    title: str
    counts: str  # what a cell counts
    rows: list[str]
    columns: list[str]
    row_labels: dict[str, str]
    column_labels: dict[str, str]
    cells: dict[Key, Count]
    note: str = ""
    shown: dict[Key, Shown] = field(default_factory=dict)

    def equations(self) -> list[Equation[Key]]:
        """Each row adds up to its total, each column to its total, and the totals too."""
        rows, columns = [*self.rows, TOTAL], [*self.columns, TOTAL]
        found = [Equation((r, TOTAL), tuple((r, c) for c in self.columns)) for r in rows]
        found += [Equation((TOTAL, c), tuple((r, c) for r in self.rows)) for c in columns]
        return found

    def all_keys(self) -> list[Key]:
        return [(r, c) for r in [*self.rows, TOTAL] for c in [*self.columns, TOTAL]]


@dataclass(frozen=True)
class Timing:
    """A time in hours over a group: median and 90th percentile, hidden under k people."""

    people: int
    median: float | None
    p90: float | None


@dataclass
class TimingTable:
    id: str
    title: str
    rows: list[str]
    row_labels: dict[str, str]
    timings: dict[str, Timing]
    note: str = ""


def build_table(
    *,
    id: str,
    title: str,
    counts: str,
    rows: Sequence[str],
    columns: Sequence[str],
    items: Iterable[tuple[str, str, uuid.UUID | None]],
    row_labels: dict[str, str],
    column_labels: dict[str, str],
    note: str = "",
) -> Table:
    """Count items (row, column, person; person None: an anonymous answer, one person each)
    into a table with its totals; the people behind each cell are counted too."""
    values: dict[Key, int] = {}
    people: dict[Key, set[object]] = {}
    for index, (row, column, person) in enumerate(items):
        who: object = person if person is not None else ("anonymous", index)
        for key in ((row, column), (row, TOTAL), (TOTAL, column), (TOTAL, TOTAL)):
            values[key] = values.get(key, 0) + 1
            people.setdefault(key, set()).add(who)
    table = Table(
        id, title, counts, list(rows), list(columns), row_labels, column_labels, {}, note
    )  # cells filled below, over every key so that zeros are cells too
    table.cells = {key: Count(values.get(key, 0), len(people.get(key, ()))) for key in table.all_keys()}
    return table


def suppress_table(table: Table, k: int) -> None:
    table.shown = dashboard_rules.suppress(table.cells, table.equations(), k)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def timing(hours: Sequence[tuple[uuid.UUID, float]], k: int) -> Timing:
    """Median and 90th percentile over the people behind them; none under k people."""
    people = len({person for person, _ in hours})
    if people < k:
        return Timing(people, None, None)
    values = [value for _, value in hours]
    median = statistics.median(values)
    p90 = percentile(values, 0.9)
    return Timing(people, round(median, 1), None if p90 is None else round(p90, 1))


def hours_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


# -- the sections -------------------------------------------------------------------------------

UPTAKE = ("took_up", "declined", "no_contact")
UPTAKE_LABELS = {"took_up": "Took up", "declined": "Declined", "no_contact": "Not reached yet"}
TIMELINESS = ("on_time", "late", "missed", "declined", "other")
TIMELINESS_LABELS = {
    "on_time": "On time",
    "late": "Late",
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
        due_at=c.due_at, outcome=c.outcome, recorded_at=c.recorded_at, now=now, window=window, grace=grace
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
        own = [c for c in by_exposure.get(e.exposure_id, []) if c.outcome != "cancelled"]
        if not own:
            continue
        outcomes = {c.outcome for c in own}
        state = "took_up" if "completed" in outcomes else "declined" if "declined" in outcomes else "no_contact"
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
            if c.outcome in ("completed", "declined") and c.recorded_at is not None
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
        note="On time: held before its due window closed.",
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
        bands = {c.kind: c.band for c in by_exposure.get(e.exposure_id, []) if c.outcome == "completed"}
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
    )

    # Requests for a peer and the time until a peer took them.
    request_items = []
    request_hours: dict[str, list[tuple[uuid.UUID, float]]] = {m: [] for m in [*months, TOTAL]}
    for r in records.requests:
        asked = month(r.created_at)
        request_items.append((asked, "accepted" if r.accepted_at else "not_accepted", r.requester_id))
        if r.accepted_at is not None:
            for key in (asked, TOTAL):
                request_hours[key].append((r.requester_id, hours_between(r.accepted_at, r.created_at)))
    requests = table(
        "requests", "Requests for a peer", "requests, by the month asked", ACCEPTED, ACCEPTED_LABELS, request_items
    )
    request_timing = TimingTable(
        "request_contact",
        "Time from a request to a peer taking it (hours)",
        [*months, TOTAL],
        {**month_labels, TOTAL: "All months"},
        {m: timing(hours, k) for m, hours in request_hours.items()},
        note="Shown over at least k people.",
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
        suppress_table(t, k)
    return Report(
        period=period,
        title=period_title(period, zone),
        k=k,
        timezone=timezone,
        generated_at=now,
        months=months,
        tables=tables,
        timings=[first_contact, request_timing],
    )


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


def shares(
    table: Table, part_columns: Sequence[str], whole_columns: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Per row: the share (per cent) of `part_columns` in `whole_columns` (default the row's
    total), only where every cell it needs is shown."""
    found: dict[str, float | None] = {}
    for row in [*table.rows, TOTAL]:
        parts = [table.shown[(row, c)] for c in part_columns]
        wholes = [table.shown[(row, c)] for c in whole_columns] if whole_columns else [table.shown[(row, TOTAL)]]
        if any(isinstance(v, str) for v in [*parts, *wholes]):
            found[row] = None
            continue
        found[row] = dashboard_rules.share_percent(sum(int(v) for v in parts), sum(int(v) for v in wholes))
    return found
