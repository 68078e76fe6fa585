"""Time from incident to first contact, counted ahead: the median and 90th percentile per
month of the incident (and over the period), exact, from a few hundred rollup rows.

A percentile needs the values at two ranks, not every value. Each incident's first
contacts are kept by band of hours (`bucket_of`, monotonic: a higher band never holds a
shorter time) with the exact hours of each, per incident (`ContactCell`: what a station
filter reads) and summed over stations per day and month (`ContactRollup`). Reading is
two steps: the counts per band (summed by the database), which say which band holds each
rank, then the exact hours of those few bands only. So the answer is percentile_cont's
own (the same interpolation on the same float hours), never an estimate. The people
behind each month are a bottom-k sample (dashboard.samples) on a row of its own (`ALL_BANDS`).

A first contact is an exposure's first check-in held or declined, or a request for a peer
by the same person (twins folded: records.retention.live_twins) accepted after the
incident. The marks that move it: the check-in and incident triggers of migration 0634,
and those of 0639 on exposures (incident marked) and on peer_requests (the requester
marked, since only the secret finds their stand-in's exposures: `mark_people`, in the sweep).
Rebuilt with the check-in rollups (rollups.rebuild_incidents), in the same sweep.
"""

from __future__ import annotations

import bisect
import heapq
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, extract, func, insert, or_, select, true
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.dashboard import rules, samples
from trim.dashboard.figures import ALL, Cube, Stat, cube_equations
from trim.dashboard.models import ContactCell, ContactPersonMark, ContactRollup, RollupMark, RollupState
from trim.dashboard.queries import execute as _run
from trim.dashboard.queries import read
from trim.dashboard.rules import Count
from trim.db import dialect_insert
from trim.followups.models import CheckIn, Outcome
from trim.incidents.models import Exposure, Incident
from trim.records import retention
from trim.requests.models import PeerRequest

VERSION = 1  # of the bands and what a row holds; part of rollups.built_with
ALL_BANDS = -1  # the row of every band: count and people, no hours
BATCH = 500
CONTACT_OUTCOMES = (Outcome.completed, Outcome.declined)
# Band edges in hours: 2-hourly to two days, 4-hourly to a week, 12-hourly to 30 days,
# two-daily to 90 days; then one band. Any monotonic edges are exact; these keep a band's
# hours few where first contacts cluster.
EDGES: tuple[float, ...] = (
    *range(0, 48, 2),
    *range(48, 168, 4),
    *range(168, 720, 12),
    *range(720, 2160, 48),
    2160,
)


def built_with() -> str:
    return f"contacts={VERSION}"


def bucket_of(hours: float) -> int:
    """The band of a time in hours (0 below the first edge: a contact before the incident)."""
    return bisect.bisect_right(EDGES, hours)


def _hours_text(values: Iterable[float]) -> str:
    return ",".join(repr(v) for v in values)


def _hours_of(text: str) -> list[float]:
    return list(map(float, text.split(","))) if text else []


# -- building -------------------------------------------------------------------------------------


async def clear(session: AsyncSession) -> None:
    """Everything, for a rebuild from scratch (rollups.refresh, settings changed)."""
    await _run(session, delete(ContactCell))
    await _run(session, delete(ContactRollup))
    await _run(session, delete(ContactPersonMark))


async def mark_people(session: AsyncSession, *, settings: Settings) -> int:
    """Turn the people whose requests changed into marks of the incidents they (or their
    twin: the stand-in of a purged case and the live person are one) were exposed to."""
    people = [row[0] for row in await _run(session, select(col(ContactPersonMark.person_id)))]
    if not people:
        return 0
    await _run(session, delete(ContactPersonMark).where(col(ContactPersonMark.person_id).in_(people)))
    twins = await retention.live_twins(session, settings)
    ids = _with_twins(people, twins)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        await _run(
            session,
            dialect_insert(session, RollupMark)
            .from_select(
                ["incident_id"],
                select(col(Exposure.incident_id)).where(col(Exposure.person_id).in_(chunk)).distinct(),
            )
            .on_conflict_do_nothing(),
        )
    return len(people)


def _with_twins(people: Iterable[uuid.UUID], twins: Mapping[uuid.UUID, uuid.UUID]) -> list[uuid.UUID]:
    """Every id counted as one of these people: each, its live twin, and that one's stand-ins."""
    stand_ins: dict[uuid.UUID, set[uuid.UUID]] = {}
    for stand_in, live in twins.items():
        stand_ins.setdefault(live, set()).add(stand_in)
    found: set[uuid.UUID] = set()
    for person in people:
        counted = twins.get(person, person)
        found.add(counted)
        found.update(stand_ins.get(counted, ()))
    return sorted(found)


async def rebuild_incidents(session: AsyncSession, incident_ids: Sequence[uuid.UUID], *, settings: Settings) -> None:
    """The first-contact rollups of these incidents, and of every day and month they were
    or are in, from their exposures, check-ins and the people's accepted requests."""
    size, zone = settings.dashboard_sample_size, settings.zone
    twins = await retention.live_twins(session, settings)
    days: set[date] = set()
    for start in range(0, len(incident_ids), BATCH):
        batch = list(incident_ids[start : start + BATCH])
        old = select(col(ContactCell.day)).where(col(ContactCell.incident_id).in_(batch)).distinct()
        days.update(row[0] for row in await _run(session, old))
        await _run(session, delete(ContactCell).where(col(ContactCell.incident_id).in_(batch)))
        checked = (
            select(col(CheckIn.exposure_id), func.min(col(CheckIn.recorded_at)).label("checked_at"))
            .where(
                col(CheckIn.incident_id).in_(batch),
                col(CheckIn.outcome).in_(CONTACT_OUTCOMES),
                col(CheckIn.recorded_at).is_not(None),
            )
            .group_by(col(CheckIn.exposure_id))
            .subquery("checked")
        )
        rows = list(
            await _run(
                session,
                select(
                    col(Exposure.incident_id),
                    col(Exposure.person_id),
                    col(Incident.occurred_at),
                    col(Incident.station_id),
                    col(Incident.kind),
                    checked.c.checked_at,
                )
                .join(Incident, col(Incident.id) == col(Exposure.incident_id))
                .outerjoin(checked, checked.c.exposure_id == col(Exposure.id))
                .where(
                    col(Exposure.incident_id).in_(batch),
                    col(Exposure.removed_at).is_(None),
                    col(Incident.source) == "logged",
                ),
            )
        )
        accepted = await _accepted(session, {twins.get(r[1], r[1]) for r in rows}, twins)
        cells: dict[tuple[uuid.UUID, date, uuid.UUID | None, str], tuple[list[float], set[str]]] = {}
        for incident_id, person, occurred_at, station_id, kind, checked_at in rows:
            counted = twins.get(person, person)
            times = accepted.get(counted, [])
            asked_at = times[i] if (i := bisect.bisect_left(times, occurred_at)) < len(times) else None
            first = min((t for t in (checked_at, asked_at) if t is not None), default=None)
            if first is None:
                continue
            key = (incident_id, occurred_at.astimezone(zone).date(), station_id, kind)
            hours, people = cells.setdefault(key, ([], set()))
            hours.append((first - occurred_at).total_seconds() / 3600)
            people.add(person.hex)
        values: list[dict[str, Any]] = []
        for (incident_id, day, station_id, kind), (hours, people) in cells.items():
            where = {"incident_id": incident_id, "day": day, "station_id": station_id, "kind": kind}
            values.extend({"id": uuid.uuid4(), **where, **row} for row in _band_rows(hours, people, size))
            days.add(day)
        if values:
            await _run(session, insert(ContactCell), params=values)
    await rebuild_days(session, sorted(days), size=size)


async def _accepted(
    session: AsyncSession, counted: set[uuid.UUID], twins: Mapping[uuid.UUID, uuid.UUID]
) -> dict[uuid.UUID, list[datetime]]:
    """Each counted person's accepted requests (theirs and their stand-ins'), in time order."""
    ids = _with_twins(counted, twins)
    found: dict[uuid.UUID, list[datetime]] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = await _run(
            session,
            select(col(PeerRequest.requester_id), col(PeerRequest.accepted_at)).where(
                col(PeerRequest.requester_id).in_(chunk), col(PeerRequest.accepted_at).is_not(None)
            ),
        )
        for requester, accepted_at in rows:
            found.setdefault(twins.get(requester, requester), []).append(accepted_at)
    for times in found.values():
        times.sort()
    return found


def _band_rows(hours: Sequence[float], people: set[str], size: int) -> list[dict[str, Any]]:
    """The rows of one group of first contacts: one per band with its exact hours, and
    the row of every band with the people behind."""
    banded: dict[int, list[float]] = {}
    for value in hours:
        banded.setdefault(bucket_of(value), []).append(value)
    rows = [
        {"bucket": bucket, "contacts": len(values), "hours": _hours_text(sorted(values)), "sample": ""}
        for bucket, values in sorted(banded.items())
    ]
    rows.append({"bucket": ALL_BANDS, "contacts": len(hours), "hours": "", "sample": samples.sample_of(people, size)})
    return rows


def _summed(rows: Iterable[Any], size: int, start_of: date | None = None) -> list[dict[str, Any]]:
    """Rows (start, kind, bucket, contacts, hours, sample) summed by start (or `start_of`),
    kind and bucket: counts added, hours merged in order, samples merged."""
    out: dict[tuple[date, str, int], tuple[int, list[list[float]], list[list[str]]]] = {}
    for start, kind, bucket, contacts, hours, sample in rows:
        count, hour_lists, id_lists = out.setdefault((start_of or start, kind, bucket), (0, [], []))
        hour_lists.append(_hours_of(hours))
        id_lists.append(samples.ids_of(sample))
        out[(start_of or start, kind, bucket)] = (count + contacts, hour_lists, id_lists)
    return [
        {
            "start": start,
            "kind": kind,
            "bucket": bucket,
            "contacts": count,
            "hours": _hours_text(heapq.merge(*hour_lists)),
            "sample": samples.sample_of(samples.merge(id_lists, size), size) if bucket == ALL_BANDS else "",
        }
        for (start, kind, bucket), (count, hour_lists, id_lists) in out.items()
    ]


async def rebuild_days(session: AsyncSession, days: Sequence[date], *, size: int) -> None:
    """Day rollups of these days from their cells (each kind, and every kind together),
    then block rollups of their blocks (rules.block_of), then month rollups of their months."""
    columns = ("kind", "bucket", "contacts", "hours", "sample")
    for start in range(0, len(days), 100):
        chunk = list(days[start : start + 100])
        found = list(
            await _run(
                session,
                select(col(ContactCell.day), *(col(getattr(ContactCell, c)) for c in columns)).where(
                    col(ContactCell.day).in_(chunk)
                ),
            )
        )
        summed = _summed(found, size) + _summed(((r[0], ALL, *r[2:]) for r in found), size)
        await _run(
            session,
            delete(ContactRollup).where(col(ContactRollup.grain) == "day", col(ContactRollup.start).in_(chunk)),
        )
        if summed:
            await _run(
                session, insert(ContactRollup), params=[{"id": uuid.uuid4(), "grain": "day", **r} for r in summed]
            )
    for grain, source, starts, span_of in (
        ("block", "day", sorted({rules.block_of(day)[0] for day in days}), rules.block_of),
        ("month", "block", sorted({day.replace(day=1) for day in days}), _month_span),
    ):
        for first in starts:
            in_span = (col(ContactRollup.start) >= first, col(ContactRollup.start) <= span_of(first)[1])
            rows = await _run(
                session,
                select(col(ContactRollup.start), *(col(getattr(ContactRollup, c)) for c in columns)).where(
                    col(ContactRollup.grain) == source, *in_span
                ),
            )
            merged = _summed(rows, size, first)
            await _run(session, delete(ContactRollup).where(col(ContactRollup.grain) == grain, *in_span))
            if merged:
                await _run(
                    session, insert(ContactRollup), params=[{"id": uuid.uuid4(), "grain": grain, **r} for r in merged]
                )


def _month_span(first: date) -> tuple[date, date]:
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


# -- reading --------------------------------------------------------------------------------------


async def first_contact(
    session: AsyncSession,
    *,
    period: rules.Period,
    station_id: uuid.UUID | None,
    kind: str | None,
    month_labels: Sequence[str],
    twins: Mapping[uuid.UUID, uuid.UUID],
    state: RollupState | None,
    built_with: str,
    settings: Settings,
) -> tuple[Cube, dict[str, Stat]] | None:
    """The first-contact figure (contacts per month with the people behind, and the median
    and 90th percentile of the hours) from the rollups; None when they cannot answer
    exactly (not built with these settings, a sample smaller than k, twins that leave a
    count open)."""
    size, k, zone = settings.dashboard_sample_size, settings.small_cell_k, settings.zone
    if state is None or state.built_with != built_with or state.refreshed_at is None or size < k:
        return None
    first, last = rules.period_days(period, zone)
    table: Any
    if station_id is not None:
        table = ContactCell
        start_column = col(ContactCell.day)
        scope = [col(ContactCell.station_id) == station_id, start_column >= first, start_column <= last]
    else:
        table = ContactRollup
        start_column = col(ContactRollup.start)
        whole, partial = rules.cover(first, last)
        blocks: list[date] = []
        days: list[tuple[date, date]] = []
        for a, b in partial:
            more_blocks, more_days = rules.blocks_within(a, b)
            blocks += more_blocks
            days += more_days
        grain = col(ContactRollup.grain)
        picks = [(grain == "month") & start_column.in_(whole)] if whole else []
        picks += [(grain == "block") & start_column.in_(blocks)] if blocks else []
        picks += [(grain == "day") & (start_column >= a) & (start_column <= b) for a, b in days]
        # Every kind together has rows of its own (kind "all"); cells only each kind.
        scope = [or_(*picks) if picks else true(), col(ContactRollup.kind) == (kind or ALL)]
    if kind is not None and station_id is not None:
        scope.append(col(table.kind) == kind)
    bucket, contacts = col(table.bucket), col(table.contacts)
    # Summed by month in the database (a row each costs more than its ids or hours).
    year, month = extract("year", start_column).label("year"), extract("month", start_column).label("month")

    def label(y: Any, m: Any) -> str:
        return f"{int(y):04d}-{int(m):02d}"

    # The people, and the count, of each month.
    counted: dict[str, tuple[int, list[list[str]]]] = {}
    for y, m, n, sample in await read(
        session,
        select(year, month, func.sum(contacts), func.aggregate_strings(col(table.sample), samples.SEPARATOR))
        .where(*scope, bucket == ALL_BANDS)
        .group_by(year, month),
    ):
        counted[label(y, m)] = (int(n), [[i for i in samples.ids_of(sample or "") if i]])
    # How many in each band, per month (the database adds them up over kinds).
    bands: dict[str, dict[int, int]] = {}
    every: dict[int, int] = {}
    for y, m, band, n in await read(
        session,
        select(year, month, bucket, func.sum(contacts))
        .where(*scope, bucket != ALL_BANDS)
        .group_by(year, month, bucket),
    ):
        by_band = bands.setdefault(label(y, m), {})
        by_band[band] = by_band.get(band, 0) + int(n)
        every[band] = every.get(band, 0) + int(n)
    bands[ALL] = every
    # Which band holds each rank a percentile needs, then the exact hours of those bands.
    wanted: dict[str, dict[int, tuple[int, ...]]] = {group: _ranks(by_band) for group, by_band in bands.items()}
    needed = sorted({band for per_group in wanted.values() for band in per_group})
    hours: dict[tuple[str, int], list[list[float]]] = {}
    if needed:
        for y, m, band, text in await read(
            session,
            select(year, month, bucket, func.aggregate_strings(col(table.hours), ","))
            .where(*scope, bucket.in_(needed), col(table.hours) != "")
            .group_by(year, month, bucket),
        ):
            # Parsed only where a percentile needs it: a band another month needs is
            # fetched for this month too, and most of those are not.
            month_label = label(y, m)
            for_month, for_all = band in wanted.get(month_label, {}), band in wanted[ALL]
            if for_month or for_all:
                values = _hours_of(text)
                if for_month:
                    hours.setdefault((month_label, band), []).append(values)
                if for_all:
                    hours.setdefault((ALL, band), []).append(values)

    twin_hex = {a.hex: b.hex for a, b in twins.items()}
    cells: dict[tuple[str, ...], Count] = {}
    stats: dict[str, Stat] = {}
    all_ids: list[set[str]] = []
    for group in [*month_labels, ALL]:
        if group == ALL:
            n = sum(count for count, _ in counted.values())
            ids = samples.merge(all_ids, size)
        else:
            n, id_lists = counted.get(group, (0, []))
            ids = samples.merge(id_lists, size)
            all_ids.append(ids)
        people = samples.people(ids, size, k, twin_hex)
        if people is None:
            return None
        cells[(group,)] = Count(n, people)
        if n:
            by_band = bands.get(group, {})
            median = _percentile(0.5, by_band, hours, group)
            p90 = _percentile(0.9, by_band, hours, group)
            stats[group] = Stat(median, p90, people)
    months = list(month_labels)
    return Cube(("month",), cells, cube_equations([months], [{ALL: months}])), stats


def _positions(n: int, p: float) -> tuple[int, int, float]:
    """percentile_cont's two ranks (0-based) and the weight of the second."""
    position = p * (n - 1)
    low = math.floor(position)
    return low, math.ceil(position), position - low


def _ranks(by_band: Mapping[int, int]) -> dict[int, tuple[int, ...]]:
    """Band -> the ranks (0-based, over the whole group) the median and 90th percentile need there."""
    n = sum(by_band.values())
    if not n:
        return {}
    needed = sorted({r for p in (0.5, 0.9) for r in _positions(n, p)[:2]})
    found: dict[int, tuple[int, ...]] = {}
    below = 0
    for band in sorted(by_band):
        inside = [r for r in needed if below <= r < below + by_band[band]]
        if inside:
            found[band] = tuple(inside)
        below += by_band[band]
    return found


def _percentile(
    p: float, by_band: Mapping[int, int], hours: Mapping[tuple[str, int], list[list[float]]], group: str
) -> float:
    """percentile_cont(p) of the group's hours: the values at its two ranks, from their bands."""
    n = sum(by_band.values())
    low, high, weight = _positions(n, p)

    def at(rank: int) -> float:
        below = 0
        for band in sorted(by_band):
            if rank < below + by_band[band]:
                ordered = sorted(v for values in hours[(group, band)] for v in values)
                return ordered[rank - below]
            below += by_band[band]
        raise AssertionError(rank)

    first = at(low)
    return first if high == low else first + (at(high) - first) * weight
