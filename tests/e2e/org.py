"""The organisation the browser journeys run in: the demo's people (trim.demo.seed_people,
a fixed seed so names and screenshots are the same every run) plus one small station
whose whole crew a supervisor can add with "Add everyone".

Who is who, and what they may see, is in tests/cast.py and design section 3; here:
- supervisor: Watch Manager Dan Pryce, Northgate Fire Station; logs incidents, sees names only.
- lead:       Morgan Ellery, the programme lead; sees every schedule, reassigns peers.
- peers:      six peer supporters across the four demo stations; each sees only their own.
- admin:      Sam Admin; accounts and stations, nothing confidential.
- harbour_crew: the four people of Harbour Fire Station.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person
from trim.accounts.passwords import hash_password
from trim.config import Settings
from trim.db import AsyncSession
from trim.demo import DEMO_PASSWORD, seed_people

PASSWORD = DEMO_PASSWORD
HARBOUR = "Harbour Fire Station"
HARBOUR_CREW = ["Ffion Baker", "Gareth Lloyd", "Hollie Marsh", "Ibrahim Said"]


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    name: str
    email: str
    staff_number: str
    station_id: uuid.UUID | None

    @classmethod
    def of(cls, person: Person) -> Member:
        return cls(person.id, person.name, person.email, person.staff_number, person.station_id)


@dataclass
class Org:
    stations: dict[str, uuid.UUID]
    supervisor: Member
    lead: Member
    admin: Member
    clinician: Member
    peers: list[Member]
    responders: list[Member]
    harbour_crew: list[Member]
    everyone: dict[uuid.UUID, Member] = field(default_factory=dict)

    def at_station(self, station: str) -> list[Member]:
        return [m for m in self.responders if m.station_id == self.stations[station]]

    def by_id(self, person_id: uuid.UUID) -> Member:
        return self.everyone[person_id]


async def seed_org(session: AsyncSession, *, settings: Settings, now: datetime) -> Org:
    cast = await seed_people(session, settings=settings, now=now, rng=random.Random(2026))
    harbour = await accounts.create_station(session, actor=SYSTEM, name=HARBOUR)
    password_hash = await hash_password(PASSWORD, profile=settings.argon2_profile)
    crew = []
    for n, name in enumerate(HARBOUR_CREW, start=1):
        crew.append(
            await accounts.create_person(
                session,
                actor=SYSTEM,
                data=accounts.PersonInput(
                    f"H{n:03d}", name, name.lower().replace(" ", ".") + "@demo.trim.example", harbour.id, ["responder"]
                ),
                password_hash=password_hash,
            )
        )
    await session.flush()
    stations = {s.name: s.id for s in cast.stations}
    stations[HARBOUR] = harbour.id
    org = Org(
        stations=stations,
        supervisor=Member.of(cast.supervisor),
        lead=Member.of(cast.lead),
        admin=Member.of(cast.admin),
        clinician=Member.of(cast.clinician),
        peers=[Member.of(p) for p in cast.peers],
        responders=[Member.of(p) for p in cast.responders],
        harbour_crew=[Member.of(p) for p in crew],
    )
    for member in [org.supervisor, org.lead, org.admin, org.clinician, *org.peers, *org.responders, *org.harbour_crew]:
        org.everyone[member.id] = member
    return org
