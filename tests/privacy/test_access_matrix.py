"""The confidentiality contract, route by route and role by role.

This walks the application's own route table. Every route must have an entry
below (a new route without one fails), saying which of the cast reach it for the
seeded records; everyone else signed in must get 404 (never 403: existence is
itself confidential), and a signed-out caller gets 401 from the API and the
sign-in page from a page. Reads are called as every role; changes are called
only as the roles that must be refused, so the seeded organisation stays as it is.

The cast (letters): R the exposed responder, P the peer assigned to them, O another
peer, L the lead, C the clinician the referral went to, K another clinician,
S the supervisor who logged the incident, A the admin, M a TRiM manager (a peer with the
trim_manager role, assigned to nobody here: made after the seeded incident, so no
assignment picks them), who holds planning meetings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, make_person, sign_in, signed_in
from tests.conftest import BASE_URL, FakeClock
from tests.helpers import answers_for
from trim.db import AsyncSession

ROLES = "RPOLCKSAM"
EVERYONE = ROLES
PUBLIC = "public"


@dataclass(frozen=True)
class Rule:
    allow: str  # letters of the cast who reach it; PUBLIC for everyone, signed in or not
    ids: dict[str, str] = field(default_factory=dict)  # which seeded record fills a path parameter
    json: dict[str, Any] | list[Any] | None = None
    form: dict[str, str] | None = None
    lists: tuple[str, str] | None = None  # (seeded record, letters whose answer may mention it)
    signed_out: int | None = None  # a route reached by a secret link answers this instead of 401


RECORD = {"outcome": "completed", "answers": answers_for("day28"), "safety_concern": False}
INCIDENT = {
    "occurred_at": "2026-10-01T10:00:00Z",
    "kind": "other",
    "station_id": "{station_id}",
    "summary": "x",
    "exposures": [],
}
REQUEST = {"urgency": "today", "contact_method": "in_person", "safety_concern": False}

EXPECT: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule(PUBLIC),
    ("GET", "/health/live"): Rule(PUBLIC),
    ("GET", "/health/ready"): Rule(PUBLIC),
    # the installable app (section 16): nothing in them about anyone
    ("GET", "/manifest.webmanifest"): Rule(PUBLIC),
    ("GET", "/sw.js"): Rule(PUBLIC),
    ("GET", "/offline"): Rule(PUBLIC),
    ("GET", "/api/me/offline-key"): Rule(EVERYONE),  # one's own device key
    ("GET", "/signin"): Rule(PUBLIC),
    ("POST", "/signin"): Rule(PUBLIC),
    ("POST", "/api/session"): Rule(PUBLIC),
    ("GET", "/static/{file_path:path}"): Rule(PUBLIC, ids={"file_path": "css/app.css"}),
    ("GET", "/schema"): Rule(PUBLIC),
    ("GET", "/schema/openapi.json"): Rule(PUBLIC),
    ("GET", "/schema/{path:str}"): Rule(PUBLIC, ids={"path": "openapi.json"}),
    ("GET", "/signin/code"): Rule(PUBLIC),  # the second step: only a half-signed-in session gets the form
    ("POST", "/signin/code"): Rule(PUBLIC),
    ("GET", "/signin/sso"): Rule(PUBLIC),
    ("GET", "/signin/sso/callback"): Rule(PUBLIC),
    ("GET", "/signin/sso/signed-out"): Rule(PUBLIC),  # where the provider sends a browser back after signing out
    ("GET", "/password/forgot"): Rule(PUBLIC),
    ("POST", "/password/forgot"): Rule(PUBLIC),
    # invitation and reset pages are reached by their secret link alone: an unknown link is 404 for everyone
    ("GET", "/join/{token:str}"): Rule("", ids={"token": "not-a-real-link"}, signed_out=404),
    ("POST", "/join/{token:str}"): Rule("", ids={"token": "not-a-real-link"}, signed_out=404),
    ("GET", "/password/reset/{token:str}"): Rule("", ids={"token": "not-a-real-link"}, signed_out=404),
    ("POST", "/password/reset/{token:str}"): Rule("", ids={"token": "not-a-real-link"}, signed_out=404),
    # confirming a new sign-in email: the link emailed to the new address alone
    ("GET", "/email/confirm/{token:str}"): Rule("", ids={"token": "not-a-real-link"}, signed_out=404),
    ("POST", "/email/confirm/{token:str}"): Rule("", ids={"token": "not-a-real-link"}, signed_out=404),
    # one's own second factor
    ("GET", "/account/second-factor"): Rule(EVERYONE),
    ("POST", "/account/second-factor"): Rule(EVERYONE, form={"code": "000000"}),
    ("POST", "/account/second-factor/recovery-codes"): Rule(EVERYONE, form={"code": "000000"}),
    ("POST", "/signout"): Rule(EVERYONE),
    ("DELETE", "/api/session"): Rule(EVERYONE),
    ("GET", "/api/me"): Rule(EVERYONE),
    ("GET", "/"): Rule(EVERYONE),
    ("GET", "/profile"): Rule(EVERYONE),
    ("POST", "/profile/availability"): Rule("POM", form={"available": "yes"}),
    ("POST", "/profile/phone"): Rule(EVERYONE, form={"phone": "020 7946 0123"}),
    ("GET", "/profile/notifications"): Rule(EVERYONE),
    ("POST", "/profile/notifications"): Rule(EVERYONE),
    ("POST", "/profile/notifications/calendar"): Rule("POM", form={"action": "create"}),
    # a calendar feed is reached by its secret link alone: an unknown link is 404 for everyone
    ("GET", "/calendar/{filename:str}"): Rule("", ids={"filename": "not-a-real-link.ics"}, signed_out=404),
    ("GET", "/api/people"): Rule("POLSAM"),
    # accounts and stations: the admin; the lead reads
    ("GET", "/admin/people"): Rule("LA"),
    ("GET", "/admin/stations"): Rule("LA"),
    ("GET", "/admin/settings"): Rule("LA"),
    ("GET", "/admin/people/{person_id:uuid}"): Rule("LA"),
    ("GET", "/admin/people/new"): Rule("A"),
    ("GET", "/admin/roster"): Rule("A"),
    ("POST", "/admin/roster"): Rule("A"),
    ("POST", "/admin/people"): Rule("A", form={"name": "X"}),
    ("POST", "/admin/people/{person_id:uuid}"): Rule("A", form={"name": "X"}),
    ("POST", "/admin/people/{person_id:uuid}/active"): Rule("A", form={"active": "no"}),
    ("POST", "/admin/people/{person_id:uuid}/invite"): Rule("A"),
    ("POST", "/admin/people/{person_id:uuid}/second-factor/reset"): Rule("A"),
    ("POST", "/admin/people/{person_id:uuid}/email/cancel"): Rule("A"),
    ("POST", "/admin/stations"): Rule("A", form={"name": "Y"}),
    ("POST", "/admin/stations/{station_id:uuid}"): Rule("A", form={"name": "Y"}),
    ("GET", "/admin/audit"): Rule("A"),
    # incidents: facts to those exposed, their peer, the lead, the logger (and their station)
    ("GET", "/api/incidents/{incident_id:uuid}"): Rule("RPLS"),
    ("GET", "/incidents/{incident_id:uuid}"): Rule("RPLS"),
    ("GET", "/incidents/{incident_id:uuid}/edit"): Rule("LS"),
    ("GET", "/incidents"): Rule("POLSM", lists=("incident_id", "PLS")),
    ("GET", "/incidents/new"): Rule("POLSM"),
    ("GET", "/incidents/people-search"): Rule("POLSM"),
    ("POST", "/api/incidents"): Rule("POLSM", json=INCIDENT),
    ("POST", "/incidents/new"): Rule("POLSM", form={"action": "search"}),
    ("PATCH", "/api/incidents/{incident_id:uuid}"): Rule(
        "LS", json={k: v for k, v in INCIDENT.items() if k != "exposures"}
    ),
    ("POST", "/api/incidents/{incident_id:uuid}/exposures"): Rule(
        "LS", json={"person_id": "{other_person_id}", "exposure": "witness"}
    ),
    # the responder's support has started (a recorded check-in): removing them is for the lead alone
    ("DELETE", "/api/incidents/{incident_id:uuid}/exposures/{person_id:uuid}"): Rule("L"),
    ("POST", "/api/incidents/{incident_id:uuid}/exposures/{person_id:uuid}/peer"): Rule(
        "L", json={"peer_id": "{other_peer_id}"}
    ),
    ("POST", "/incidents/{incident_id:uuid}/people"): Rule("LS", form={"staff_number": "nobody"}),
    ("POST", "/incidents/{incident_id:uuid}/edit"): Rule("LS", form={"summary": "x"}),
    ("POST", "/incidents/{incident_id:uuid}/people/{person_id:uuid}/peer"): Rule("L", form={"peer_id": ""}),
    ("POST", "/incidents/{incident_id:uuid}/people/{person_id:uuid}/remove"): Rule("L"),
    # the planning meeting and group briefings (section 12): the lead and TRiM managers; a
    # supervisor sees only "planning held" on the incident page, a peer their people's routes
    ("GET", "/api/incidents/{incident_id:uuid}/planning"): Rule("LM"),
    ("PUT", "/api/incidents/{incident_id:uuid}/planning"): Rule("LM", json={"held_at": "2026-10-01T10:00:00Z"}),
    ("POST", "/api/incidents/{incident_id:uuid}/briefings"): Rule(
        "LM", json={"held_at": "2026-10-01T10:00:00Z", "facilitator_id": "{other_peer_id}", "attendee_ids": []}
    ),
    ("GET", "/incidents/{incident_id:uuid}/planning"): Rule("LM"),
    ("POST", "/incidents/{incident_id:uuid}/planning"): Rule("LM", form={"held_at": "2026-10-01T10:00"}),
    ("POST", "/incidents/{incident_id:uuid}/briefings"): Rule("LM", form={"held_at": "2026-10-01T10:00"}),
    ("GET", "/planning"): Rule("LM", lists=("incident_id", "LM")),
    # check-ins: own, the assigned peer, the lead (status)
    ("GET", "/api/checkins"): Rule(EVERYONE, lists=("checkin_id", "RPL")),
    ("GET", "/api/checkins/{checkin_id:uuid}"): Rule("RPL"),
    ("GET", "/checkins/{checkin_id:uuid}"): Rule("RPL"),
    ("GET", "/me/checkins"): Rule(EVERYONE, lists=("checkin_id", "R")),
    ("GET", "/checkins"): Rule("POM", lists=("checkin_id", "P")),
    ("GET", "/overview"): Rule("L", lists=("day28_id", "L")),
    ("POST", "/overview/assign-unassigned"): Rule("L"),
    ("POST", "/checkins/{checkin_id:uuid}/different-peer"): Rule("R", ids={"checkin_id": "day28_id"}),
    # the lead reassigns a periodic check-in (no incident page) from the check-in page
    ("POST", "/checkins/{checkin_id:uuid}/peer"): Rule("L", ids={"checkin_id": "day28_id"}, form={"peer_id": ""}),
    ("POST", "/checkins/{checkin_id:uuid}/opt-out"): Rule("R", ids={"checkin_id": "day28_id"}),
    ("POST", "/checkins/{checkin_id:uuid}/opt-in"): Rule("R", ids={"checkin_id": "day28_id"}),
    # a return-to-work follow-up: the person or their peer starts it; the lead, who sees the
    # check-in, does not (design section 18)
    ("POST", "/checkins/{checkin_id:uuid}/return-to-work"): Rule(
        "RP", ids={"checkin_id": "day28_id"}, form={"returned_on": "2026-12-07"}
    ),
    ("POST", "/api/checkins/{checkin_id:uuid}/return-to-work"): Rule(
        "RP", ids={"checkin_id": "day28_id"}, json={"returned_on": "2026-12-07"}
    ),
    ("GET", "/api/instruments"): Rule(EVERYONE),
    ("POST", "/api/checkins/{checkin_id:uuid}/record"): Rule("P", ids={"checkin_id": "day28_id"}, json=RECORD),
    ("POST", "/checkins/{checkin_id:uuid}/record"): Rule(
        "P", ids={"checkin_id": "day28_id"}, form={"outcome": "declined", "safety_concern": "no"}
    ),
    ("POST", "/api/checkins/{checkin_id:uuid}/corrections"): Rule(
        "P", json={**RECORD, "answers": answers_for("day3"), "correction_reason": "typo"}
    ),
    ("GET", "/checkins/{checkin_id:uuid}/correct"): Rule("P"),
    # the person answers their own check-in's questions (section 14): the person alone,
    # never their peer, the lead or the supervisor who logged the incident
    ("GET", "/checkins/{checkin_id:uuid}/self"): Rule("R", ids={"checkin_id": "day28_id"}),
    ("POST", "/checkins/{checkin_id:uuid}/self"): Rule(
        "R", ids={"checkin_id": "day28_id"}, form={"safety_concern": "no"}
    ),
    ("GET", "/checkins/{checkin_id:uuid}/self/done"): Rule("R", ids={"checkin_id": "day28_id"}),
    ("POST", "/api/checkins/{checkin_id:uuid}/self"): Rule(
        "R", ids={"checkin_id": "day28_id"}, json={"answers": answers_for("day28"), "safety_concern": False}
    ),
    # the interim check-in offered after a first check-in that counts: its peer alone
    ("POST", "/api/checkins/{checkin_id:uuid}/interim"): Rule("P", json={}),
    ("POST", "/checkins/{checkin_id:uuid}/interim"): Rule("P", form={}),
    ("POST", "/checkins/{checkin_id:uuid}/correct"): Rule(
        "P", form={"outcome": "declined", "safety_concern": "no", "correction_reason": "typo"}
    ),
    # flags and referrals
    ("GET", "/api/flags"): Rule(EVERYONE, lists=("flag_id", "RPL")),
    ("GET", "/flags"): Rule("POLM", lists=("flag_id", "PL")),
    ("GET", "/flags/{flag_id:uuid}"): Rule("PL"),
    ("POST", "/api/flags/{flag_id:uuid}/close"): Rule("PL", json={"reason": "x"}),
    ("POST", "/api/flags/{flag_id:uuid}/referral"): Rule("PL", json={"consent": False}),
    ("POST", "/api/flags/{flag_id:uuid}/acknowledge"): Rule("PL", json={"action": "crisis_line"}),
    ("POST", "/flags/{flag_id:uuid}/acknowledge"): Rule("PL", form={"action": "crisis_line"}),
    ("POST", "/flags/{flag_id:uuid}/close"): Rule("PL", form={"reason": "x"}),
    # watchful waiting: those who may act on the flag (design section 4)
    ("POST", "/api/flags/{flag_id:uuid}/monitor"): Rule("PL", json={"days": 14}),
    ("POST", "/flags/{flag_id:uuid}/monitor"): Rule("PL", form={"days": "14"}),
    ("POST", "/flags/{flag_id:uuid}/referral"): Rule("PL", form={"consent": "no"}),
    ("GET", "/api/referrals"): Rule(EVERYONE, lists=("referral_id", "RPLC")),
    ("GET", "/referrals"): Rule("CK", lists=("referral_id", "C")),
    ("GET", "/referrals/{referral_id:uuid}"): Rule("RPLC"),
    ("POST", "/api/referrals/{referral_id:uuid}/status"): Rule("C", json={"status": "contact_made"}),
    ("POST", "/api/referrals/{referral_id:uuid}/withdraw"): Rule("R"),
    # sharing the assessment is confirmed by the person alone
    ("POST", "/api/referrals/{referral_id:uuid}/share"): Rule("R"),
    ("POST", "/referrals/{referral_id:uuid}/share"): Rule("R"),
    ("POST", "/referrals/{referral_id:uuid}/status"): Rule("C", form={"status": "contact_made"}),
    ("POST", "/referrals/{referral_id:uuid}/withdraw"): Rule("R"),
    ("GET", "/services"): Rule("L"),
    ("POST", "/services"): Rule("L", form={"name": "Z"}),
    ("POST", "/services/{service_id:uuid}"): Rule("L", form={"name": "Z"}),
    # the dashboard: aggregates, for the lead only
    ("GET", "/dashboard"): Rule("L"),
    ("GET", "/dashboard.csv"): Rule("L"),
    ("GET", "/api/dashboard"): Rule("L"),
    # the board's report: the same people as the dashboard
    ("GET", "/reports/quarterly"): Rule("L"),
    ("GET", "/api/reports/quarterly"): Rule("L"),
    ("GET", "/api/reports/quarterly.csv"): Rule("L"),
    ("GET", "/api/reports/quarterly.pdf"): Rule("L"),
    # anonymous feedback: the requester, once their request is closed (the seeded one is open: nobody yet)
    ("GET", "/feedback/{about:str}/{subject_id:uuid}"): Rule("", ids={"about": "request", "subject_id": "request_id"}),
    ("POST", "/feedback/{about:str}/{subject_id:uuid}"): Rule(
        "", ids={"about": "request", "subject_id": "request_id"}, form={"helpful": "5", "ask_again": "5", "ease": "5"}
    ),
    # the person's own record
    ("GET", "/api/me/record"): Rule(EVERYONE, lists=("checkin_id", "R")),
    ("GET", "/me"): Rule(EVERYONE, lists=("checkin_id", "R")),
    ("GET", "/me/record.csv"): Rule(EVERYONE),
    # requests for a peer: own, the peer who took it (and matching peers while open), the lead (status)
    ("GET", "/api/requests"): Rule(EVERYONE, lists=("request_id", "RPL")),
    ("GET", "/api/requests/{request_id:uuid}"): Rule("RPL"),
    ("GET", "/requests/{request_id:uuid}"): Rule("RPL"),
    ("GET", "/requests"): Rule(EVERYONE, lists=("request_id", "RPL")),
    ("GET", "/requests/new"): Rule(EVERYONE),
    ("GET", "/ask"): Rule(PUBLIC),  # signed out: what asking means; signed in: the form
    ("POST", "/api/requests"): Rule(EVERYONE, json=REQUEST),
    ("POST", "/requests/new"): Rule(EVERYONE, form={"urgency": "today"}),
    ("POST", "/api/requests/{request_id:uuid}/accept"): Rule("POM"),  # O: told it is taken (409)
    ("POST", "/requests/{request_id:uuid}/accept"): Rule("POM"),
    ("POST", "/api/requests/{request_id:uuid}/close"): Rule("P", json={"outcome": "supported"}),
    ("POST", "/requests/{request_id:uuid}/close"): Rule("P", form={"outcome": "supported"}),
    ("POST", "/requests/{request_id:uuid}/contact"): Rule("P"),
    ("POST", "/api/requests/{request_id:uuid}/withdraw"): Rule("R"),
    ("POST", "/requests/{request_id:uuid}/withdraw"): Rule("R"),
    ("POST", "/requests/{request_id:uuid}/offer"): Rule("L", form={"peer_id": "{other_peer_id}"}),
    # a note the responder shared with the supervisor (section 18): its text to that manager and
    # its author; the lead sees that it was shared; releasing and withdrawing are the person's alone
    ("GET", "/api/shared-notes"): Rule("SL", lists=("note_id", "SL")),
    ("GET", "/api/shared-notes/{note_id:uuid}"): Rule("RSL"),
    ("GET", "/shared-notes"): Rule("SL", lists=("note_id", "SL")),
    ("GET", "/me/notes"): Rule(EVERYONE, lists=("note_id", "R")),
    ("POST", "/me/notes"): Rule(EVERYONE, form={"text": ""}),
    ("POST", "/me/notes/{note_id:uuid}/approve"): Rule("R"),
    ("POST", "/me/notes/{note_id:uuid}/withdraw"): Rule("R"),
    ("POST", "/checkins/{checkin_id:uuid}/note-suggestion"): Rule(
        "P", ids={"checkin_id": "day28_id"}, form={"text": "x"}
    ),
    # the conversation on a request: the requester and the peer who took it; the lead too gets 404
    ("GET", "/api/conversations/{request_id:uuid}/messages"): Rule("RP"),
    ("POST", "/api/conversations/{request_id:uuid}/messages"): Rule("RP", json={"client_id": "m1", "body": "x"}),
    ("GET", "/requests/{request_id:uuid}/messages"): Rule("RP"),
    ("POST", "/requests/{request_id:uuid}/messages"): Rule("RP", form={"client_id": "m1", "body": "x"}),
    ("POST", "/requests/{request_id:uuid}/reveal"): Rule("R"),
    ("POST", "/api/requests/{request_id:uuid}/reveal"): Rule("R"),
    # looking after the peer supporters (section 13): a peer's own standing; the lead keeps training
    # and caps; the debrief and the contact attempt are the assigned peer's; supervision holds no
    # person, and TRiM managers (tests/peers/test_routes.py) reach it but not the person
    ("GET", "/api/me/peer-profile"): Rule("POM"),
    ("PUT", "/api/me/peer-profile"): Rule("POM", json={}),
    ("GET", "/peer-profile"): Rule("POM"),
    ("POST", "/peer-profile"): Rule("POM", form={"action": "end_rest"}),
    ("GET", "/api/peers"): Rule("LM"),
    ("GET", "/peers"): Rule("LM"),
    ("PUT", "/api/peers/{person_id:uuid}/courses"): Rule("L", ids={"person_id": "peer_id"}, json=[]),
    ("PUT", "/api/peers/{person_id:uuid}/caseload"): Rule("L", ids={"person_id": "peer_id"}, json={"cap": 3}),
    ("POST", "/peers/{person_id:uuid}/courses"): Rule("L", ids={"person_id": "peer_id"}, form={"name": "x"}),
    ("POST", "/peers/{person_id:uuid}/caseload"): Rule("L", ids={"person_id": "peer_id"}, form={"cap": "3"}),
    ("POST", "/api/checkins/{checkin_id:uuid}/debrief"): Rule("P"),
    ("POST", "/checkins/{checkin_id:uuid}/debrief"): Rule("P"),
    ("POST", "/api/checkins/{checkin_id:uuid}/contact-attempt"): Rule("P", ids={"checkin_id": "day28_id"}),
    ("POST", "/checkins/{checkin_id:uuid}/contact-attempt"): Rule("P", ids={"checkin_id": "day28_id"}),
    ("GET", "/api/supervision"): Rule("LM", lists=("task_id", "LM")),
    ("GET", "/supervision"): Rule("LM"),
    ("POST", "/api/supervision/{task_id:uuid}/outcome"): Rule("LM", json={"outcome": "held"}),
    ("POST", "/supervision/{task_id:uuid}/outcome"): Rule("LM", form={"outcome": "held"}),
    # high-exposure groups (section 14): the lead's; a person's own groups and opt-out
    ("GET", "/api/groups"): Rule("L"),
    ("POST", "/api/groups"): Rule("L", json={"name": "CSI", "cadence_days": 90}),
    ("PUT", "/api/groups/{group_id:uuid}"): Rule("L", json={"name": "CSI", "cadence_days": 90}),
    ("GET", "/api/groups/{group_id:uuid}/members"): Rule("L"),
    ("PUT", "/api/groups/{group_id:uuid}/members"): Rule("L", json={"person_ids": []}),
    ("GET", "/api/people/{person_id:uuid}/groups"): Rule("RL"),
    ("GET", "/groups"): Rule("L"),
    ("POST", "/groups"): Rule("L", form={"name": "CSI", "cadence_days": "90"}),
    ("GET", "/groups/{group_id:uuid}"): Rule("L"),
    ("POST", "/groups/{group_id:uuid}"): Rule("L", form={"name": "CSI", "cadence_days": "90"}),
    ("POST", "/groups/{group_id:uuid}/members"): Rule("L", form={"staff_numbers": "X1"}),
    ("POST", "/groups/{group_id:uuid}/members/{person_id:uuid}/remove"): Rule("L"),
    ("GET", "/api/me/periodic"): Rule(EVERYONE),
    ("PUT", "/api/me/periodic"): Rule(EVERYONE, json={"opted_out": False}),
}


def app_routes(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method not in ("OPTIONS", "HEAD"):
                    found.add((method, route.path))
    return found


async def seed(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> tuple[dict[str, str], dict[str, Any]]:
    """An incident the supervisor logged, the responder's day 3 recorded with a safety
    concern, a shared referral to the clinician, and a request the peer took."""
    async with signed_in(client, cast.supervisor) as supervisor:
        incident = (
            await supervisor.post(
                "/api/incidents",
                json={
                    "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                    "kind": "mass_casualty",
                    "station_id": str(cast.station_a.id),
                    "summary": "Coach crash.",
                    "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
                },
            )
        ).json()
    async with signed_in(client, cast.lead) as lead:
        checkins = (await lead.get("/api/checkins")).json()
        service = await lead.post(
            "/services",
            data={"name": "EAP", "service": "Counselling", "contact": "0800", "_csrf_token": lead.cookies["csrftoken"]},
        )
        assert service.status_code == 200
    day3 = next(c for c in checkins if c["kind"] == "day3")
    day28 = next(c for c in checkins if c["kind"] == "day28")
    peer, other = (cast.peer, cast.other_peer) if day3["peer_id"] == str(cast.peer.id) else (cast.other_peer, cast.peer)
    async with signed_in(client, peer) as p:
        assert (
            await p.post(
                f"/api/checkins/{day3['id']}/record",
                json={
                    "outcome": "completed",
                    "answers": answers_for("day3", risk_yes=4),
                    "safety_concern": True,
                    "notes": "n",
                },
            )
        ).status_code == 201
        (flag,) = (await p.get("/api/flags")).json()
        referral = (
            await p.post(
                f"/api/flags/{flag['id']}/referral",
                json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
            )
        ).json()
        task = (await p.post(f"/api/checkins/{day3['id']}/debrief")).json()
    async with signed_in(client, cast.responder) as r:
        request = (
            await r.post(
                "/api/requests",
                json={
                    "urgency": "today",
                    "contact_method": "phone",
                    "contact": "020 7946 0123",
                    "safety_concern": False,
                },
            )
        ).json()
    async with signed_in(client, peer) as p:
        assert (await p.post(f"/api/requests/{request['id']}/accept")).status_code == 200
    async with signed_in(client, cast.responder) as r:
        shared = await r.post(
            "/me/notes",
            data={
                "text": "On lighter duties.",
                "manager_id": str(cast.supervisor.id),
                "_csrf_token": r.cookies["csrftoken"],
            },
            follow_redirects=False,
        )
        assert shared.status_code == 303, shared.text
    async with signed_in(client, cast.supervisor) as s:
        (note,) = (await s.get("/api/shared-notes")).json()
    from trim.referrals.models import ReferralService  # noqa: F401 - the directory entry made above

    async with signed_in(client, cast.lead) as lead:
        services_page = (await lead.get("/services")).text
    service_id = services_page.split('action="/services/', 1)[1].split('"', 1)[0]
    async with signed_in(client, cast.lead) as lead:
        group = (await lead.post("/api/groups", json={"name": "Control room", "cadence_days": 180})).json()
        members = {"person_ids": [str(cast.responder.id)]}
        assert (await lead.put(f"/api/groups/{group['id']}/members", json=members)).status_code == 200
    ids = {
        "incident_id": incident["id"],
        "person_id": str(cast.responder.id),
        "checkin_id": day3["id"],
        "day28_id": day28["id"],
        "flag_id": flag["id"],
        "referral_id": referral["id"],
        "request_id": request["id"],
        "note_id": note["id"],
        "service_id": service_id,
        "station_id": str(cast.station_a.id),
        "other_person_id": str(cast.admin.id),
        "other_peer_id": str(other.id),
        "peer_id": str(peer.id),
        "task_id": task["id"],
        "group_id": group["id"],
    }
    people = {
        "R": cast.responder,
        "P": peer,
        "O": other,
        "L": cast.lead,
        "C": cast.clinician,
        "K": cast.other_clinician,
        "S": cast.supervisor,
        "A": cast.admin,
        "M": await make_person(session, roles=["responder", "peer", "trim_manager"], name="Trim Manager"),
    }
    await session.commit()
    return ids, people


def fill(template: str, rule: Rule, ids: dict[str, str]) -> str:
    path = template
    for name in (
        "incident_id",
        "person_id",
        "checkin_id",
        "flag_id",
        "referral_id",
        "request_id",
        "note_id",
        "task_id",
        "group_id",
        "service_id",
        "station_id",
        "file_path",
        "path",
        "token",
        "about",
        "subject_id",
    ):
        for suffix in (":uuid", ":path", ":str"):
            token = "{" + name + suffix + "}"
            if token in path:
                key = rule.ids.get(name, name)
                path = path.replace(token, ids.get(key, key))
    return path


def fill_body(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: fill_body(v, ids) for k, v in value.items()}
    return value


async def call(
    browser: AsyncTestClient[Litestar],
    method: str,
    path: str,
    rule: Rule,
    ids: dict[str, str],
    seen: list[str] | None = None,
) -> int:
    if method == "GET":
        response = await browser.get(path, follow_redirects=False)
        if seen is not None:
            seen.append(response.text)
        return response.status_code
    if path.startswith("/api/"):
        body = fill_body(rule.json, ids) if rule.json is not None else None
        response = await browser.request(method, path, json=body)
        return response.status_code
    form = {k: fill_body(v, ids) for k, v in (rule.form or {}).items()}
    form["_csrf_token"] = browser.cookies.get("csrftoken", "")
    response = await browser.request(method, path, data=form, follow_redirects=False)
    return response.status_code


async def test_every_route_has_an_expectation(app: Litestar) -> None:
    routes = app_routes(app)
    assert routes - set(EXPECT) == set(), "new routes need an entry in EXPECT"
    assert set(EXPECT) - routes == set(), "EXPECT names routes that no longer exist"


async def test_every_route_answers_each_role_as_section_3_says(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    ids, people = await seed(client, cast, clock, session)
    browsers = {}
    for letter, person in people.items():
        browser = AsyncTestClient(app=client.app, base_url=BASE_URL)
        browser.blocking_portal = client.blocking_portal
        await sign_in(browser, person.email)
        browsers[letter] = browser
    anon = AsyncTestClient(app=client.app, base_url=BASE_URL)
    anon.blocking_portal = client.blocking_portal
    await anon.get("/signin")  # a CSRF token, so a refused change is refused for being signed out
    anon.headers["x-csrftoken"] = anon.cookies["csrftoken"]
    problems = []
    ordered = sorted(EXPECT.items(), key=lambda item: (item[0][0] != "GET", item[0][1]))
    for (method, template), rule in ordered:
        path = fill(template, rule, ids)
        if rule.allow == PUBLIC:
            if method == "GET":
                status = await call(anon, method, path, rule, ids)
                if status >= 400:
                    problems.append(f"{method} {path} anon: {status}, expected public")
            continue
        # Signed out: the API says 401, a page sends you to sign in.
        status = await call(anon, method, path, rule, ids)
        expected = {rule.signed_out} if rule.signed_out else {401} if path.startswith("/api/") else {303}
        if status not in expected:
            problems.append(f"{method} {path} signed out: {status}, expected {expected}")
        for letter in ROLES:
            allowed = letter in rule.allow
            if method != "GET" and allowed:
                continue  # changes are proven by each area's own tests; here, only refusals
            body: list[str] = []
            status = await call(browsers[letter], method, path, rule, ids, body)
            if rule.lists and body:
                record, letters = rule.lists
                if (ids[record] in body[0]) != (letter in letters):
                    problems.append(f"{method} {path} as {letter}: mentions {record}: {ids[record] in body[0]}")
            if allowed and (status in (401, 403, 404) or status >= 500):
                problems.append(f"{method} {path} as {letter}: {status}, expected to reach it")
            if not allowed and status != 404:
                problems.append(f"{method} {path} as {letter}: {status}, expected 404")
    assert problems == [], "\n".join(problems)


async def test_the_insider_rules_route_by_route(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """Design 3a's rules on the routes that carry them, each with its allow twin: sharing is
    confirmed by the person alone; nobody refers to themselves; removing someone whose
    support has started is for the lead alone (the supervisor is told to ask the lead)."""
    ids, _people = await seed(client, cast, clock, session)
    incident, referral = ids["incident_id"], ids["referral_id"]

    # /share: the seeded referral asked to share; the clinician sees nothing until the person agrees.
    async with signed_in(client, cast.clinician) as clinician:
        assert (await clinician.get("/api/referrals")).json()[0]["shared"] is False
    async with signed_in(client, cast.responder) as responder:
        assert (await responder.post(f"/api/referrals/{referral}/share")).status_code == 200
    async with signed_in(client, cast.clinician) as clinician:
        assert (await clinician.get("/api/referrals")).json()[0]["shared"] is True

    # Self-referral: a lead who is also a clinician, on an open flag born of a request.
    async with signed_in(client, cast.responder) as responder:
        asked = await responder.post("/api/requests", json={**REQUEST, "safety_concern": True})
        assert asked.status_code == 201
    dual = await make_person(session, roles=["lead", "clinician"], name="Lead And Clinician")
    async with signed_in(client, dual) as browser:
        flag = next(f for f in (await browser.get("/api/flags")).json() if f["status"] == "open")
        to_self = {"clinician_id": str(dual.id), "consent": True, "share_assessment": False}
        assert (await browser.post(f"/api/flags/{flag['id']}/referral", json=to_self)).status_code == 422
        form = {"consent": "yes", "to": f"clinician:{dual.id}", "_csrf_token": browser.cookies["csrftoken"]}
        assert (await browser.post(f"/flags/{flag['id']}/referral", data=form)).status_code == 422
        to_other = {**to_self, "clinician_id": str(cast.clinician.id)}
        assert (await browser.post(f"/api/flags/{flag['id']}/referral", json=to_other)).status_code == 201

    # Removal: the supervisor who logged the incident may take off someone added in error
    # whose support has not started, never the responder, whose day 3 is recorded.
    async with signed_in(client, cast.supervisor) as supervisor:
        added = await supervisor.post(
            f"/api/incidents/{incident}/exposures", json={"person_id": ids["other_person_id"], "exposure": "witness"}
        )
        assert added.status_code == 201
        page = (await supervisor.get(f"/incidents/{incident}")).text
        assert f"/people/{ids['other_person_id']}/remove" in page
        assert f"/people/{ids['person_id']}/remove" not in page
        assert "Only the programme lead can remove them now" in page
        assert (await supervisor.delete(f"/api/incidents/{incident}/exposures/{ids['person_id']}")).status_code == 404
        removed = await supervisor.delete(f"/api/incidents/{incident}/exposures/{ids['other_person_id']}")
        assert removed.status_code == 204
    async with signed_in(client, cast.lead) as lead:
        assert "Only the programme lead" not in (await lead.get(f"/incidents/{incident}")).text
        assert (await lead.delete(f"/api/incidents/{incident}/exposures/{ids['person_id']}")).status_code == 204
