"""On a phone: a long email does not push /me sideways, and the admin's people search box
keeps its whole width (issue 17 point 10)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD
from tests.e2e.story import Story
from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM
from trim.accounts.passwords import hash_password
from trim.db import AsyncSession

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LONG_EMAIL = "firstname.middlename.lastname.of-the-control-room@north-west-fire-and-rescue.demo.trim.example"


def test_a_long_email_and_the_people_search_fit_a_phone(browser_for: BrowserFor, story: Story) -> None:
    async def add(session: AsyncSession) -> None:
        if await accounts.person_by_email(session, LONG_EMAIL) is None:
            await accounts.create_person(
                session,
                actor=SYSTEM,
                data=accounts.PersonInput("LONG-1", "Alexandra Long-Address", LONG_EMAIL, None, ["responder"]),
                password_hash=await hash_password(PASSWORD, profile=story.live.settings.argon2_profile),
            )

    story.live.run_db(add)
    with browser_for("long email", phone=True) as ui:
        ui.sign_in(LONG_EMAIL, PASSWORD)
        ui.goto("/me")
        expect(ui.page.locator("main")).to_contain_text("Alexandra Long-Address")
        ui.check("record with a long email")  # fails on any sideways scroll
        ui.goto("/profile")
        ui.check("profile with a long email")
    with browser_for("admin people search", phone=True) as ui:
        ui.sign_in(story.org.admin.email, PASSWORD)
        ui.goto("/admin/people")
        box = ui.page.get_by_label("Search by name or staff number").bounding_box()
        main = ui.page.locator("main").bounding_box()
        assert box is not None and main is not None
        assert box["width"] >= main["width"] * 0.8, (box, main)
        ui.check("people search on a phone")


def test_the_lead_overview_is_cards_on_a_phone(browser_for: BrowserFor, story: Story) -> None:
    """No sideways table on a phone: each check-in is a card, its due date on one line."""
    story.incident_id()
    with browser_for("lead overview on a phone", phone=True) as ui:
        ui.sign_in(story.org.lead.email, PASSWORD)
        ui.menu("Overview")
        row = ui.page.locator("table.cards tbody tr").first
        expect(row).to_be_visible()
        assert row.evaluate("r => getComputedStyle(r).display") == "block"
        due = row.locator("td[data-label='Due']")
        height = due.evaluate("d => d.getBoundingClientRect().height")
        line = due.evaluate("d => parseFloat(getComputedStyle(d).lineHeight) || 24")
        assert height <= line * 1.6 + 8, (height, line)  # one line, not five
        ui.check("overview on a phone", docs="lead-overview-phone")
