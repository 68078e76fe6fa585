"""The planning meeting (design section 12) in a real browser: the lead opens an incident
the morning after, on a phone, records the planning meeting, moves one person to briefing
only; that person's check-ins show as cancelled with the reason, on the lead's page and on
their own; the supervisor's view shows only that planning happened."""

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
from trim.accounts.actor import Actor
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.planning.rules import cancel_reason

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _log_last_night(story: Story, people: list[Member]) -> uuid.UUID:
    """A collision at 21:00 yesterday (local time) at the supervisor's station, logged by the
    lead (so the supervisor's home, which lists what they logged, is left as it was)."""
    lead, supervisor = story.org.lead, story.org.supervisor
    zone = story.live.settings.zone
    occurred = (story.live.clock() - timedelta(days=1)).astimezone(zone).replace(hour=21, minute=0, second=0)

    async def log(session: AsyncSession) -> uuid.UUID:
        actor = Actor(
            id=lead.id, name=lead.name, email=lead.email, roles=frozenset({"lead"}), station_id=lead.station_id
        )
        data = incidents.IncidentInput(
            occurred_at=occurred,
            kind="mass_casualty",
            station_id=supervisor.station_id,
            summary="Minibus and lorry on the bypass; several casualties.",
            exposures=[incidents.ExposureRef("direct", p.id) for p in people],
        )
        incident = await incidents.log_incident(
            session, actor=actor, data=data, now=story.live.clock(), settings=story.live.settings
        )
        return incident.id

    return story.live.run_db(log)


def _outcomes(story: Story, person: Member, incident_id: uuid.UUID) -> list[tuple[str | None, str | None]]:
    async def read(session: AsyncSession) -> list[tuple[str | None, str | None]]:
        rows = await session.exec(
            select(CheckIn)
            .where(CheckIn.incident_id == incident_id, CheckIn.person_id == person.id)
            .order_by(col(CheckIn.offset_days))
        )
        return [(c.outcome, c.outcome_reason) for c in rows]

    return story.live.run_db(read)


def test_lead_records_the_planning_meeting_on_a_phone_the_morning_after(browser_for: BrowserFor, story: Story) -> None:
    story.incident_id()  # the shared story first, so this journey can run on its own too
    exposed = [m for m in story.org.responders if m.id not in story.exposures][-2:]
    briefed, assessed = exposed
    incident = _log_last_night(story, exposed)
    reason = cancel_reason("briefing_only", None)
    with browser_for("lead planning", phone=True) as ui:
        page = ui.page
        ui.sign_in(story.org.lead.email, PASSWORD)
        ui.goto(f"/incidents/{incident}")
        planning = page.locator("section#planning")
        expect(planning.get_by_role("heading", name="Planning meeting")).to_be_visible()
        expect(page.locator("#planning-held")).to_have_text("Planning not held yet")
        ui.check("incident the morning after")

        planning.get_by_label(story.org.lead.name, exact=True).check()
        planning.get_by_label(briefed.name).select_option("briefing_only")
        expect(planning.get_by_label(assessed.name)).to_have_value("risk_assessment")
        planning.get_by_role("button", name="Save planning meeting").click()
        expect(page.locator(".flash, [role=status], [role=alert]").first).to_contain_text("Planning meeting saved")
        expect(page.locator("#planning-held")).to_contain_text("Planning held on")
        person = page.locator("main li", has=page.locator("strong", has_text=briefed.name)).first
        expect(person).to_contain_text("Planning: briefing only")
        expect(person.locator(".badge-cancelled")).to_have_count(2)
        expect(person.locator(".cancel-reason").first).to_have_text(reason)
        other = page.locator("main li", has=page.locator("strong", has_text=assessed.name)).first
        expect(other.locator(".badge-cancelled")).to_have_count(0)
        ui.check("planning recorded", docs="lead-planning-phone")
    assert _outcomes(story, briefed, incident) == [("cancelled", reason), ("cancelled", reason)]
    assert [o for o, _ in _outcomes(story, assessed, incident)] == [None, None]

    with browser_for("briefed person", phone=True) as ui:
        ui.sign_in(briefed.email, PASSWORD)
        ui.goto("/me/checkins")
        expect(ui.page.locator("main")).to_contain_text(f"Cancelled: {reason}")
        ui.check("their check-ins")

    with browser_for("supervisor planning", phone=False) as ui:
        page = ui.page
        ui.sign_in(story.org.supervisor.email, PASSWORD)
        ui.goto(f"/incidents/{incident}")
        expect(page.locator("#planning-held")).to_contain_text(re.compile(r"Planning held on \d"))
        main = page.locator("main")
        expect(main).not_to_contain_text("Briefing only")
        expect(main).not_to_contain_text("briefing only")
        expect(main).not_to_contain_text("Save planning meeting")
        expect(main.locator(".badge-cancelled")).to_have_count(0)
        ui.check("supervisor sees planning held")
        ui.expect_not_found(f"/incidents/{incident}/planning")
        assert ui.api_get(f"/api/incidents/{incident}/planning").status == 404
