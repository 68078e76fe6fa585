"""Two phones at once: a responder asks for a peer without their name, a peer takes it,
three messages go each way and appear on the other phone without a reload, the
responder shows their name with one button, and the peer closes the request (the
conversation stays readable, and says it has ended)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect
from sqlmodel import col, select

from tests.e2e.conftest import BrowserFor
from tests.e2e.harness import UI
from tests.e2e.org import PASSWORD
from tests.e2e.story import Story
from trim.accounts.models import Person
from trim.db import AsyncSession

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def _active_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.exec(select(Person.id).where(col(Person.active).is_(True))))


def write(ui: UI, text: str) -> None:
    box = ui.page.get_by_label("Your message")
    box.fill(text)
    ui.page.get_by_role("button", name="Send").click()
    expect(ui.page.locator("#messages")).to_contain_text(text)
    expect(ui.page.get_by_label("Your message")).to_have_value("")  # a fresh form, a fresh client_id


def test_an_anonymous_request_becomes_a_conversation_on_two_phones(browser_for: BrowserFor, story: Story) -> None:
    asker = story.org.responders[0]
    active = set(story.live.run_db(_active_ids))
    peer = next(p for p in story.org.peers if p.id in active and p.id != asker.id)
    with browser_for("requester on a phone", phone=True) as me, browser_for("peer on a phone", phone=True) as them:
        me.sign_in(asker.email, PASSWORD)
        me.goto("/requests/new")
        page = me.page
        expect(page.locator("main")).to_contain_text("the programme lead is told who you are")
        me.check("ask without a name")
        page.get_by_label("This week").check()
        page.get_by_label("Write to me here in trim").check()
        page.get_by_label("Don't show my name").check()
        page.get_by_label("Anything you would like").fill("Can't switch off after nights.")
        page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
        page.get_by_role("button", name="Ask for a peer").click()
        expect(page.locator(".flash")).to_contain_text("Thank you for asking")
        request_id = page.url.rsplit("/", 1)[1].split("#")[0]
        expect(page.locator("main")).to_contain_text("Not shown: they see")
        me.check("anonymous request sent")

        them.sign_in(peer.email, PASSWORD)
        them.goto(f"/requests/{request_id}")
        them.check("an anonymous request offered")
        them.page.get_by_role("button", name="I'll take this").click()
        expect(them.page.locator("h1")).to_contain_text("Request from Caller ")
        expect(them.page.locator("main")).not_to_contain_text(asker.name)
        them.check("anonymous request taken")

        me.goto(f"/requests/{request_id}")
        me.check("my request, taken")
        for i in range(3):
            write(them, f"Peer message {i + 1}")
            expect(me.page.locator("#messages")).to_contain_text(f"Peer message {i + 1}", timeout=15000)
            write(me, f"My reply {i + 1}")
            expect(them.page.locator("#messages")).to_contain_text(f"My reply {i + 1}", timeout=15000)
        expect(them.page.locator("#messages")).not_to_contain_text(asker.name)

        me.page.get_by_role("button", name="Show them my name").click()
        expect(me.page.locator(".flash")).to_contain_text("now sees your name")
        me.check("name shown")
        them.goto(f"/requests/{request_id}")
        expect(them.page.locator("h1")).to_contain_text(asker.name)
        them.check("the name, shown")

        them.page.get_by_label("Close with").select_option(label="Talked; supported")
        them.page.get_by_role("button", name="Close", exact=True).click()
        expect(them.page.locator(".flash")).to_contain_text("Closed")
        expect(them.page.locator("#conversation")).to_contain_text("ended with the request")
        expect(them.page.get_by_label("Your message")).to_have_count(0)
        them.check("conversation closed")
        # The requester's phone learns it without a reload, and keeps the messages.
        expect(me.page.locator("#messages")).to_contain_text("ended with the request", timeout=15000)
        expect(me.page.locator("#messages")).to_contain_text("Peer message 3")
