"""The check-in figures counted ahead (timeliness and score bands), so a year at national
scale is a few thousand rollup rows rather than every check-in of the year.

Four levels, all rebuilt from the check-ins themselves, never patched by difference:
per incident (`CheckinCell`, also what a station filter reads), and summed over every
station per day, per block (rules.block_of: a week within a month) and per month
(`CheckinRollup`), each kind and every kind together (kind "all"), so a year with no
filter is a few hundred rows. A change to a check-in, its current
score or its incident marks the incident (a trigger in the change's own transaction,
migration 0634); `refresh` rebuilds the marked incidents, then their days and months.
It is idempotent (a rebuild from the same rows gives the same rows), one worker at a
time holds the state row, and a mark made while it runs survives for the next round.

"Missed" moves with the clock without a rescan: an open check-in is stored with the
first local day it counts as missed (`missed_from`), and the dashboard counts it missed
when that day has come. Blocks and months group open check-ins by the month they are
missed from, keeping the last such day: all missed once it has come, all still open
before that month, and within it (a month or two of incidents) read from their days.
The figures are as of the start of today (rules.missed_as_of), so two requests on one
day agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, insert, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.assessments import instruments as catalogue
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.dashboard import caseloads, contacts, incident_rollups, rules, samples
from trim.dashboard.figures import ALL, Cube
from trim.dashboard.models import CheckinCell, CheckinRollup, RollupClaim, RollupMark, RollupState
from trim.dashboard.queries import execute as _run
from trim.dashboard.queries import read
from trim.dashboard.rules import block_of, blocks_within
from trim.db import dialect_insert
from trim.followups.models import CheckIn, Outcome
from trim.incidents.models import Incident

STATE = "checkins"
BATCH = 500  # incidents rebuilt per statement
ROUNDS = 40  # batches per sweep: a backlog is worked off over several sweeps
HELD = rules.HELD
# The version of the categories a cell can hold (category_of); a new one rebuilds every
# rollup (built_with). 2: answered_themselves apart from on_time and late.
CATEGORIES = 2
# The version of the grains: 2 adds blocks (rollups.block_of) between days and months, whose
# rows (and months') hold open check-ins by the month they are missed from (_open_as_of).
GRAINS = 2


@dataclass(frozen=True)
class CellKey:
    day: date
    station_id: uuid.UUID | None
    kind: str
    interval: str
    category: str
    band: str
    missed_from: date | None


def built_with(settings: Settings) -> str:
    """What the stored cells depend on besides the records: the sample size, the zone
    (days and months), the due window (on time or late), the grace (missed from), the
    band that counts as elevated and the categories themselves. Rollups built with other
    values are rebuilt."""
    elevated = catalogue.load()["trim_risk"].flag_band
    return (
        f"sample={settings.dashboard_sample_size};zone={settings.timezone};window={settings.due_window_days};"
        f"grace={settings.missed_grace_days};elevated={elevated};categories={CATEGORIES};"
        f"grains={GRAINS};{contacts.built_with()};{caseloads.built_with()};"
        f"{incident_rollups.built_with(settings)}"
    )


def category_of(
    outcome: str | None, recorded_at: datetime | None, due_at: datetime, window: timedelta, self_completed: bool
) -> str:
    """What a stored cell says of a check-in (rules.timeliness, but for the clock): "open"
    ones become missed or pending later."""
    if outcome == Outcome.completed and self_completed:
        return "answered_themselves"
    if outcome == Outcome.completed:
        return "on_time" if recorded_at is not None and recorded_at < due_at + window else "late"
    return outcome if outcome is not None else "open"


def missed_from(due_at: datetime, settings: Settings) -> date:
    """The first local day at whose start an open check-in is missed (due + window +
    grace at or before that midnight)."""
    zone = settings.zone
    moment = due_at + settings.due_window + settings.missed_grace
    day = moment.astimezone(zone).date()
    return day if rules.local_midnight(day, zone) >= moment else day + timedelta(days=1)


# -- building -------------------------------------------------------------------------------------


async def rebuild_incidents(session: AsyncSession, incident_ids: Sequence[uuid.UUID], *, settings: Settings) -> int:
    """The rollups of these incidents from their check-ins, and of every day and month
    they were or are in. Returns the cells written."""
    size, zone, window = settings.dashboard_sample_size, settings.zone, settings.due_window
    elevated = catalogue.load()["trim_risk"].flag_band
    days: set[date] = set()
    written = 0
    for start in range(0, len(incident_ids), BATCH):
        batch = list(incident_ids[start : start + BATCH])
        old = select(col(CheckinCell.day)).where(col(CheckinCell.incident_id).in_(batch)).distinct()
        days.update(row[0] for row in await _run(session, old))
        await _run(session, delete(CheckinCell).where(col(CheckinCell.incident_id).in_(batch)))
        # The current score's band, looked up for each check-in (NULL: no current score).
        band = (
            select(case((col(Assessment.band) == elevated, "elevated"), else_="not_elevated"))
            .where(col(Assessment.checkin_id) == col(CheckIn.id), col(Assessment.is_current))
            .limit(1)
            .scalar_subquery()
        )
        rows = await _run(
            session,
            select(
                col(CheckIn.incident_id),
                col(Incident.occurred_at),
                col(Incident.station_id),
                col(Incident.kind),
                col(CheckIn.kind),
                col(CheckIn.outcome),
                col(CheckIn.recorded_at),
                col(CheckIn.due_at),
                col(CheckIn.person_id),
                col(CheckIn.self_completed),
                band,
            )
            .join(Incident, col(Incident.id) == col(CheckIn.incident_id))
            .where(
                col(CheckIn.incident_id).in_(batch),
                col(Incident.source) == "logged",
                or_(col(CheckIn.outcome).is_(None), col(CheckIn.outcome) != Outcome.cancelled),
            ),
        )
        cells: dict[tuple[uuid.UUID, CellKey], tuple[int, set[str]]] = {}
        for incident_id, occurred_at, station_id, kind, interval, outcome, recorded_at, due_at, person, own, b in rows:
            category = category_of(outcome, recorded_at, due_at, window, bool(own))
            score = b if category in HELD and b is not None else ""
            key = CellKey(
                occurred_at.astimezone(zone).date(),
                station_id,
                kind,
                interval,
                category,
                score,
                missed_from(due_at, settings) if category == "open" else None,
            )
            count, people = cells.get((incident_id, key), (0, set()))
            people.add(person.hex)
            cells[(incident_id, key)] = (count + 1, people)
        values = [
            {
                "id": uuid.uuid4(),
                "incident_id": incident_id,
                **key.__dict__,
                "checkins": count,
                "sample": samples.sample_of(people, size),
            }
            for (incident_id, key), (count, people) in cells.items()
        ]
        if values:
            await _run(session, insert(CheckinCell), params=values)
        days.update(key.day for _, key in cells)
        written += len(values)
    await _rebuild_days(session, sorted(days), size=size)
    await incident_rollups.rebuild_incidents(session, incident_ids, settings=settings)
    await contacts.rebuild_incidents(session, incident_ids, settings=settings)
    await caseloads.rebuild_incidents(session, incident_ids, settings=settings)
    return written


def _summed(
    rows: Iterable[Any], size: int, start_of: date | None = None, *, coarse: bool = False
) -> dict[tuple[Any, ...], tuple[int, set[str], date | None]]:
    """(start, kind, interval, category, band, missed) -> check-ins, merged sample and
    missed_from; with `start_of`, every row counted under that start (a block or a month).
    `coarse`: open check-ins missed from days of one month are one row, whose missed_from
    is the last of those days (see `_open_as_of`)."""
    out: dict[tuple[Any, ...], tuple[int, set[str], date | None]] = {}
    for start, kind, interval, category, band, missed, checkins, sample in rows:
        group = missed.replace(day=1) if coarse and missed is not None else missed
        key = (start_of or start, kind, interval, category, band, group)
        count, people, latest = out.get(key, (0, set(), None))
        people.update(samples.ids_of(sample))
        if missed is not None and (latest is None or missed > latest):
            latest = missed
        out[key] = (count + checkins, people, latest)
    return out


def _rollup_rows(
    grain: str, summed: Mapping[tuple[Any, ...], tuple[int, set[str], date | None]], size: int
) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "grain": grain,
            "start": start,
            "kind": kind,
            "interval": interval,
            "category": category,
            "band": band,
            "missed_from": missed,
            "checkins": count,
            "sample": samples.sample_of(people, size),
        }
        for (start, kind, interval, category, band, _), (count, people, missed) in summed.items()
    ]


_GROUP_COLUMNS = ("kind", "interval", "category", "band", "missed_from", "checkins", "sample")


async def _sum_into(
    session: AsyncSession, grain: str, starts: Sequence[date], source: str, span_of: Any, size: int
) -> None:
    """Rows of `grain` (block or month) for these starts, summed from the `source` grain."""
    for first in starts:
        _, end = span_of(first)
        in_span = (col(CheckinRollup.start) >= first, col(CheckinRollup.start) <= end)
        rows = await _run(
            session,
            select(col(CheckinRollup.start), *(col(getattr(CheckinRollup, c)) for c in _GROUP_COLUMNS)).where(
                col(CheckinRollup.grain) == source, *in_span
            ),
        )
        merged = _summed(rows, size, first, coarse=True)
        await _run(session, delete(CheckinRollup).where(col(CheckinRollup.grain) == grain, *in_span))
        if merged:
            await _run(session, insert(CheckinRollup), params=_rollup_rows(grain, merged, size))


def _month_span(first: date) -> tuple[date, date]:
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


async def _rebuild_days(session: AsyncSession, days: Sequence[date], *, size: int) -> None:
    """Day rollups of these days from their cells, then block rollups of their blocks, then
    month rollups of their months."""
    for start in range(0, len(days), 100):
        chunk = list(days[start : start + 100])
        rows = await _run(
            session,
            select(
                col(CheckinCell.day),
                col(CheckinCell.kind),
                col(CheckinCell.interval),
                col(CheckinCell.category),
                col(CheckinCell.band),
                col(CheckinCell.missed_from),
                col(CheckinCell.checkins),
                col(CheckinCell.sample),
            ).where(col(CheckinCell.day).in_(chunk)),
        )
        found = list(rows)
        # Also every kind together, so a dashboard with no kind chosen reads a seventh of the rows.
        summed = {**_summed(found, size), **_summed(((r[0], ALL, *r[2:]) for r in found), size)}
        await _run(
            session,
            delete(CheckinRollup).where(col(CheckinRollup.grain) == "day", col(CheckinRollup.start).in_(chunk)),
        )
        if summed:
            await _run(session, insert(CheckinRollup), params=_rollup_rows("day", summed, size))
    await _sum_into(session, "block", sorted({block_of(day)[0] for day in days}), "day", block_of, size)
    await _sum_into(session, "month", sorted({day.replace(day=1) for day in days}), "block", _month_span, size)


async def _claim_state(session: AsyncSession) -> RollupState | None:
    """The state row, locked for this transaction; None while another worker holds it."""
    await _run(session, dialect_insert(session, RollupState).values(name=STATE, built_with="").on_conflict_do_nothing())
    found = await _run(
        session, select(RollupState).where(col(RollupState.name) == STATE).with_for_update(skip_locked=True)
    )
    row = found.first()
    return row[0] if row is not None else None


async def refresh(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Rebuild what the marks name (all of it when the settings it was built with changed); the
    incidents rebuilt. Safe to run on several workers at once: one holds the state."""
    state = await _claim_state(session)
    if state is None:
        return 0
    apart = True  # the marks are taken in a transaction of their own (_take_marks)
    if state.built_with != built_with(settings):
        await _run(session, delete(CheckinCell))
        await _run(session, delete(CheckinRollup))
        await _run(session, delete(RollupClaim))
        await incident_rollups.clear(session)
        await contacts.clear(session)
        await caseloads.clear(session)
        state.refreshed_at = None  # not read until every incident is rebuilt
        await _run(
            session,
            dialect_insert(session, RollupMark)
            .from_select(
                ["incident_id"], select(col(Incident.id)).where(true())
            )  # WHERE: SQLite parses ON CONFLICT then
            .on_conflict_do_nothing(),
        )
        state.built_with = built_with(settings)
        apart = False  # this transaction holds marks of its own: a second one would wait on them
    drained = await _take_marks(session, settings=settings, apart=apart)
    # Claimed together, rebuilt together: each day and month touched is summed once.
    claimed = [row[0] for row in await _run(session, select(col(RollupClaim.incident_id)))]
    if claimed:
        await rebuild_incidents(session, claimed, settings=settings)
        # Only the worker holding the state adds claims, and its own were committed before
        # this rebuild began: every claim there is was rebuilt just now.
        await _run(session, delete(RollupClaim))
    if drained:
        state.refreshed_at = now
    session.add(state)
    await session.flush()
    return len(claimed)


async def _take_marks(session: AsyncSession, *, settings: Settings, apart: bool) -> bool:
    """Move up to ROUNDS x BATCH marks into the claims; whether that took the last of them.

    A recording marks its incident with INSERT ... ON CONFLICT DO NOTHING, which waits for
    any transaction that deleted the same mark to end. On PostgreSQL the marks are moved in
    a short transaction on a connection of its own and committed before the rebuild, so a
    recording waits for the move, never for the rebuild. A change committed after the move
    marks again, for the next sweep. SQLite has one writer: the move is part of the sweep's
    own transaction, as it is when that transaction has written marks itself."""
    bind = session.bind
    if apart and isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        async with AsyncSession(bind, expire_on_commit=False) as mover, mover.begin():
            return await _move_marks(mover, settings=settings)
    return await _move_marks(session, settings=settings)


async def _move_marks(session: AsyncSession, *, settings: Settings) -> bool:
    # Requests for a peer mark people; their incidents (a stand-in's too) are marked here.
    await contacts.mark_people(session, settings=settings)
    taking = select(col(RollupMark.incident_id)).where(true()).limit(ROUNDS * BATCH)  # WHERE: as above
    await _run(
        session, dialect_insert(session, RollupClaim).from_select(["incident_id"], taking).on_conflict_do_nothing()
    )
    claims = select(col(RollupClaim.incident_id))
    await _run(session, delete(RollupMark).where(col(RollupMark.incident_id).in_(claims)))
    left = (await _run(session, select(col(RollupMark.incident_id)).limit(1))).first()
    return left is None


async def rebuild_range(session: AsyncSession, *, first: date, last: date, settings: Settings) -> int:
    """`trim dashboard rebuild`: every incident of these local days (and whatever the
    rollups hold for them) rebuilt from scratch."""
    zone = settings.zone
    start, end = rules.local_midnight(first, zone), rules.local_midnight(last + timedelta(days=1), zone)
    in_range = select(col(Incident.id)).where(col(Incident.occurred_at) >= start, col(Incident.occurred_at) < end)
    ids = {row[0] for row in await _run(session, in_range)}
    ids.update(
        row[0]
        for row in await _run(
            session,
            select(col(CheckinCell.incident_id)).where(col(CheckinCell.day) >= first, col(CheckinCell.day) <= last),
        )
    )
    await rebuild_incidents(session, sorted(ids), settings=settings)
    await _rebuild_days(
        session,
        [first + timedelta(days=n) for n in range((last - first).days + 1)],
        size=settings.dashboard_sample_size,
    )
    await incident_rollups.rebuild_days(
        session,
        [first + timedelta(days=n) for n in range((last - first).days + 1)],
        size=settings.dashboard_sample_size,
        settings=settings,
    )
    await contacts.rebuild_days(
        session,
        [first + timedelta(days=n) for n in range((last - first).days + 1)],
        size=settings.dashboard_sample_size,
    )
    return len(ids)


async def refreshed_lately(session: AsyncSession, *, now: datetime, settings: Settings) -> bool:
    """Whether the rollups, built with these settings, were brought up to date less than
    TRIM_DASHBOARD_REFRESH_SECONDS ago (the sweep then waits: its marks keep)."""
    state = (await _run(session, select(RollupState).where(col(RollupState.name) == STATE))).first()
    if state is None or state[0].refreshed_at is None or state[0].built_with != built_with(settings):
        return False
    refreshed: datetime = state[0].refreshed_at
    if refreshed.tzinfo is None:  # SQLite hands back naive UTC
        refreshed = refreshed.replace(tzinfo=UTC)
    return bool(timedelta(0) <= now - refreshed < timedelta(seconds=settings.dashboard_refresh_seconds))


async def read_state(session: AsyncSession) -> RollupState | None:
    """The rollups' state row, read once per dashboard request and handed to every reader."""
    found = (await _run(session, select(RollupState).where(col(RollupState.name) == STATE))).first()
    return found[0] if found is not None else None


async def freshness(session: AsyncSession, state: RollupState | None = None) -> tuple[datetime | None, bool]:
    """When the rollups were last up to date, and whether changes are waiting (marks not yet
    taken, or claims not yet rebuilt), in one statement."""
    if state is None:
        state = await read_state(session)
    marked = select(col(RollupMark.incident_id)).limit(1).exists()
    claimed = select(col(RollupClaim.incident_id)).limit(1).exists()
    waiting = bool((await _run(session, select(or_(marked, claimed)))).scalar())
    return (state.refreshed_at if state is not None else None), waiting


# -- reading --------------------------------------------------------------------------------------


async def checkin_cubes(
    session: AsyncSession,
    *,
    period: rules.Period,
    station_id: uuid.UUID | None,
    kind: str | None,
    month_labels: Sequence[str],
    configured: Sequence[str],
    twins: Mapping[uuid.UUID, uuid.UUID],
    state: RollupState | None,
    now: datetime,
    settings: Settings,
) -> tuple[Cube, Cube] | None:
    """Check-in timeliness and score bands from the rollups; None when the rollups cannot
    answer exactly (never built, a sample smaller than k, twins that leave a count open)."""
    size, k, zone = settings.dashboard_sample_size, settings.small_cell_k, settings.zone
    if state is None or state.built_with != built_with(settings) or state.refreshed_at is None or size < k:
        return None
    first, last = rules.period_days(period, zone)
    as_of = now.astimezone(zone).date()
    columns = ("kind", "interval", "category", "band", "missed_from", "checkins", "sample")
    rows: list[tuple[Any, ...]] = []
    # Core rows (queries.read, no ORM loading): a year is a thousand or two of them.
    if station_id is not None:
        stmt = select(literal("day"), col(CheckinCell.day), *(col(getattr(CheckinCell, c)) for c in columns)).where(
            col(CheckinCell.station_id) == station_id,
            col(CheckinCell.day) >= first,
            col(CheckinCell.day) <= last,
        )
        if kind is not None:
            stmt = stmt.where(col(CheckinCell.kind) == kind)
        rows.extend(await read(session, stmt))
    else:
        whole, partial = rules.cover(first, last)
        blocks: list[date] = []
        days: list[tuple[date, date]] = []
        for a, b in partial:
            more_blocks, more_days = blocks_within(a, b)
            blocks += more_blocks
            days += more_days
        grain, start = col(CheckinRollup.grain), col(CheckinRollup.start)
        picks = [(grain == "month") & start.in_(whole)] if whole else []
        picks += [(grain == "block") & start.in_(blocks)] if blocks else []
        picks += [(grain == "day") & (start >= a) & (start <= b) for a, b in days]
        stmt = select(grain, start, *(col(getattr(CheckinRollup, c)) for c in columns)).where(
            or_(*picks), col(CheckinRollup.kind) == (kind or ALL)
        )
        found = await read(session, stmt)
        # Open check-ins of a block or month missed from days of the current month: those
        # rows cannot say which are missed yet; their days can.
        unsure = {
            (row[0], row[1], row[6].replace(day=1))
            for row in found
            if row[0] != "day" and row[4] == "open" and _open_as_of(row[6], as_of) is None
        }
        rows.extend(
            row
            for row in found
            if row[0] == "day" or row[4] != "open" or (row[0], row[1], row[6].replace(day=1)) not in unsure
        )
        if unsure:
            missed_col = col(CheckinRollup.missed_from)
            stmt = select(grain, start, *(col(getattr(CheckinRollup, c)) for c in columns)).where(
                grain == "day",
                col(CheckinRollup.category) == "open",
                or_(
                    *(
                        (start >= _span(g, first_day)[0])
                        & (start <= _span(g, first_day)[1])
                        & (missed_col >= m)
                        & (missed_col <= _month_span(m)[1])
                        for g, first_day, m in sorted(unsure)
                    )
                ),
            )
            stmt = stmt.where(col(CheckinRollup.kind) == (kind or ALL))
            rows.extend(await read(session, stmt))

    timed: dict[tuple[str, ...], tuple[int, set[str]]] = {}
    banded: dict[tuple[str, ...], tuple[int, set[str]]] = {}
    for row_grain, day, _kind, interval, category, band, missed, checkins, sample in rows:
        if category == "open":
            category = (_open_as_of(missed, as_of) if row_grain != "day" else None) or (
                "missed" if missed is not None and missed <= as_of else "pending"
            )
        _add(timed, (interval, category), checkins, sample)
        if category in HELD and band:
            _add(banded, (interval, f"{day.year:04d}-{day.month:02d}", band), checkins, sample)
    twin_hex = {a.hex: b.hex for a, b in twins.items()}
    total: dict[str, Sequence[str] | None] = {ALL: None}
    timeliness = samples.cube_of(
        ("interval", "timeliness"), timed, (configured, rules.TIMELINESS), (total, total), size, k, twin_hex
    )
    bands = samples.cube_of(
        ("interval", "month", "band"),
        banded,
        (configured, month_labels, ("elevated", "not_elevated")),
        ({}, total, total),
        size,
        k,
        twin_hex,
    )
    if timeliness is None or bands is None:
        return None
    return timeliness, bands


def _open_as_of(missed: date | None, as_of: date) -> str | None:
    """What a block's or month's row of open check-ins is as of a day: its missed_from is the
    last day any of them is missed from, all within one month; "missed" once that day has
    come, "pending" before that month, None (ask the days) within it."""
    if missed is None or missed.replace(day=1) > as_of:
        return "pending"
    return "missed" if missed <= as_of else None


def _span(grain: str, start: date) -> tuple[date, date]:
    return block_of(start) if grain == "block" else _month_span(start)


def _add(cells: dict[tuple[str, ...], tuple[int, set[str]]], key: tuple[str, ...], n: int, sample: str) -> None:
    # Every id gathered; cut to the sample size once per cell, in _cube.
    count, people = cells.get(key, (0, set()))
    people.update(samples.ids_of(sample))
    cells[key] = (count + n, people)
