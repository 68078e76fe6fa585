"""The rest of the loop, in a real browser: a peer on a phone records a day-3 check-in
that scores elevated and a day-28 one that raises a flag, and offers a referral; the
person agrees, on their own record, to share their answers; the clinician finds it in
their inbox; a responder asks for a peer and a peer takes it.

These run after test_journeys.py (file order) and follow the same incident.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlmodel import col, select

from tests.e2e.conftest import BrowserFor
from tests.e2e.harness import UI
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import Story
from trim.accounts.models import Person
from trim.assessments import instruments as catalogue
from trim.db import AsyncSession

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def answer_all(ui: UI, kind: str, yes: int) -> None:
    """Tap Yes on `yes` questions of every instrument offered, No on the rest: how the person
    is now first (the after-phase items, which are what persists), then the rest in order."""
    for instrument in catalogue.offered_at(catalogue.load(), kind):
        now_first = sorted(instrument.items, key=lambda item: item.phase != "after")
        chosen = {item.id for item in now_first[:yes]}
        for item in instrument.items:
            choice = "Yes" if item.id in chosen else "No"
            group = ui.page.locator(f"fieldset#a__{instrument.id}__{item.id}")
            group.get_by_text(choice, exact=True).click()


async def _active_peer_ids(session: AsyncSession) -> list[uuid.UUID]:
    rows = await session.exec(select(Person.id).where(col(Person.active).is_(True)))
    return list(rows)


def the_person(story: Story) -> tuple[Member, Member]:
    """A Harbour firefighter from the incident, and the peer assigned to them now."""
    person = story.crew[0]
    story.incident_id()
    day3 = next(c for c in story.checkins_of(person) if c.kind == "day3")
    assert day3.peer_id is not None
    return person, story.org.by_id(day3.peer_id)


def test_peer_records_two_elevated_checkins_and_offers_a_referral(browser_for: BrowserFor, story: Story) -> None:
    person, peer = the_person(story)
    with browser_for("peer records", phone=True) as ui:
        page = ui.page
        ui.sign_in(peer.email, PASSWORD)
        ui.menu("People I check in with")
        ui.check("my check-ins")
        page.get_by_role("link", name=re.compile(re.escape(person.name))).first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Day 3 check-in")
        ui.check("record a check-in", docs="peer-records-checkin-phone")

        page.get_by_label("Check-in held").check()
        answer_all(ui, "day3", yes=4)
        # The crisis guidance appears the moment "Yes" is chosen on the safety question.
        safety = page.locator("fieldset#safety_concern")
        expect(page.locator("#crisis-guidance")).to_be_hidden()
        safety.get_by_text("Yes", exact=True).click()
        expect(page.locator("#crisis-guidance")).to_be_visible()
        safety.get_by_text("No", exact=True).click()
        expect(page.locator("#crisis-guidance")).to_be_hidden()
        page.get_by_label(re.compile("Your notes")).fill("Quiet, tired, sleeping badly since the crash.")
        page.get_by_role("button", name="Save check-in").click()
        expect(page.locator(".flash")).to_contain_text("Check-in recorded")
        expect(page.locator("main")).to_contain_text("Elevated")
        expect(page.locator("main")).to_contain_text("sleeping badly")
        ui.check("recorded, elevated")

    # Four weeks on, the day-28 check-in falls due and is also elevated: a flag.
    story.live.clock.advance(days=25)
    try:
        day28 = next(c for c in story.checkins_of(person) if c.kind == "day28")
        with browser_for("peer records day 28", phone=True) as ui:
            page = ui.page
            ui.sign_in(peer.email, PASSWORD)
            ui.goto(f"/checkins/{day28.id}")
            ui.check("day 28 form")
            page.get_by_label("Check-in held").check()
            answer_all(ui, "day28", yes=3)
            page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
            page.get_by_role("button", name="Save check-in").click()
            expect(page.locator(".flash")).to_contain_text("A flag was raised")
            ui.check("recorded with a flag")

            page.get_by_role("link", name="Offer a referral or record the outcome").first.click()
            expect(page.get_by_role("heading", level=1)).to_contain_text(person.name)
            ui.check("flag", docs="peer-offers-referral-phone")
            page.get_by_label("Yes, they agreed").check()
            page.get_by_label("Referral to").select_option(label=story.org.clinician.name)
            page.get_by_label(re.compile("would like the clinician to see")).check()
            page.get_by_role("button", name="Record the referral conversation").click()
            expect(page.locator(".flash")).to_contain_text("Referral recorded")
            expect(page.locator(".flash")).to_contain_text("nothing is shared until they do")
            ui.check("referral recorded")
    finally:
        story.live.clock.advance(days=-25)


def test_clinician_finds_the_referral_with_what_was_shared(browser_for: BrowserFor, story: Story) -> None:
    person = story.crew[0]  # whose referral the previous journey recorded
    # Nothing is shared until the person says so themselves.
    with browser_for("clinician before the person agrees") as ui:
        page = ui.page
        ui.sign_in(story.org.clinician.email, PASSWORD)
        ui.menu("Referrals")
        item = page.get_by_role("link", name=re.compile(re.escape(person.name)))
        expect(item).to_contain_text("assessment not shared")
        ui.check("inbox, not yet shared")
        item.click()
        expect(page.locator("main")).to_contain_text("waiting for the person")
        expect(page.locator("main")).not_to_contain_text("sleeping badly")
        ui.check("referral, not yet shared")
    with browser_for("the person agrees to share", phone=True) as ui:
        page = ui.page
        ui.sign_in(person.email, PASSWORD)
        ui.goto("/me")
        expect(page.locator("#referrals")).to_contain_text("Waiting for your OK")
        ui.check("record, waiting for their OK")
        page.get_by_role("button", name=re.compile("Share my check-in answers")).click()
        expect(page.locator(".flash")).to_contain_text("The clinician can now see your check-in answers")
        expect(page.locator("#referrals")).to_contain_text("You agreed on")
        ui.check("record, shared")
    with browser_for("clinician") as ui:
        page = ui.page
        ui.sign_in(story.org.clinician.email, PASSWORD)
        ui.menu("Referrals")
        item = page.get_by_role("link", name=re.compile(re.escape(person.name)))
        expect(item).to_contain_text("assessment shared")
        ui.check("inbox", docs="clinician-inbox")
        item.click()
        expect(page.locator("main")).to_contain_text("Shared with consent")
        expect(page.locator("main")).to_contain_text("sleeping badly")
        ui.check("referral")
        page.get_by_label("Record").select_option(label="Contact made")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".flash")).to_contain_text("Saved")
        ui.check("referral updated")
    # The supervisor who logged the incident learns nothing of it.
    with browser_for("supervisor after the referral") as ui:
        ui.sign_in(story.org.supervisor.email, PASSWORD)
        referrals = ui.api_get("/api/referrals")
        assert referrals.status == 200 and referrals.json() == []
        assert ui.api_get("/api/flags").json() == []


def test_responder_asks_for_a_peer_and_a_peer_takes_it(browser_for: BrowserFor, story: Story) -> None:
    asker = story.org.responders[-1]
    with browser_for("responder asks", phone=True) as ui:
        page = ui.page
        ui.sign_in(asker.email, PASSWORD)
        ui.goto("/ask")  # the link on the station poster
        expect(page.get_by_role("heading", level=1)).to_have_text("Talk to a peer")
        ui.check("ask for a peer", docs="ask-for-a-peer-phone")
        page.get_by_label("Today").check()
        page.get_by_label("Text message").check()
        page.get_by_label(re.compile("Number or email")).fill("020 7946 0321")
        page.get_by_label(re.compile("Anything you would like")).fill("Struggling since the crash.")
        page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
        page.get_by_role("button", name="Ask for a peer").click()
        expect(page.locator(".flash")).to_contain_text("Thank you for asking")
        expect(page.locator("main")).to_contain_text("Waiting for a peer")
        request_id = uuid.UUID(page.url.rsplit("/", 1)[1])
        ui.check("request sent")

    active = set(story.live.run_db(_active_peer_ids))  # journey (e) deactivated one of them
    peer = next(p for p in story.org.peers if p.station_id != asker.station_id and p.id in active)
    with browser_for("peer takes the request", phone=True) as ui:
        page = ui.page
        ui.sign_in(peer.email, PASSWORD)
        ui.menu("Requests")
        offered = page.locator(f"a[href='/requests/{request_id}']")
        expect(offered).to_contain_text("Waiting for you")
        expect(page.locator("main")).not_to_contain_text(asker.name)  # not named until taken
        ui.check("requests")
        offered.click()
        expect(page.locator("main")).not_to_contain_text("020 7946")
        ui.check("a request")
        page.get_by_role("button", name="I'll take this").click()
        expect(page.locator(".flash")).to_contain_text("It's yours")
        expect(page.locator("main")).to_contain_text(asker.name)
        expect(page.locator("main")).to_contain_text("020 7946 0321")
        ui.check("request taken")

    with browser_for("responder sees it taken", phone=True) as ui:
        ui.sign_in(asker.email, PASSWORD)
        ui.goto(f"/requests/{request_id}")
        expect(ui.page.locator("main")).to_contain_text(f"Accepted by {peer.name}")
        ui.check("request accepted")


async def _invitation_link(session: AsyncSession, email: str) -> str:
    from trim.notifications.models import OutboxMessage

    person = (await session.exec(select(Person).where(Person.email == email))).one()
    link = (
        await session.exec(
            select(OutboxMessage.link)
            .where(OutboxMessage.person_id == person.id, col(OutboxMessage.link).is_not(None))
            .order_by(col(OutboxMessage.created_at).desc())
        )
    ).first()
    assert link is not None
    return str(link)


def test_invited_colleague_joins_on_a_phone_and_sets_up_a_second_factor(browser_for: BrowserFor, story: Story) -> None:
    import pyotp

    live = story.live
    required = list(live.settings.mfa_required_roles)
    live.settings.mfa_required_roles = ["responder", "peer", "lead", "clinician"]  # admin: not in this journey
    email = "nia.sandford@demo.trim.example"
    try:
        with browser_for("admin invites") as ui:
            page = ui.page
            ui.sign_in(story.org.admin.email, PASSWORD)
            ui.goto("/admin/people/new")
            ui.check("add a person")
            page.get_by_label("Full name").fill("Nia Sandford")
            page.get_by_label("Staff number", exact=True).fill("N0042")
            page.get_by_label("Email address").fill(email)
            page.get_by_role("button", name="Add person").click()
            expect(page.locator(".flash")).to_contain_text("Nia Sandford has been added")
            ui.check("person added")
            page.get_by_role("button", name="Send an invitation").click()
            ui.check("invitation sent")

        link = live.run_db(lambda session: _invitation_link(session, email))
        with browser_for("invited colleague", phone=True) as ui:
            page = ui.page
            ui.goto(link)
            ui.check("choose a password", docs="join-choose-password-phone")
            page.locator("#password").fill("short")
            page.locator("#confirm").fill("short")
            page.get_by_role("button").last.click()
            expect(page.locator(".field-error").first).to_be_visible()  # too short: said plainly
            ui.check("password refused")
            page.locator("#password").fill("harbour lantern quietly rowing")
            page.locator("#confirm").fill("harbour lantern quietly rowing")
            page.get_by_role("button").last.click()
            expect(page).to_have_url(re.compile(r"/account/second-factor"))
            expect(page.get_by_role("heading", level=1)).to_have_text("Second factor")
            ui.check("set up a second factor", docs="second-factor-phone")
            # Nothing else opens until it is set up.
            assert ui.api_get("/api/checkins").status == 401
            page.get_by_text("Cannot scan it? Type this key instead").click()
            key = page.locator("code.secret-key").inner_text().replace(" ", "")
            page.locator("#code").fill(pyotp.TOTP(key).at(live.clock()))
            page.get_by_role("button", name="Turn on").click()
            expect(page.locator("ul.recovery-codes li")).to_have_count(10)
            ui.check("recovery codes")
            page.get_by_role("button", name="I have saved them: continue").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
            ui.check("signed in")
            assert ui.api_get("/api/checkins").status == 200

            # Next time: password, then the code from the app (a later one: each works once).
            page.get_by_role("navigation", name="Main").get_by_text("Menu", exact=True).click()
            page.get_by_role("button", name="Sign out").click()
            ui.check("signed out")
            live.clock.advance(seconds=30)
            ui.goto("/signin")
            ui.check("sign in")
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Password").fill("harbour lantern quietly rowing")
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("#code")).to_be_visible()
            ui.check("code step")
            page.locator("#code").fill(pyotp.TOTP(key).at(live.clock()))
            page.locator("#code").press("Enter")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
            ui.check("signed in again")
    finally:
        live.clock.advance(seconds=-30)
        live.settings.mfa_required_roles = required


def test_lead_reads_the_dashboard(browser_for: BrowserFor, story: Story) -> None:
    story.incident_id()
    with browser_for("lead dashboard") as ui:
        page = ui.page
        ui.sign_in(story.org.lead.email, PASSWORD)
        ui.menu("Dashboard")
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
        expect(page.locator("main")).to_contain_text("Incidents by month and kind")
        # Small numbers never show: the organisation here is small, so its cells read "<5".
        expect(page.locator("abbr.suppressed").first).to_be_visible()
        ui.check("dashboard", docs="lead-dashboard")
        csv = ui.context.request.get(ui.url("/dashboard.csv"))
        assert csv.status == 200 and csv.text().startswith("figure,figure_title,measure")
    with browser_for("supervisor and the dashboard") as ui:
        ui.sign_in(story.org.supervisor.email, PASSWORD)
        ui.expect_not_found("/dashboard")
        assert ui.api_get("/api/dashboard").status == 404
