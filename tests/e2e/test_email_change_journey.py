"""An admin cannot become someone (design 3a), in a real browser with a real mail server:
an admin changes a person's sign-in email; the old inbox is told at once; a reset asked
for the new address sends nothing there until the person confirms it from that address;
only then does a reset go there, and the old inbox hears that the password changed.

The live server's emails are delivered by a worker run here against its database, to an
SMTP server on a free loopback port (tests/notifications/conftest.py's MailServer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import Story
from tests.live_server import LiveServer, _in_own_thread
from tests.notifications.conftest import MailServer, free_port, text_of
from trim.accounts import jobs as accounts_jobs
from trim.accounts.models import Person
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.notifications.sweeps import RegisteredSweep
from trim.notifications.worker import Worker

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NEW_ADDRESS = "elin.private@elsewhere.example"
NEW_PASSWORD = "copper kettle under stairs"


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer(port=free_port())
    server.start()
    yield server
    server.stop()


def deliver(live: LiveServer, server: MailServer) -> None:
    """Send everything waiting in the live server's outbox to the test mail server."""

    async def go() -> None:
        engine = create_engine(live.settings.database_url, pool_size=1)
        try:
            settings = live.settings.model_copy(update={"smtp_url": server.url})
            # The forgotten-password page only queues the request: the worker's sweep makes the link.
            forgot = RegisteredSweep("accounts.link_requests", accounts_jobs.sweep_link_requests)
            worker = Worker(make_sessionmaker(engine), settings, clock=live.clock, sweeps=[forgot])
            while await worker.tick():
                pass
        finally:
            await engine.dispose()

    _in_own_thread(go)


def inbox(server: MailServer, address: str) -> list[EmailMessage]:
    return [m for m in server.messages if m["To"] == address]


def subjects(server: MailServer, address: str) -> list[str]:
    return [str(m["Subject"]) for m in inbox(server, address)]


def link_in(live: LiveServer, message: EmailMessage) -> str:
    found = re.search(re.escape(live.url) + r"(/\S+)", text_of(message))
    assert found, text_of(message)
    return found.group(1)


def test_an_admin_changes_an_email_and_only_a_confirmed_address_gets_a_reset(
    browser_for: BrowserFor, story: Story, mail_server: MailServer
) -> None:
    live, org = story.live, story.org
    person: Member = org.responders[10]  # no other journey signs in as them
    old_address = person.email

    with browser_for("admin changes an email") as ui:
        page = ui.page
        ui.sign_in(org.admin.email, PASSWORD)
        ui.goto(f"/admin/people/{person.id}")
        expect(page.get_by_role("heading", level=1)).to_have_text(person.name)
        ui.check("person")
        page.get_by_label("Email address").fill(NEW_ADDRESS)
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator(".flash")).to_contain_text("takes effect when they confirm it from that address")
        expect(page.locator("main")).to_contain_text("Change waiting for confirmation")
        ui.check("change waiting")

    deliver(live, mail_server)
    assert subjects(mail_server, old_address) == ["Your sign-in email is being changed"]
    assert subjects(mail_server, NEW_ADDRESS) == ["Confirm your new sign-in email"]
    confirm = link_in(live, inbox(mail_server, NEW_ADDRESS)[0])

    # Whoever holds the new inbox asks for a reset: nothing goes there yet.
    with browser_for("someone at the new address") as ui:
        page = ui.page
        ui.goto("/password/forgot")
        ui.check()
        page.get_by_label("Email address").fill(NEW_ADDRESS)
        page.get_by_role("button", name="Email me a link").click()
        expect(page.locator(".flash")).to_contain_text("If an account uses that address")
        ui.check()
    deliver(live, mail_server)
    assert subjects(mail_server, NEW_ADDRESS) == ["Confirm your new sign-in email"]

    # The person confirms from the new address.
    with browser_for("person confirms") as ui:
        page = ui.page
        ui.goto(confirm)
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your new sign-in email")
        expect(page.locator("main")).to_contain_text(NEW_ADDRESS)
        ui.check("confirm the new email")
        page.get_by_role("button", name="Confirm this address").click()
        expect(page.locator(".flash")).to_contain_text(f"You now sign in with {NEW_ADDRESS}")
        ui.check("email confirmed")
    deliver(live, mail_server)
    assert subjects(mail_server, old_address)[-1] == "Your sign-in email was changed"
    assert subjects(mail_server, NEW_ADDRESS)[-1] == "Your sign-in email was changed"

    # Only now does a reset reach the new address; the old one hears the password changed.
    with browser_for("person resets their password") as ui:
        page = ui.page
        ui.goto("/password/forgot")
        ui.check()
        page.get_by_label("Email address").fill(NEW_ADDRESS)
        page.get_by_role("button", name="Email me a link").click()
        expect(page.locator(".flash")).to_contain_text("If an account uses that address")
        ui.check()
        deliver(live, mail_server)
        reset = inbox(mail_server, NEW_ADDRESS)[-1]
        assert reset["Subject"] == "Reset your password"
        ui.goto(link_in(live, reset))
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
        ui.check()
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_label("The same password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Save new password").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
        ui.check()
        ui.goto("/me")
        expect(page.locator("main")).to_contain_text("Your sign-in email was changed by an admin on 23 November 2026")
        ui.check("record says the email changed")
    deliver(live, mail_server)
    assert "Reset your password" not in subjects(mail_server, old_address)
    assert subjects(mail_server, old_address)[-1] == "Your password was changed"

    async def stored(session: AsyncSession) -> tuple[str, str | None]:
        found = await session.get(Person, person.id)
        assert found is not None
        return found.email, found.previous_email

    assert live.run_db(stored) == (NEW_ADDRESS, old_address)
