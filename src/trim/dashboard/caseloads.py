"""Peer caseloads from rollups: how many people each active peer has an open check-in
with, from the incidents of the period.

Counted live, this read every open check-in of the period's incidents on every request
(a year at national scale: ~35,000 rows hashed per request). It is a count of distinct
people per peer, so no sum of per-day counts gives it: the same person with open
check-ins from two incidents is one person. What does is the set of pairs itself, kept
small and in order: each incident keeps its open (peer, person) pairs (`CaseloadCell`, the
person by number: dashboard_person_numbers), and each kind of incident and peer
keeps them packed (`Caseload`): sorted distinct 8-byte numbers, the incident's local day
ordinal << 32 | person number. A period is then two binary searches per peer and a set of
the numbers between: exact, a few milliseconds for a year. Each kind's rows are packed
again into one (`CaseloadPack`), which is what a request reads: one row, not one per peer.

Rebuilt with the incident by the rollup sweep (dashboard.rollups: a check-in recorded,
cancelled, reassigned to another peer or moved marks its incident), the peers it had and
has both repacked. Which peers are active, and still peers, is read live (a role or an
account changes without touching a check-in). A station filter is counted live, as
people exposed is; twins (a purged case and a live one) are one person, folded by number.
"""

from __future__ import annotations

import sys
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import String, cast, delete, func, insert, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.models import Person, PersonRole, Role
from trim.config import Settings
from trim.dashboard import rules
from trim.dashboard.exposed_people import little_endian, numbers_for, packed, twin_numbers, unpacked_array
from trim.dashboard.figures import ALL, Cube, cube_equations
from trim.dashboard.models import Caseload, CaseloadCell, CaseloadPack, PersonNumber, RollupState
from trim.dashboard.queries import DashboardFilter, read
from trim.dashboard.queries import execute as _run
from trim.dashboard.rules import Count
from trim.followups.models import CheckIn
from trim.incidents.models import Incident

VERSION = 1
EVERY_KIND = ""
BATCH = 500


def built_with() -> str:
    return f"caseloads={VERSION}"


def _halves(pairs: array[int]) -> tuple[array[int], array[int]]:
    """The day ordinals (high 32 bits) and person numbers (low 32 bits) of packed pairs,
    taken in C: the pairs' bytes read as 4-byte halves, every other one."""
    halves = array("I")
    halves.frombytes(pairs.tobytes())
    low, high = (halves[0::2], halves[1::2]) if sys.byteorder == "little" else (halves[1::2], halves[0::2])
    return high, low


# -- building -------------------------------------------------------------------------------------


async def clear(session: AsyncSession) -> None:
    await _run(session, delete(CaseloadCell))
    await _run(session, delete(Caseload))
    await _run(session, delete(CaseloadPack))


async def rebuild_incidents(session: AsyncSession, incident_ids: Sequence[uuid.UUID], *, settings: Settings) -> None:
    """The open (peer, person) pairs of these incidents, and the packed pairs of every peer
    they had or have."""
    zone = settings.zone
    touched: set[uuid.UUID] = set()
    for start in range(0, len(incident_ids), BATCH):
        batch = list(incident_ids[start : start + BATCH])
        had = select(col(CaseloadCell.peer_id)).where(col(CaseloadCell.incident_id).in_(batch)).distinct()
        touched.update(row[0] for row in await _run(session, had))
        await _run(session, delete(CaseloadCell).where(col(CaseloadCell.incident_id).in_(batch)))
        rows = list(
            await _run(
                session,
                select(
                    col(CheckIn.incident_id),
                    col(CheckIn.peer_id),
                    col(CheckIn.person_id),
                    col(Incident.occurred_at),
                    col(Incident.kind),
                    col(PersonNumber.number),
                )
                .join(Incident, col(Incident.id) == col(CheckIn.incident_id))
                .outerjoin(PersonNumber, col(PersonNumber.person_id) == col(CheckIn.person_id))
                .where(
                    col(CheckIn.incident_id).in_(batch),
                    col(CheckIn.outcome).is_(None),
                    col(CheckIn.peer_id).is_not(None),
                    col(Incident.source) == "logged",
                ),
            )
        )
        given = await numbers_for(session, {person for _, _, person, _, _, number in rows if number is None})
        cells: dict[tuple[uuid.UUID, uuid.UUID, int], tuple[date, str]] = {}
        for incident_id, peer_id, person, occurred_at, kind, number in rows:
            n = number if number is not None else given[person]
            cells[(incident_id, peer_id, n)] = (occurred_at.astimezone(zone).date(), kind)
        if cells:
            await _run(
                session,
                insert(CaseloadCell),
                params=[
                    {"incident_id": i, "peer_id": p, "number": n, "day": day, "kind": kind}
                    for (i, p, n), (day, kind) in cells.items()
                ],
            )
        touched.update(peer for _, peer, _ in cells)
    await _rebuild_peers(session, sorted(touched))


async def _rebuild_peers(session: AsyncSession, peers: Sequence[uuid.UUID]) -> None:
    kinds: set[str] = set()
    for start in range(0, len(peers), BATCH):
        chunk = list(peers[start : start + BATCH])
        had = select(col(Caseload.kind)).where(col(Caseload.peer_id).in_(chunk)).distinct()
        kinds.update(row[0] for row in await _run(session, had))
        await _run(session, delete(Caseload).where(col(Caseload.peer_id).in_(chunk)))
        by_peer: dict[tuple[uuid.UUID, str], list[int]] = {}
        cells = select(
            col(CaseloadCell.peer_id), col(CaseloadCell.day), col(CaseloadCell.kind), col(CaseloadCell.number)
        )
        for peer, day, kind, number in await _run(session, cells.where(col(CaseloadCell.peer_id).in_(chunk))):
            value = day.toordinal() << 32 | number
            by_peer.setdefault((peer, kind), []).append(value)
            by_peer.setdefault((peer, EVERY_KIND), []).append(value)
        if by_peer:
            await _run(
                session,
                insert(Caseload),
                params=[
                    {"peer_id": peer, "kind": kind, "pairs": packed(values, "q")}
                    for (peer, kind), values in by_peer.items()
                ],
            )
        kinds.update(kind for _, kind in by_peer)
    await _repack(session, sorted(kinds))


async def _repack(session: AsyncSession, kinds: Sequence[str]) -> None:
    """Each of these kinds' peer rows packed into its one `CaseloadPack` row (none when no
    peer has an open check-in of that kind). The sweep runs one at a time (it holds the
    rollup state's row), so no other sweep repacks from rows it has not seen."""
    for kind in kinds:
        await _run(session, delete(CaseloadPack).where(col(CaseloadPack.kind) == kind))
        rows = await read(
            session,
            select(cast(col(Caseload.peer_id), String), col(Caseload.pairs))
            .where(col(Caseload.kind) == kind)
            .order_by(col(Caseload.peer_id)),
        )
        if not rows:
            continue
        ends, total = [], 0
        for _, pairs in rows:
            total += len(pairs) // 8
            ends.append(total)
        days, persons = _halves(unpacked_array(b"".join(pairs for _, pairs in rows), "q"))
        await _run(
            session,
            insert(CaseloadPack).values(
                kind=kind,
                peers=",".join(peer for peer, _ in rows),
                ends=little_endian(array("I", ends)),
                days=little_endian(days),
                persons=little_endian(persons),
            ),
        )


# -- reading --------------------------------------------------------------------------------------


async def caseload_cube(
    session: AsyncSession,
    *,
    filters: DashboardFilter,
    twins: Mapping[uuid.UUID, uuid.UUID],
    state: RollupState | None,
    built_with: str,
    settings: Settings,
) -> Cube | None:
    """Active peers by caseload band over the period's incidents (of the kind chosen);
    None with a station filter, or before the rollups are built with these settings
    (counted live then)."""
    if filters.station_id is not None:
        return None
    if state is None or state.built_with != built_with or state.refreshed_at is None:
        return None
    first, last = rules.period_days(filters.period, settings.zone)
    low, high = first.toordinal(), last.toordinal() + 1
    # Peers as text on both sides: a few thousand ids, compared, never turned into UUIDs.
    stmt = select(
        col(CaseloadPack.peers), col(CaseloadPack.ends), col(CaseloadPack.days), col(CaseloadPack.persons)
    ).where(col(CaseloadPack.kind) == (filters.kind or EVERY_KIND))
    fold = await _folded_numbers(session, twins) if twins else {}
    people: dict[str, int] = {}
    for peer_text, ends_blob, days_blob, persons_blob in await read(session, stmt):
        days, persons = unpacked_array(days_blob, "I"), unpacked_array(persons_blob, "I")
        begin = 0
        for peer, end in zip(peer_text.split(","), unpacked_array(ends_blob, "I"), strict=True):
            a = bisect_left(days, low, begin, end)
            b = bisect_left(days, high, a, end)
            if b > a:
                numbers = persons[a:b]
                people[peer] = len({fold.get(n, n) for n in numbers} if fold else set(numbers))
            begin = end
    # The active peers: every peer, less the switched-off accounts (both from small indexes;
    # a join of the two is answered with a scan of the whole roster). The peers come as
    # one string: a row each costs more than the rest of the count.
    roles = select(func.aggregate_strings(cast(col(PersonRole.person_id), String), ",")).where(
        col(PersonRole.role) == Role.peer
    )
    off = select(cast(col(Person.id), String)).where(col(Person.active).is_(False), col(Person.is_pseudonym).is_(False))
    switched_off = {row[0] for row in await read(session, off)}
    bands: dict[str, int] = {label: 0 for _, _, label in rules.CASELOAD_BANDS}
    peers = 0
    every = (await read(session, roles))[0][0]
    for peer in every.split(",") if every else ():
        if peer in switched_off:
            continue
        peers += 1
        bands[rules.caseload_band(people.get(peer, 0))] += 1
    labels = [label for _, _, label in rules.CASELOAD_BANDS]
    cells: dict[tuple[str, ...], Count] = {(label,): Count(bands[label], bands[label]) for label in labels}
    cells[(ALL,)] = Count(peers, peers)
    return Cube(("caseload",), cells, cube_equations([labels], [{ALL: labels}]))


async def _folded_numbers(session: AsyncSession, twins: Mapping[uuid.UUID, uuid.UUID]) -> dict[int, int]:
    """Each number of a stand-in or live twin mapped to one number per live person (its own
    when it has one, else the first of its stand-ins'), so twins count once."""
    numbered = await twin_numbers(session, twins)
    fold: dict[int, int] = {}
    chosen: dict[uuid.UUID, int] = {}
    for stand_in, live in sorted(twins.items()):
        if stand_in not in numbered:
            continue
        key = numbered.get(live, chosen.setdefault(live, numbered[stand_in]))
        fold[numbered[stand_in]] = key
    return fold
