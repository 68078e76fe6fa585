"""A manager told only what the person chooses (design section 18), in a real browser: a
responder shares one note with their watch manager from their own record, the manager
reads it on the page the email links to, the responder withdraws it, and it is gone from
the manager's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD
from tests.e2e.story import Story

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTE = "I'm on lighter duties until 14 March, agreed with occupational health."


def test_responder_shares_a_note_with_their_watch_manager_then_withdraws_it(
    browser_for: BrowserFor, story: Story
) -> None:
    manager = story.org.supervisor
    responder = next(m for m in story.org.responders if m.station_id == manager.station_id)

    with browser_for("responder shares a note", phone=True) as ui:
        page = ui.page
        ui.sign_in(responder.email, PASSWORD)
        ui.goto("/me")
        ui.check("own record with notes")
        page.get_by_role("link", name="Write a note for your manager").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Tell your manager something")
        ui.check("notes for your manager")
        page.get_by_label("The note, as your manager will read it").fill(NOTE)
        page.locator("select#manager_id").select_option(label=manager.name)
        page.get_by_role("button", name="Share with this manager").click()
        expect(page.locator(".flash")).to_contain_text("Shared.")
        expect(page.locator("main")).to_contain_text(f"Shared with {manager.name}")
        ui.check("note shared")

    with browser_for("manager reads the note", phone=False) as ui:
        page = ui.page
        ui.sign_in(manager.email, PASSWORD)
        ui.menu("Shared notes")
        expect(page.get_by_role("heading", level=1)).to_have_text("Notes shared with you")
        expect(page.locator("main")).to_contain_text(NOTE)
        expect(page.locator("main")).to_contain_text(responder.name)
        ui.check("notes shared with a manager")

    with browser_for("responder withdraws the note", phone=True) as ui:
        page = ui.page
        ui.sign_in(responder.email, PASSWORD)
        ui.goto("/me/notes")
        ui.check("notes before withdrawing")
        page.get_by_role("button", name="Withdraw this note").click()
        expect(page.locator(".flash")).to_contain_text("Withdrawn.")
        expect(page.locator("main")).to_contain_text("you withdrew it on")
        ui.check("note withdrawn")
        ui.goto("/me")
        expect(page.locator("#notes")).to_contain_text("withdrawn on")
        expect(page.locator("#notes")).to_contain_text(f"Shared with {manager.name}")
        ui.check("own record after withdrawing")

    with browser_for("manager after withdrawal", phone=False) as ui:
        page = ui.page
        ui.sign_in(manager.email, PASSWORD)
        ui.menu("Shared notes")
        expect(page.locator("main")).not_to_contain_text(NOTE)
        expect(page.locator("main")).to_contain_text("No notes are shared with you.")
        ui.check("no notes shared")
