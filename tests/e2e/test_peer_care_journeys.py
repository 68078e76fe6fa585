"""Looking after the peer supporters (design section 13), in a real browser: a peer on a
phone sets "resting until" and their check-in moves to another peer; the lead sees a peer
whose refresher is coming due on the overview and renews their training.

Each journey makes its own peer and person, so moving work never touches the story's, and
retires its peer at the end, so later journeys' assignments go to the story's peers."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col, select

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import Story
from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM, Actor
from trim.accounts.models import Person
from trim.accounts.passwords import hash_password
from trim.db import AsyncSession
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.peers import service as peers
from trim.peers.models import PeerCourse

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _new_person(story: Story, name: str, roles: list[str], station: str) -> Member:
    settings = story.live.settings

    async def make(session: AsyncSession) -> Member:
        tag = uuid.uuid4().hex[:6]
        person = await accounts.create_person(
            session,
            actor=SYSTEM,
            data=accounts.PersonInput(
                f"PC{tag}",
                name,
                f"{name.lower().replace(' ', '.')}.{tag}@demo.trim.example",
                story.org.stations[station],
                roles,
            ),
            password_hash=await hash_password(PASSWORD, profile=settings.argon2_profile),
        )
        return Member.of(person)

    return story.live.run_db(make)


def _retire(story: Story, member: Member) -> None:
    """This journey's peer leaves the programme: later journeys never get them assigned."""

    async def retire(session: AsyncSession) -> None:
        await session.exec(update(Person).where(col(Person.id) == member.id).values(active=False, available=False))

    story.live.run_db(retire)


def _lead_actor(story: Story) -> Actor:
    lead = story.org.lead
    return Actor(id=lead.id, name=lead.name, email=lead.email, roles=frozenset({"lead"}), station_id=lead.station_id)


def test_a_peer_rests_on_a_phone_and_their_check_in_moves(browser_for: BrowserFor, story: Story) -> None:
    stations = list(story.org.stations)
    peer = _new_person(story, "Rowan Ellis", ["responder", "peer"], stations[0])
    person = _new_person(story, "Tamsin Hale", ["responder"], stations[-1])
    try:
        _rest_journey(browser_for, story, peer, person)
    finally:
        _retire(story, peer)
        _close_case(story, person)


def _close_case(story: Story, member: Member) -> None:
    """This journey's person needs nothing more: the story's peers carry the load they did,
    and the person leaves the story (a later journey adding a whole station's crew must find
    the crew the story made, not them)."""

    async def close(session: AsyncSession) -> None:
        await session.exec(
            update(CheckIn)
            .where(col(CheckIn.person_id) == member.id, col(CheckIn.outcome).is_(None))
            .values(outcome="cancelled", outcome_reason="end of the journey", recorded_at=story.live.clock())
        )
        await session.exec(update(Person).where(col(Person.id) == member.id).values(active=False))

    story.live.run_db(close)


def _rest_journey(browser_for: BrowserFor, story: Story, peer: Member, person: Member) -> None:
    stations = list(story.org.stations)
    live = story.live

    async def arrange(session: AsyncSession) -> uuid.UUID:
        lead = _lead_actor(story)
        incident = await incidents.log_incident(
            session,
            actor=lead,
            data=incidents.IncidentInput(
                occurred_at=live.clock() - timedelta(days=4),
                kind="difficult_rescue",
                station_id=story.org.stations[stations[-1]],
                summary="Rescue from a flooded underpass.",
                exposures=[incidents.ExposureRef("direct", person.id)],
            ),
            now=live.clock(),
            settings=live.settings,
        )
        exposure_id = await incidents.exposure_id_for(session, actor=lead, incident_id=incident.id, person_id=person.id)
        await followups.reassign_exposure(
            session, actor=lead, exposure_id=exposure_id, peer_id=peer.id, now=live.clock(), settings=live.settings
        )
        return incident.id

    incident_id = live.run_db(arrange)
    until = live.clock().astimezone(live.settings.zone).date() + timedelta(days=14)

    with browser_for("peer rests", phone=True) as ui:
        page = ui.page
        ui.sign_in(peer.email, PASSWORD)
        ui.menu("My support")
        expect(page.get_by_role("heading", level=1)).to_have_text("My support")
        expect(page.locator("main")).to_contain_text("1 of")
        ui.check("my support", docs="peer-my-support-phone")
        page.get_by_label("Resting until (the last day)").fill(until.isoformat())
        page.get_by_role("button", name="Rest until this day").click()
        expect(page.locator(".flash")).to_contain_text(f"You are resting until {until.day} {until.strftime('%B %Y')}")
        expect(page.locator(".flash")).to_contain_text("were handed on")
        expect(page.locator("main")).to_contain_text("Nobody new is assigned to you: resting")
        ui.check("resting")
        ui.menu("People I check in with")
        expect(page.locator("main")).not_to_contain_text(person.name)
        ui.check("my check-ins while resting")

    async def read(session: AsyncSession) -> set[uuid.UUID | None]:
        rows = await session.exec(
            select(CheckIn.peer_id).where(CheckIn.incident_id == incident_id, col(CheckIn.outcome).is_(None))
        )
        return set(rows)

    moved_to = live.run_db(read)
    assert peer.id not in moved_to and moved_to != {None}

    async def end_rest(session: AsyncSession) -> None:
        actor = Actor(id=peer.id, name=peer.name, email=peer.email, roles=frozenset({"responder", "peer"}))
        await peers.set_own_profile(session, actor=actor, now=live.clock(), settings=live.settings, change_rest=True)

    live.run_db(end_rest)


def test_the_lead_sees_a_lapsing_peer_on_the_overview_and_renews_them(browser_for: BrowserFor, story: Story) -> None:
    peer = _new_person(story, "Morgan Pryce", ["responder", "peer"], next(iter(story.org.stations)))
    try:
        _renewal_journey(browser_for, story, peer)
    finally:
        _retire(story, peer)


def _renewal_journey(browser_for: BrowserFor, story: Story, peer: Member) -> None:
    live = story.live
    today = live.clock().astimezone(live.settings.zone).date()
    due = today + timedelta(days=20)

    async def arrange(session: AsyncSession) -> None:
        await peers.set_courses(
            session,
            actor=_lead_actor(story),
            person_id=peer.id,
            courses=[peers.CourseInput("TRiM practitioner", due - timedelta(days=730), due)],
            now=live.clock(),
        )

    live.run_db(arrange)
    renewed_on, next_due = today, today + timedelta(days=730)

    with browser_for("lead renews a peer", phone=False) as ui:
        page = ui.page
        ui.sign_in(story.org.lead.email, PASSWORD)
        ui.menu("Overview")
        lapsing = page.locator("section[aria-labelledby='h-lapsing']")
        expect(lapsing).to_contain_text(peer.name)
        expect(lapsing).to_contain_text(f"due {due.day} {due.strftime('%b %Y')}")
        ui.check("overview with a lapsing peer", docs="overview-lapsing-peer")
        lapsing.get_by_role("link", name=peer.name).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Peer supporters")
        ui.check("peer supporters")
        edit = page.locator(f"#edit-{peer.id}")
        edit.locator("summary").click()
        expect(edit.get_by_label("Course (a name already listed is renewed)")).to_have_value("TRiM practitioner")
        edit.get_by_label("Completed on").fill(renewed_on.isoformat())
        edit.get_by_label("Refresher due").fill(next_due.isoformat())
        edit.get_by_role("button", name="Save the course").click()
        expect(page.locator(".flash")).to_contain_text("Training record saved.")
        expect(page.locator(f"#peer-{peer.id}")).to_contain_text(next_due.strftime("%-d %b %Y"))
        ui.check("peer renewed")
        ui.menu("Overview")
        expect(page.locator("section[aria-labelledby='h-lapsing']")).to_have_count(0)
        ui.check("overview after renewal")

    async def read(session: AsyncSession) -> list[tuple[str, date, date | None]]:
        rows = await session.exec(select(PeerCourse).where(PeerCourse.person_id == peer.id))
        return [(c.name, c.completed_on, c.refresher_due) for c in rows]

    assert live.run_db(read) == [("TRiM practitioner", renewed_on, next_due)]
