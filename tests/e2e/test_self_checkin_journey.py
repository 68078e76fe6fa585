"""A check-in the person answers themselves (design section 14), in a real browser: on a
phone, the person opens "Check-ins for you", answers the questions in their own words and
sees the thanks; their peer signs in, sees the answers and the band on the check-in's page
(pre-filled in the form) and records the conversation; the person's list then shows it done.

The same journey runs on two check-ins, each set up in one function:
- `self_checkin`: a firefighter's day-3 check-in after a rescue, with a peer of its own;
- `periodic_self_checkin`: a control-room dispatcher's periodic check-in (no incident,
  issue 21): the lead defines the "Control room" group and puts the dispatcher in it
  (through the service: the lead has no groups page yet, only /api/groups), the periodic
  sweep makes the check-in and the usual rules pick the peer.
Each makes its own people, and undoes what it left at the end (`SelfCheckin.finish`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from tests.e2e.conftest import BrowserFor
from tests.e2e.harness import UI
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import Story
from tests.e2e.test_peer_care_journeys import _close_case, _lead_actor, _new_person, _retire
from trim.accounts.models import Person
from trim.assessments import instruments as catalogue
from trim.db import AsyncSession
from trim.followups import periodic
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.groups import service as groups
from trim.incidents import service as incidents

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass(frozen=True)
class SelfCheckin:
    person: Member
    peer: Member
    checkin_id: uuid.UUID
    kind: str
    # What the person's list calls it ("Day 3 check-in", "Periodic check-in (Control room)").
    title: str
    # Undo what the setup left, so later journeys' assignments go to the story's peers.
    finish: Callable[[], None]
    # Added to each browser's name, so each setup's screenshots are its own; the README's
    # copies (docs/screenshots) come from the first setup alone.
    tag: str = ""

    def who(self, name: str) -> str:
        return f"{name} {self.tag}".strip()

    def docs(self, name: str) -> str | None:
        return None if self.tag else name


def self_checkin(story: Story) -> SelfCheckin:
    """The check-in the person will answer: a firefighter's day-3 check-in after a rescue
    four days ago, with a peer of this journey's own."""
    stations = list(story.org.stations)
    live = story.live
    peer = _new_person(story, "Sasha Quinn", ["responder", "peer"], stations[0])
    person = _new_person(story, "Robin Achterberg", ["responder"], stations[-1])

    async def arrange(session: AsyncSession) -> uuid.UUID:
        lead = _lead_actor(story)
        incident = await incidents.log_incident(
            session,
            actor=lead,
            data=incidents.IncidentInput(
                occurred_at=live.clock() - timedelta(days=4),
                kind="difficult_rescue",
                station_id=story.org.stations[stations[-1]],
                summary="A long rescue from a collapsed barn.",
                exposures=[incidents.ExposureRef("direct", person.id)],
            ),
            now=live.clock(),
            settings=live.settings,
        )
        exposure_id = await incidents.exposure_id_for(session, actor=lead, incident_id=incident.id, person_id=person.id)
        await followups.reassign_exposure(
            session, actor=lead, exposure_id=exposure_id, peer_id=peer.id, now=live.clock(), settings=live.settings
        )
        found = await session.exec(select(CheckIn.id).where(CheckIn.exposure_id == exposure_id, CheckIn.kind == "day3"))
        return found.one()

    def finish() -> None:
        _retire(story, peer)
        _close_case(story, person)

    return SelfCheckin(
        person=person,
        peer=peer,
        checkin_id=live.run_db(arrange),
        kind="day3",
        title="Day 3 check-in",
        finish=finish,
    )


CONTROL_ROOM = "Control room"


def periodic_self_checkin(story: Story) -> SelfCheckin:
    """The check-in the person will answer: a control-room dispatcher's periodic check-in.
    The lead defines the group (every 180 days) with the dispatcher in it; the periodic sweep
    makes their first check-in at once and the usual rules assign it. A peer of this
    journey's own is free (nothing open), so the rules most likely pick them; whoever they
    pick is the peer who signs in."""
    stations = list(story.org.stations)
    live = story.live
    own_peer = _new_person(story, "Alex Marsden", ["responder", "peer"], stations[0])
    person = _new_person(story, "Priya Lomax", ["responder"], stations[-1])

    async def arrange(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, Member]:
        lead = _lead_actor(story)
        group = await groups.define_group(session, actor=lead, name=CONTROL_ROOM, cadence_days=180, now=live.clock())
        await groups.set_members(session, actor=lead, group_id=group.id, person_ids=[person.id], now=live.clock())
        await periodic.sweep_periodic(session, now=live.clock(), settings=live.settings)
        checkin = (
            await session.exec(select(CheckIn).where(CheckIn.person_id == person.id, CheckIn.kind == "periodic"))
        ).one()
        assert checkin.incident_id is None and checkin.exposure_id is None
        assert checkin.peer_id is not None, "the usual rules found no peer for the periodic check-in"
        peer = await session.get(Person, checkin.peer_id)
        assert peer is not None
        return group.id, checkin.id, Member.of(peer)

    group_id, checkin_id, peer = live.run_db(arrange)

    def finish() -> None:
        async def leave(session: AsyncSession) -> None:
            await groups.set_members(
                session, actor=_lead_actor(story), group_id=group_id, person_ids=[], now=live.clock()
            )

        live.run_db(leave)
        _retire(story, own_peer)
        _close_case(story, person)

    return SelfCheckin(
        person=person,
        peer=peer,
        checkin_id=checkin_id,
        kind="periodic",
        title=f"Periodic check-in ({CONTROL_ROOM})",
        finish=finish,
        tag="periodic",
    )


def answer_own(ui: UI, kind: str, yes: int) -> None:
    """Yes to the first `yes` questions about how the person is now, No to the rest."""
    for instrument in catalogue.offered_at(catalogue.load(), kind):
        now_first = sorted(instrument.items, key=lambda item: item.phase != "after")
        chosen = {item.id for item in now_first[:yes]}
        for item in instrument.items:
            group = ui.page.locator(f"fieldset#a__{instrument.id}__{item.id}")
            expect(group.locator("legend")).to_have_text(item.own_words)
            group.get_by_text("Yes" if item.id in chosen else "No", exact=True).click()


@pytest.mark.parametrize("arrange", [self_checkin, periodic_self_checkin], ids=["incident-day3", "periodic"])
def test_a_person_answers_on_a_phone_and_their_peer_records_the_talk(
    browser_for: BrowserFor, story: Story, arrange: Callable[[Story], SelfCheckin]
) -> None:
    setup = arrange(story)
    try:
        _journey(browser_for, setup)
    finally:
        setup.finish()


def _journey(browser_for: BrowserFor, setup: SelfCheckin) -> None:
    with browser_for(setup.who("person answers themselves"), phone=True) as ui:
        page = ui.page
        ui.sign_in(setup.person.email, PASSWORD)
        ui.menu("Check-ins for you")
        listed = page.locator("ul.item-list > li").filter(has=page.locator(f'a[href="/checkins/{setup.checkin_id}"]'))
        expect(listed.locator("strong")).to_have_text(setup.title)
        ui.check("check-ins for you, answer yourself")
        listed.locator(f'a[href="/checkins/{setup.checkin_id}/self"]').click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Answer the questions yourself")
        expect(page.locator("main")).to_contain_text("the programme lead (and whoever is on call) is told at once")
        ui.check("the questions in my own words", docs=setup.docs("person-answers-themselves-phone"))
        answer_own(ui, setup.kind, yes=4)
        # The crisis guidance, with numbers to tap, shows the moment "Yes" is chosen.
        safety = page.locator("fieldset#safety_concern")
        safety.get_by_text("Yes", exact=True).click()
        expect(page.locator("#crisis-guidance")).to_be_visible()
        expect(page.locator("#crisis-guidance a[href^='tel:']").first).to_be_visible()
        safety.get_by_text("No", exact=True).click()
        expect(page.locator("#crisis-guidance")).to_be_hidden()
        page.get_by_role("button", name="Send my answers").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
        expect(page.locator("main")).to_contain_text("your peer may suggest talking to someone")
        expect(page.locator("main")).not_to_contain_text("Elevated")
        ui.check("thank you")
        ui.menu("Check-ins for you")
        expect(page.locator("main")).to_contain_text("You answered the questions yourself on")
        expect(page.locator(f'a[href="/checkins/{setup.checkin_id}/self"]')).to_have_count(0)
        ui.check("check-ins for you, answered")

    with browser_for(setup.who("peer after self answers"), phone=True) as ui:
        page = ui.page
        ui.sign_in(setup.peer.email, PASSWORD)
        ui.menu("People I check in with")
        theirs = page.locator(f'a[href="/checkins/{setup.checkin_id}"]')
        expect(theirs).to_contain_text(setup.person.name)
        expect(theirs.locator(".item-meta")).to_contain_text(setup.title)
        ui.check()
        theirs.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(f"{setup.person.name}: {setup.title}")
        own = page.locator("section.own-answers")
        expect(own).to_contain_text(f"{setup.person.name} answered the questions themselves")
        expect(own).to_contain_text("Elevated")
        ui.check("the person's own answers and band", docs=setup.docs("peer-sees-self-answers-phone"))
        page.get_by_label("Check-in held").check()
        # Their answers are already filled in: the peer goes through them and changes what the talk changes.
        first_now = next(i for i in catalogue.load()["trim_risk"].items if i.phase == "after")
        expect(page.locator(f"fieldset#a__trim_risk__{first_now.id} input[value='yes']")).to_be_checked()
        page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
        page.get_by_label(re.compile("Your notes")).fill("Talked it through on the phone; sleeping a bit better.")
        page.get_by_role("button", name="Save check-in").click()
        expect(page.locator(".flash")).to_contain_text("Check-in recorded")
        expect(page.locator("main")).to_contain_text("Elevated")
        ui.check("recorded after self answers")

    with browser_for(setup.who("person sees it done"), phone=True) as ui:
        page = ui.page
        ui.sign_in(setup.person.email, PASSWORD)
        ui.menu("Check-ins for you")
        listed = page.locator("ul.item-list > li").filter(has=page.locator(f'a[href="/checkins/{setup.checkin_id}"]'))
        expect(listed.locator("strong")).to_have_text(setup.title)
        expect(listed.locator(".badge")).to_have_text("completed")
        expect(listed).to_contain_text(f"with {setup.peer.name}")
        expect(listed.locator(f'a[href="/checkins/{setup.checkin_id}/self"]')).to_have_count(0)
        ui.check("check-ins for you, completed")
