"""Rules that match TRiM practice, on a phone (issue 16): a peer opens a check-in too early
and is told when; three days on records one with a safety concern, and acknowledging the
urgent flag asks what was done; the difficulties now bring the offer of an interim
check-in, and the flag can be watched and waited on; the person's own page shows plain
words, no red badge, and says when their answers will be deleted.

Runs after the other journeys (file order) with a person no other journey uses.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import col, select

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import Story
from tests.e2e.test_more_journeys import answer_all
from trim.accounts.actor import Actor
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.incidents import service as incidents

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def a_new_incident(story: Story, person: Member) -> tuple[uuid.UUID, uuid.UUID]:
    """The lead logs an incident an hour ago with `person` in it; (day-3 check-in, its peer)."""
    lead = story.org.lead

    async def log(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
        actor = Actor(id=lead.id, name=lead.name, email=lead.email, roles=frozenset({"lead"}))
        data = incidents.IncidentInput(
            occurred_at=story.live.clock() - timedelta(hours=1),
            kind="violence_against_staff",
            station_id=person.station_id,
            summary="Crew assaulted at a callout.",
            exposures=[incidents.ExposureRef("direct", person.id)],
        )
        incident = await incidents.log_incident(
            session, actor=actor, data=data, now=story.live.clock(), settings=story.live.settings
        )
        await session.commit()
        day3 = (
            await session.exec(select(CheckIn).where(CheckIn.incident_id == incident.id, col(CheckIn.kind) == "day3"))
        ).one()
        assert day3.peer_id is not None
        return day3.id, day3.peer_id

    return story.live.run_db(log)


def test_early_check_in_urgent_acknowledgement_and_plain_words_on_a_phone(
    browser_for: BrowserFor, story: Story
) -> None:
    taken = set(story.exposures)
    person = next(m for m in reversed(story.org.responders[11:-1]) if m.id not in taken)
    day3_id, peer_id = a_new_incident(story, person)
    peer = story.org.by_id(peer_id)

    with browser_for("peer too early", phone=True) as ui:
        page = ui.page
        ui.sign_in(peer.email, PASSWORD)
        ui.goto(f"/checkins/{day3_id}")
        expect(page.get_by_role("heading", name="Not yet")).to_be_visible()
        expect(page.locator("main")).to_contain_text("Not yet")
        expect(page.get_by_role("button", name="Save check-in")).to_have_count(0)
        ui.check("check-in too early")

    story.live.clock.advance(days=3)
    try:
        with browser_for("peer records urgent", phone=True) as ui:
            page = ui.page
            ui.sign_in(peer.email, PASSWORD)
            ui.goto(f"/checkins/{day3_id}")
            page.get_by_label("Check-in held").check()
            answer_all(ui, "day3", yes=4)
            page.locator("fieldset#safety_concern").get_by_text("Yes", exact=True).click()
            expect(page.locator("#crisis-guidance")).to_be_visible()
            ui.check("urgent answer")
            page.get_by_role("button", name="Save check-in").click()
            expect(page.locator(".flash")).to_contain_text("Check-in recorded")
            expect(page.get_by_role("heading", name="Safety concern recorded")).to_be_visible()
            # Difficulties now at the first check-in: an interim one is offered, not forced.
            expect(page.get_by_role("heading", name="An interim check-in?")).to_be_visible()
            ui.check("recorded, urgent")

            page.get_by_role("link", name="Offer a referral or record the outcome").first.click()
            expect(page.get_by_text("What did you do straight away?")).to_be_visible()
            ui.check("urgent flag asks what was done")
            page.get_by_label("Stayed with them").check()
            page.get_by_role("button", name="I am dealing with this now").click()
            expect(page.locator(".flash")).to_contain_text("Acknowledged")
            expect(page.locator("main")).to_contain_text("Picked up")
            ui.check("acknowledged")

            # Watchful waiting: an extra check-in with the same peer in two weeks.
            expect(page.get_by_label(re.compile("Check in again in"))).to_have_value("14")
            page.get_by_role("button", name="Watch and wait").click()
            expect(page.locator(".flash")).to_contain_text("Watchful waiting")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Watchful waiting check-in")
            ui.check("monitor check-in booked")

            ui.goto(f"/checkins/{day3_id}")
            ui.check("the offer stands")
            page.get_by_role("button", name="Add an interim check-in").click()
            expect(page.locator(".flash")).to_contain_text("Interim check-in booked")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Interim check-in")
            ui.check("interim booked")

        with browser_for("person reads own check-in", phone=True) as ui:
            page = ui.page
            ui.sign_in(person.email, PASSWORD)
            ui.goto(f"/checkins/{day3_id}")
            main = page.locator("main")
            expect(main).to_contain_text("can make the weeks after an incident harder")
            expect(main).not_to_contain_text("Elevated")
            expect(page.locator("main .badge-overdue")).to_have_count(0)
            ui.check("own check-in in plain words")
            ui.goto("/me")
            expect(page.locator(".keep-less").first).to_contain_text("will be deleted")
            ui.check("own record says when answers go")
    finally:
        story.live.clock.advance(days=-3)
