"""The named cast every access test uses, each with what they may see.

- responder:   an exposed responder at Station A; sees only their own record.
- peer:        a peer supporter at Station B; sees what is assigned to them.
- other_peer:  a peer supporter at Station C; sees nothing of the responder's.
- lead:        the programme lead; sees everything but answers and notes.
- clinician:   sees referrals addressed to them, with consent.
- other_clinician: sees nothing of the responder's.
- supervisor:  watch manager at Station A; logs incidents, sees names only.
- admin:       accounts and stations; never confidential content.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, exists, insert, literal, or_
from sqlalchemy import select as select_core
from sqlmodel import col, select

from trim.accounts import service
from trim.accounts.actor import SYSTEM, Actor
from trim.accounts.models import Person, Station
from trim.accounts.passwords import hash_password_sync
from trim.db import AsyncSession, metadata
from trim.notifications.models import OutboxMessage

PASSWORD = "cast-password-long-enough"
_HASH = hash_password_sync(PASSWORD, profile="cheapest")
_numbers = itertools.count(1)

BASE_URL = "https://testserver.local"


async def make_station(session: AsyncSession, name: str | None = None) -> Station:
    return await service.create_station(session, actor=SYSTEM, name=name or f"Station {uuid.uuid4().hex[:6]}")


async def make_person(
    session: AsyncSession,
    *,
    roles: list[str] | None = None,
    station: Station | None = None,
    name: str | None = None,
    email: str | None = None,
    password: bool = True,
) -> Person:
    n = next(_numbers)
    name = name or f"Person {n}"
    return await service.create_person(
        session,
        actor=SYSTEM,
        data=service.PersonInput(
            staff_number=f"T{n:05d}-{uuid.uuid4().hex[:4]}",
            name=name,
            email=email or f"person{n}-{uuid.uuid4().hex[:6]}@example.org",
            station_id=station.id if station else None,
            roles=roles or ["responder"],
        ),
        password_hash=_HASH if password else None,
    )


def actor_for(person: Person, roles: list[str]) -> Actor:
    return Actor(
        id=person.id, name=person.name, email=person.email, roles=frozenset(roles), station_id=person.station_id
    )


@dataclass
class Cast:
    station_a: Station
    station_b: Station
    station_c: Station
    responder: Person
    peer: Person
    other_peer: Person
    lead: Person
    clinician: Person
    other_clinician: Person
    supervisor: Person
    admin: Person

    def actor(self, who: str) -> Actor:
        person: Person = getattr(self, who)
        return actor_for(person, CAST_ROLES[who])

    def person(self, who: str) -> Person:
        person: Person = getattr(self, who)
        return person


CAST_ROLES = {
    "responder": ["responder"],
    "peer": ["responder", "peer"],
    "other_peer": ["responder", "peer"],
    "lead": ["lead"],
    "clinician": ["clinician"],
    "other_clinician": ["clinician"],
    "supervisor": ["supervisor", "responder"],
    "admin": ["admin"],
}


async def make_cast(session: AsyncSession) -> Cast:
    a = await make_station(session, "Station A")
    b = await make_station(session, "Station B")
    c = await make_station(session, "Station C")
    stations = {
        "responder": a,
        "peer": b,
        "other_peer": c,
        "lead": a,
        "supervisor": a,
        "admin": None,
        "clinician": None,
        "other_clinician": None,
    }
    people = {}
    for who, roles in CAST_ROLES.items():
        people[who] = await make_person(
            session, roles=roles, station=stations[who], name=who.replace("_", " ").title(), email=f"{who}@example.org"
        )
    # The cast is in post before any story starts: the lead's notices of the clinicians' and
    # the admin's privileged roles are not part of what a test sends.
    await session.exec(delete(OutboxMessage))
    await session.commit()
    return Cast(station_a=a, station_b=b, station_c=c, **people)


# -- the same cast again, quickly ---------------------------------------------------------

# Per database: the rows make_cast wrote there the first time, table by table.
_SNAPSHOTS: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {}
_CAST_IDS: dict[str, dict[str, uuid.UUID]] = {}


async def _is_empty(session: AsyncSession) -> bool:
    anything = or_(literal(False), *(exists().select_from(table) for table in metadata.sorted_tables))
    conn = await session.connection()
    return not (await conn.execute(select_core(anything))).scalar()


async def cast_on(session: AsyncSession, database: str | None) -> Cast:
    """make_cast, or on a database this run has seen it made on (and that is empty, as it
    was then), the very rows it wrote put back: a few INSERTs instead of eleven service
    calls with their audit events. Ids and timestamps are those of the first time."""
    if database is None or not await _is_empty(session):
        return await make_cast(session)
    snapshot = _SNAPSHOTS.get(database)
    if snapshot is None:
        cast = await make_cast(session)
        conn = await session.connection()
        rows = [
            (table, [dict(r) for r in (await conn.execute(table.select())).mappings()])
            for table in metadata.sorted_tables
        ]
        _SNAPSHOTS[database] = [(table, found) for table, found in rows if found]
        _CAST_IDS[database] = {attr: getattr(cast, attr).id for attr in Cast.__dataclass_fields__}
        return cast
    conn = await session.connection()
    for table, found in snapshot:
        await conn.execute(insert(table), found)
    await session.commit()
    ids = _CAST_IDS[database]
    people = {p.id: p for p in await session.exec(select(Person).where(col(Person.id).in_(ids.values())))}
    stations = {s.id: s for s in await session.exec(select(Station).where(col(Station.id).in_(ids.values())))}
    found_all = {**people, **stations}
    return Cast(**{attr: found_all[ids[attr]] for attr in Cast.__dataclass_fields__})


async def sign_in(client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign in through the API; later unsafe requests carry the CSRF header."""
    response = await client.post("/api/session", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def signed_in(
    client: AsyncTestClient[Litestar], person: Person | None
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """Another browser on the running app, for this person (None: signed out)."""
    other = AsyncTestClient(app=client.app, base_url=BASE_URL)
    # Share the running app's event loop (and so its database pool); no second lifespan.
    other.blocking_portal = client.blocking_portal
    if person is not None:
        await sign_in(other, person.email)
    yield other
