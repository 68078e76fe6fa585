"""The product as its people use it, in a real browser, in the order the work happens:
a supervisor logs an incident, a peer picks up a check-in on a phone, the lead reviews
and reassigns, the supervisor finds nothing of the check-ins, an admin manages accounts.

Each journey can also run alone (the story logs the incident itself when needed).
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import HARBOUR, PASSWORD, Member
from tests.e2e.story import KIND_LABEL, NORTHGATE, SUMMARY, Story
from trim.incidents.models import EXPOSURE_LABELS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_supervisor_logs_an_incident_with_six_people(browser_for: BrowserFor, story: Story) -> None:
    org = story.org
    with browser_for("supervisor") as ui:
        page = ui.page
        ui.sign_in(org.supervisor.email, PASSWORD)
        ui.menu("Log an incident")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log an incident")
        # The supervisor's own station is already chosen.
        expect(page.locator("#station_id")).to_have_value(str(org.stations[NORTHGATE]))
        ui.check("empty form")

        page.get_by_label("When did it happen?").fill(story.occurred_at.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("What kind of incident?").select_option(label=KIND_LABEL)
        page.get_by_label("Short summary").fill(SUMMARY)

        # Two people found by name: the live search shows matches as you type.
        search = page.get_by_label("Find people by name or staff number")
        for n, person in enumerate(story.searched):
            search.fill(person.name.split()[-1])
            add = page.get_by_role("button", name=f"Add {person.name}", exact=True)
            expect(add).to_be_visible()
            if n == 0:
                ui.check("search results")
            add.click()
            expect(page.get_by_text(f"People exposed ({n + 1})")).to_be_visible()
            ui.check()

        # The whole Harbour crew at once.
        page.get_by_label("Or add a whole watch or station").select_option(label=HARBOUR)
        page.get_by_role("button", name="Add everyone").click()
        expect(page.get_by_text("People exposed (6)")).to_be_visible()
        ui.check()

        # Pressing Enter in the search box searches; it must not drop anyone already added.
        search.fill(story.org.responders[5].name.split()[0])
        search.press("Enter")
        page.wait_for_load_state("load")
        expect(page.get_by_text("People exposed (6)")).to_be_visible()
        ui.check()

        for person_id, how in story.exposures.items():
            person = org.by_id(person_id)
            page.get_by_label(f"How was {person.name} exposed?").select_option(how)
        # What was typed survived every round trip of the form.
        expect(page.get_by_label("Short summary")).to_have_value(SUMMARY)
        expect(page.get_by_label("What kind of incident?")).to_have_value("difficult_rescue")
        ui.check("six people added", docs="log-an-incident")

        page.get_by_role("button", name="Log incident").click()
        expect(page).to_have_url(re.compile(rf"/incidents/{UUID}$"))
        assert "Incident logged. 6 people will be offered peer check-ins." in ui.flash()
        expect(page.get_by_role("heading", level=1)).to_have_text(KIND_LABEL)
        people = page.locator("ul.item-list > li")
        expect(people).to_have_count(6)
        for person_id, how in story.exposures.items():
            row = people.filter(has_text=org.by_id(person_id).name)
            expect(row).to_contain_text(EXPOSURE_LABELS[how])
        # A supervisor sees who was there, never who supports them or when.
        expect(page.get_by_text("Peer:")).to_have_count(0)
        ui.check("incident logged")
        story.logged(uuid.UUID(page.url.rsplit("/", 1)[1]))

    # Logging scheduled everyone's day-3 and day-28 check-ins, each with a peer.
    schedule = story.schedule()
    assert sorted(c.kind for c in schedule) == ["day28"] * 6 + ["day3"] * 6
    assert {c.person_id for c in schedule} == set(story.exposures)
    assert all(c.peer_id is not None for c in schedule)


def test_peer_opens_an_assigned_checkin_on_a_phone(browser_for: BrowserFor, story: Story) -> None:
    person = story.searched[0]
    day3 = next(c for c in story.checkins_of(person) if c.kind == "day3")
    assert day3.peer_id is not None
    peer = story.org.by_id(day3.peer_id)
    with browser_for("peer", phone=True) as ui:
        page = ui.page
        ui.sign_in(peer.email, PASSWORD)
        # On a phone the navigation is folded away behind "Menu".
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="People I check in with")
        ).to_be_hidden()
        ui.menu("People I check in with")
        expect(page.get_by_role("heading", level=1)).to_have_text("People I check in with")
        due = page.locator("section", has=page.get_by_role("heading", name=re.compile(r"^Due now")))
        expect(due.get_by_role("link", name=re.compile(re.escape(person.name)))).to_be_visible()
        ui.check("my check-ins", docs="peer-my-checkins-phone")

        due.get_by_role("link", name=re.compile(re.escape(person.name))).click()
        expect(page).to_have_url(ui.url(f"/checkins/{day3.id}"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Day 3 check-in")
        expect(page.locator("main")).to_contain_text(person.name)
        facts = page.locator("dl.facts")
        expect(facts).to_contain_text(peer.name)
        expect(facts).to_contain_text(f"{KIND_LABEL}, {story.occurred_at:%-d %b %Y}, {NORTHGATE}")
        # The peer can reach the person in one tap (design section 5, Contact).
        contact = page.get_by_role("region", name=f"Contact {person.name}")
        call = contact.get_by_role("link", name=re.compile(r"^Call "))
        expect(call).to_have_attribute("href", re.compile(r"^tel:\+4420794600\d\d$"))
        expect(contact.get_by_role("link", name=re.compile(r"^Email "))).to_have_attribute(
            "href", f"mailto:{person.email}"
        )
        box = call.bounding_box()
        assert box is not None and box["height"] >= 24
        ui.check("check-in", docs="peer-checkin-contact-phone")


def _another_peer(story: Story, person: Member, current: uuid.UUID | None) -> Member:
    """A peer the rules would accept: not exposed, not from the person's station."""
    for peer in story.org.peers:
        if peer.id != current and peer.id not in story.exposures and peer.station_id != person.station_id:
            return peer
    raise AssertionError("the seeded organisation has no second eligible peer")


def test_lead_reviews_the_overview_and_reassigns_a_peer(browser_for: BrowserFor, story: Story) -> None:
    person = story.searched[0]
    incident_id = story.incident_id()
    current = story.checkins_of(person)[0].peer_id
    new_peer = _another_peer(story, person, current)
    with browser_for("lead") as ui:
        page = ui.page
        ui.sign_in(story.org.lead.email, PASSWORD)
        ui.menu("Overview")
        expect(page.get_by_role("heading", level=1)).to_have_text("Programme overview")
        expect(page.locator(".counts")).to_contain_text("6 due")
        due = page.locator("section", has=page.get_by_role("heading", name="Due now (6)"))
        for person_id in story.exposures:
            expect(due.get_by_role("row", name=re.compile(re.escape(story.org.by_id(person_id).name)))).to_be_visible()
        ui.check("overview", docs="lead-overview")

        ui.menu("Incidents")
        expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")
        ui.check("incidents")
        # The story's incident (other journeys log rescues too): its link, by kind and address.
        page.get_by_role("link", name=re.compile(KIND_LABEL)).and_(
            page.locator(f'a[href="/incidents/{incident_id}"]')
        ).click()
        expect(page).to_have_url(ui.url(f"/incidents/{incident_id}"))
        row = page.locator("ul.item-list > li").filter(has_text=person.name)
        assert current is not None
        expect(row).to_contain_text(f"Peer: {story.org.by_id(current).name}")
        ui.check("incident review", docs="lead-incident-review")

        row.get_by_label(f"Peer for {person.name}").select_option(str(new_peer.id))
        row.get_by_role("button", name=f"Reassign {person.name}").click()
        assert "Reassigned. Their open check-ins moved with them." in ui.flash()
        row = page.locator("ul.item-list > li").filter(has_text=person.name)
        expect(row).to_contain_text(f"Peer: {new_peer.name}")
        expect(row.get_by_label(f"Peer for {person.name}")).to_have_value(str(new_peer.id))
        ui.check("reassigned")

    assert {c.peer_id for c in story.checkins_of(person)} == {new_peer.id}


def test_supervisor_cannot_open_the_check_ins(browser_for: BrowserFor, story: Story) -> None:
    incident_id = story.incident_id()
    checkin = story.checkins_of(story.searched[0])[0]
    with browser_for("supervisor again") as ui:
        ui.sign_in(story.org.supervisor.email, PASSWORD)
        ui.expect_not_found("/checkins", "not found")
        ui.expect_not_found(f"/checkins/{checkin.id}")
        ui.expect_not_found("/overview")
        answer = ui.api_get(f"/api/checkins/{checkin.id}")
        assert answer.status == 404
        assert answer.json()["detail"] == "Not found"
        # Nothing counted either: the list is empty, not "hidden".
        listed = ui.api_get("/api/checkins")
        assert listed.status == 200
        assert listed.json() == []
        # Their own incident still opens, with names only.
        ui.goto(f"/incidents/{incident_id}")
        expect(ui.page.get_by_role("heading", level=1)).to_have_text(KIND_LABEL)
        expect(ui.page.get_by_text("Peer:")).to_have_count(0)
        ui.check()


def test_admin_adds_a_person_and_deactivates_a_peer(browser_for: BrowserFor, story: Story) -> None:
    org = story.org
    incident_id = story.incident_id()
    # A peer who holds someone's open check-ins: deactivating them must hand those on.
    leaving_id = story.checkins_of(story.crew[0])[0].peer_id
    assert leaving_id is not None
    leaving = org.by_id(leaving_id)
    with browser_for("admin") as ui:
        page = ui.page
        ui.sign_in(org.admin.email, PASSWORD)
        ui.menu("People")
        expect(page.get_by_role("heading", level=1)).to_have_text("People")
        ui.check("people")

        page.get_by_role("button", name="Add a person").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Add a person")
        ui.check("add a person")
        page.get_by_label("Full name").fill("Nia Okonjo")
        page.get_by_label("Staff number", exact=True).fill("S2001")
        page.get_by_label("Email address").fill("nia.okonjo@demo.trim.example")
        page.get_by_label("Station").select_option(label="Riverside Ambulance Station")
        page.get_by_role("checkbox", name="Peer supporter").check()
        expect(page.get_by_role("checkbox", name="Responder")).to_be_checked()
        page.get_by_role("button", name="Add person").click()
        assert "Nia Okonjo has been added." in ui.flash()
        expect(page.get_by_role("heading", level=1)).to_have_text("Nia Okonjo")
        expect(page.get_by_role("checkbox", name="Peer supporter")).to_be_checked()
        ui.check("person added")

        ui.menu("People")
        ui.check()
        page.get_by_label("Search by name or staff number").fill(leaving.name)
        page.get_by_role("button", name="Search").click()
        ui.check()
        page.get_by_role("link", name=leaving.name, exact=True).click()
        ui.check()
        page.get_by_role("button", name=f"Deactivate {leaving.name}").click()
        assert f"{leaving.name} is deactivated and has been signed out everywhere." in ui.flash()
        expect(page.get_by_text("This account is deactivated: they cannot sign in.")).to_be_visible()
        ui.check("deactivated")

        ui.menu("People")
        ui.check()
        page.get_by_label("Search by name or staff number").fill(leaving.name)
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("row", name=re.compile(re.escape(leaving.name)))).to_contain_text("Deactivated")
        ui.check()

        # Accounts, not confidential content: the incident is not the admin's to open.
        ui.expect_not_found(f"/incidents/{incident_id}")

    # Nobody is left waiting on someone who has gone.
    assert all(c.peer_id not in (None, leaving.id) for c in story.schedule())

    with browser_for("deactivated peer", phone=True) as ui:
        ui.goto("/signin")
        ui.check()
        ui.page.get_by_label("Email address").fill(leaving.email)
        ui.page.get_by_label("Password").fill(PASSWORD)
        ui.page.get_by_role("button", name="Sign in").click()
        expect(ui.page.get_by_role("alert")).to_have_text("That email and password do not match an active account.")
        ui.check("sign-in refused")
