"""Each person's home, in a real browser on a phone and a desktop: what needs them now,
with counts and links, and a kind word when nothing does.

Runs after test_journeys.py and test_more_journeys.py (file order) and reads the state
they left: the counts are read back from the database and compared with the page."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from playwright.sync_api import Locator, expect
from sqlmodel import col, select

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD
from tests.e2e.story import NORTHGATE, Story
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.followups.rules import checkin_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def open_checkin_counts(story: Story, *, peer_id: object = None) -> Counter[str]:
    """Open check-ins by status now (all of them, or one peer's), straight from the database."""
    now, window = story.live.clock(), story.live.settings.due_window

    async def read(session: AsyncSession) -> list[CheckIn]:
        stmt = select(CheckIn).where(col(CheckIn.outcome).is_(None))
        if peer_id is not None:
            stmt = stmt.where(CheckIn.peer_id == peer_id)
        return list(await session.exec(stmt))

    rows = story.live.run_db(read)
    return Counter(checkin_status(due_at=c.due_at, outcome=None, now=now, window=window) for c in rows)


def need(home: Locator, text: str) -> Locator:
    return home.locator("a.need-link", has_text=re.compile(text))


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_lead_home_counts_what_waits(browser_for: BrowserFor, story: Story, phone: bool) -> None:
    story.incident_id()
    counts = open_checkin_counts(story)
    assert counts["due"] or counts["overdue"], "the story leaves check-ins open"
    with browser_for("lead home", phone=phone) as ui:
        ui.sign_in(story.org.lead.email, PASSWORD)
        main = ui.page.locator("main")
        ui.check("home", docs=None if phone else "lead-home-desktop")
        for status, words in (("due", "due now"), ("overdue", "overdue")):
            if counts[status]:
                row = need(main, rf"check-ins? {words}")
                expect(row.locator(".need-count")).to_have_text(str(counts[status]))
                expect(row).to_have_attribute("href", "/overview")
        need(main, r"check-ins? (due now|overdue)").first.click()
        expect(ui.page).to_have_url(ui.url("/overview"))
        ui.check()


def test_peer_home_on_a_phone_says_what_is_due(browser_for: BrowserFor, story: Story) -> None:
    story.incident_id()
    first = next(c.peer_id for c in story.schedule() if c.peer_id)  # the soonest due, with a peer
    peer = story.org.by_id(first)
    counts = open_checkin_counts(story, peer_id=peer.id)
    with browser_for("peer home", phone=True) as ui:
        ui.sign_in(peer.email, PASSWORD)
        main = ui.page.locator("main")
        ui.check("home", docs="peer-home-phone")
        if counts["overdue"]:
            expect(need(main, r"check-ins? overdue").locator(".need-count")).to_have_text(str(counts["overdue"]))
        if counts["due"]:
            expect(need(main, r"check-ins? due today").locator(".need-count")).to_have_text(str(counts["due"]))
        if not (counts["due"] or counts["overdue"]):
            expect(need(main, r"check-ins? (due today|overdue)")).to_have_count(0)
        box = main.locator("a.need-link").first.bounding_box()
        assert box is not None and box["height"] >= 24


def test_responder_home_names_their_next_check_in(browser_for: BrowserFor, story: Story) -> None:
    story.incident_id()
    nxt = next(c for c in reversed(story.schedule()) if c.peer_id)
    person = story.org.by_id(nxt.person_id)
    upcoming = story.checkins_of(person)  # by due time: the first is their next
    assert upcoming[0].peer_id
    peer = story.org.by_id(upcoming[0].peer_id)
    with browser_for("responder home", phone=True) as ui:
        ui.sign_in(person.email, PASSWORD)
        main = ui.page.locator("main")
        row = need(main, re.escape(f"Your next check-in with {peer.name}"))
        expect(row).to_have_attribute("href", "/me/checkins")
        ui.check("home", docs="responder-home-phone")
        row.click()
        expect(ui.page).to_have_url(ui.url("/me/checkins"))
        ui.check()


def test_supervisor_home_lists_the_incident_they_logged(browser_for: BrowserFor, story: Story) -> None:
    incident_id = story.incident_id()
    with browser_for("supervisor home", phone=False) as ui:
        ui.sign_in(story.org.supervisor.email, PASSWORD)
        row = need(ui.page.locator("main"), re.escape(NORTHGATE))
        expect(row).to_have_attribute("href", f"/incidents/{incident_id}")
        ui.check("home")


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_home_with_nothing_waiting_says_so_kindly(browser_for: BrowserFor, story: Story, phone: bool) -> None:
    involved = set(story.exposures)
    quiet = next(m for m in story.org.responders if m.id not in involved)
    with browser_for("quiet home", phone=phone) as ui:
        ui.sign_in(quiet.email, PASSWORD)
        main = ui.page.locator("main")
        expect(main).to_contain_text("Nothing needs you today.")
        expect(main.locator("a.need-link")).to_have_count(0)
        ui.check("home", docs="home-nothing-phone" if phone else None)


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_clinician_home_counts_new_referrals(browser_for: BrowserFor, story: Story, phone: bool) -> None:
    """The clinician's home counts referrals sent to them and not yet contacted (the
    journeys before this one refer someone), or says kindly that nothing waits."""
    from trim.referrals.models import Referral, ReferralStatus

    clinician = story.org.clinician

    async def waiting(session: AsyncSession) -> int:
        rows = await session.exec(
            select(Referral).where(Referral.clinician_id == clinician.id, Referral.status == ReferralStatus.referred)
        )
        return len(list(rows))

    n = story.live.run_db(waiting)
    with browser_for("clinician home", phone=phone) as ui:
        ui.sign_in(clinician.email, PASSWORD)
        main = ui.page.locator("main")
        if n:
            row = need(main, r"new referrals? waiting for contact")
            expect(row.locator(".need-count")).to_have_text(str(n))
            expect(row).to_have_attribute("href", "/referrals")
            ui.check("home", docs="clinician-home-phone" if phone else None)
            row.click()
            expect(ui.page).to_have_url(ui.url("/referrals"))
            ui.check()
        else:
            expect(main).to_contain_text("Nothing needs you today.")
            ui.check("home", docs="clinician-home-phone" if phone else None)
