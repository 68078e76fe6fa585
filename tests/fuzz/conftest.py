"""The API as an attacker (or a careless integration) would meet it: the live server, the
named cast signed in over HTTP, one incident with check-ins so real ids exist, and an
integration token.

`callers` maps each role to a requests.Session that is already signed in (session cookie
plus the x-csrftoken header, or a bearer token). All sign in before any fuzzing, because
fuzzing POST /api/session soon trips the failed sign-in limit for 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

import requests
from tests.cast import PASSWORD, Cast, make_cast
from tests.helpers import checkins_of, make_incident
from tests.live_server import LiveServer, live_server
from trim.accounts import signin
from trim.db import AsyncSession

# Signed-in roles by the cast member they use (tests/cast.py says what each may see).
PEOPLE = {
    "responder": "responder",
    "peer": "peer",
    "lead": "lead",
    "clinician": "clinician",
    "supervisor": "supervisor",
    "admin": "admin",
}
ROLES = ["anonymous", *PEOPLE, "integration"]


@dataclass
class Known:
    """Real ids, so generated requests reach real records, not only 404s."""

    stations: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    checkins: list[str] = field(default_factory=list)
    staff_numbers: list[str] = field(default_factory=list)


@pytest.fixture(scope="package")
def live(postgres_url: str) -> Iterator[LiveServer]:
    with live_server(postgres_url) as server:
        yield server


@pytest.fixture(scope="package")
def world(live: LiveServer) -> tuple[Cast, Known, str]:
    async def arrange(session: AsyncSession) -> tuple[Cast, Known, str]:
        cast = await make_cast(session)
        now = live.clock()
        incident = await make_incident(
            session,
            actor=cast.actor("lead"),
            station=cast.station_a,
            people=[cast.responder, cast.supervisor],
            occurred_at=now - timedelta(days=4),
            now=now,
            settings=live.settings,
        )
        _, secret = await signin.create_token(session, name="dispatch", scopes=["incidents:write"], now=now)
        checkins = [c.id for p in (cast.responder, cast.supervisor) for c in await checkins_of(session, p)]
        everyone = [cast.person(who) for who in PEOPLE] + [cast.other_peer, cast.other_clinician]
        known = Known(
            stations=[str(s.id) for s in (cast.station_a, cast.station_b, cast.station_c)],
            people=[str(p.id) for p in everyone],
            peers=[str(cast.peer.id), str(cast.other_peer.id)],
            incidents=[str(incident.id)],
            checkins=[str(c) for c in checkins],
            staff_numbers=[p.staff_number for p in everyone],
        )
        return cast, known, secret

    return live.run_db(arrange)


@pytest.fixture(scope="package")
def known(world: tuple[Cast, Known, str]) -> Known:
    return world[1]


def _signed_in(base_url: str, email: str) -> requests.Session:
    http = requests.Session()
    answer = http.post(f"{base_url}/api/session", json={"email": email, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200, answer.text
    http.headers["x-csrftoken"] = http.cookies["csrftoken"]
    return http


@pytest.fixture(scope="package")
def callers(live: LiveServer, world: tuple[Cast, Known, str]) -> Iterator[dict[str, requests.Session]]:
    cast, _, secret = world
    sessions = {"anonymous": requests.Session()}
    for role, who in PEOPLE.items():
        sessions[role] = _signed_in(live.url, cast.person(who).email)
    integration = requests.Session()
    integration.headers["Authorization"] = f"Bearer {secret}"
    sessions["integration"] = integration
    yield sessions
    for http in sessions.values():
        http.close()
