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
from tests.helpers import answers_for, checkins_of, make_incident
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
    clinicians: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    checkins: list[str] = field(default_factory=list)
    staff_numbers: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    referrals: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@dataclass
class World:
    cast: Cast
    token: str
    checkins: dict[str, tuple[str, str]]  # check-in id -> (person id, assigned peer id)
    incident_id: str


@pytest.fixture(scope="package")
def live(postgres_url: str) -> Iterator[LiveServer]:
    with live_server(postgres_url) as server:
        yield server


@pytest.fixture(scope="package")
def world(live: LiveServer) -> World:
    """The cast, one incident four days ago (the responder and the supervisor exposed, their
    day-3 check-ins due), and an integration token."""

    async def arrange(session: AsyncSession) -> World:
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
        checkins = {
            str(c.id): (str(c.person_id), str(c.peer_id))
            for p in (cast.responder, cast.supervisor)
            for c in await checkins_of(session, p)
        }
        return World(cast=cast, token=secret, checkins=checkins, incident_id=str(incident.id))

    return live.run_db(arrange)


def _signed_in(base_url: str, email: str) -> requests.Session:
    http = requests.Session()
    answer = http.post(f"{base_url}/api/session", json={"email": email, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200, answer.text
    http.headers["x-csrftoken"] = http.cookies["csrftoken"]
    return http


@pytest.fixture(scope="package")
def callers(live: LiveServer, world: World) -> Iterator[dict[str, requests.Session]]:
    sessions = {"anonymous": requests.Session()}
    for role, who in PEOPLE.items():
        sessions[role] = _signed_in(live.url, world.cast.person(who).email)
    integration = requests.Session()
    integration.headers["Authorization"] = f"Bearer {world.token}"
    sessions["integration"] = integration
    yield sessions
    for http in sessions.values():
        http.close()


@pytest.fixture(scope="package")
def known(live: LiveServer, world: World, callers: dict[str, requests.Session]) -> Known:
    """Every kind of record the API serves, made through the API itself: a recorded
    check-in with a safety concern (an urgent flag), a referral of it, a request for a peer."""
    cast = world.cast
    url = live.url
    day3 = next(
        cid for cid, (person, _) in world.checkins.items() if person == str(cast.responder.id)
    )  # the first by offset
    peer = next(p for p in (cast.peer, cast.other_peer) if str(p.id) == world.checkins[day3][1])
    with _signed_in(url, peer.email) as assigned:
        recorded = assigned.post(
            f"{url}/api/checkins/{day3}/record",
            headers={"Idempotency-Key": "fuzz-world-1"},
            json={"outcome": "completed", "answers": answers_for("day3", risk_yes=3), "safety_concern": True},
            timeout=10,
        )
    assert recorded.status_code == 201, recorded.text
    flags = [f["id"] for f in recorded.json()["flags"]]
    assert flags, recorded.text
    referral = callers["lead"].post(
        f"{url}/api/flags/{flags[0]}/referral",
        json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        timeout=10,
    )
    assert referral.status_code == 201, referral.text
    asked = callers["responder"].post(
        f"{url}/api/requests",
        json={
            "urgency": "this_week",
            "contact_method": "phone",
            "contact": "020 7946 0123",
            "avoid_own_station": False,
            "message": "Could do with a chat.",
            "safety_concern": False,
        },
        timeout=10,
    )
    assert asked.status_code == 201, asked.text
    everyone = [cast.person(who) for who in PEOPLE] + [cast.other_peer, cast.other_clinician]
    return Known(
        stations=[str(s.id) for s in (cast.station_a, cast.station_b, cast.station_c)],
        people=[str(p.id) for p in everyone],
        peers=[str(cast.peer.id), str(cast.other_peer.id)],
        clinicians=[str(cast.clinician.id), str(cast.other_clinician.id)],
        incidents=[world.incident_id],
        checkins=list(world.checkins),
        staff_numbers=[p.staff_number for p in everyone],
        flags=flags,
        referrals=[referral.json()["id"]],
        requests=[asked.json()["id"]],
    )
