"""Check-ins without signal (issue 23, design section 16), in Chromium on a phone.

A peer opens a check-in while they have signal, loses it (the browser context is set
offline), records the check-in, reloads, and gets the signal back: the recording arrives
once. The same with the session expired meanwhile (they sign in and it is sent) and with
the check-in handed to another peer meanwhile (they are told, and see what they entered
until they dismiss it). A post over a connection that carries nothing back (one bar) is
kept and sent from the phone, once whether or not the first post got through. The person
answering their own questions without signal gets the same, and a safety "yes" kept on
the phone tells them nobody has been told yet. What the phone keeps is read straight from
IndexedDB and Cache Storage: without the session's key nothing in it names anyone or says
anything.

Each journey logs its own small incident through the service, so it runs alone too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func
from sqlmodel import col, select

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, BrowserFor
from tests.e2e.harness import _AXE_RUN, PHONE, UI
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import NORTHGATE, Story
from tests.e2e.test_more_journeys import answer_all
from tests.e2e.test_self_checkin_journey import answer_own, self_checkin
from tests.live_server import LiveServer
from trim.accounts import signin
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole
from trim.assessments import instruments as catalogue
from trim.assessments.models import Assessment
from trim.db import AsyncSession
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.incidents import service as incidents

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTES = "Lost his footing on the ladder; nightmares about the cab every night"

# Everything the phone keeps, as text: IndexedDB rows (binary values decoded as UTF-8,
# so a plaintext answer would show) and every response in Cache Storage.
READ_WHAT_THE_PHONE_KEEPS = """
async () => {
  const asText = (value) => {
    if (value instanceof ArrayBuffer) return new TextDecoder("utf-8", { fatal: false }).decode(value);
    if (ArrayBuffer.isView(value)) return new TextDecoder("utf-8", { fatal: false }).decode(value.buffer);
    if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => k + "=" + asText(v)).join(" ");
    return String(value);
  };
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("trim-offline");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const rows = {};
  for (const name of Array.from(db.objectStoreNames)) {
    rows[name] = await new Promise((resolve) => {
      const request = db.transaction(name).objectStore(name).getAll();
      request.onsuccess = () => resolve(request.result.map(asText));
    });
  }
  db.close();
  const cached = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      cached.push(request.url + " " + await response.text());
    }
  }
  return { rows, cached };
}
"""

KEPT = """
async ([store, path]) => {
  const db = await new Promise((resolve) => {
    const request = indexedDB.open("trim-offline");
    request.onsuccess = () => resolve(request.result);
  });
  if (!db.objectStoreNames.contains(store)) { db.close(); return false; }
  const row = await new Promise((resolve) => {
    const request = db.transaction(store).objectStore(store).get(path);
    request.onsuccess = () => resolve(request.result);
  });
  db.close();
  return Boolean(row);
}
"""


@dataclass(frozen=True)
class Visit:
    incident_id: uuid.UUID
    checkin_id: uuid.UUID
    person: Member
    peer: Member

    @property
    def path(self) -> str:
        return f"/checkins/{self.checkin_id}"


def _lead(story: Story) -> Actor:
    lead = story.org.lead
    return Actor(id=lead.id, name=lead.name, email=lead.email, roles=frozenset({"lead"}), station_id=lead.station_id)


def _day3_visit(story: Story, person: Member) -> Visit:
    """An incident of the person's own, logged by the lead through the service (so no other
    journey's home page lists it): their day-3 check-in is due."""
    live = story.live

    async def log(session: AsyncSession) -> Visit:
        assert person.station_id is not None
        incident = await incidents.log_incident(
            session,
            actor=_lead(story),
            data=incidents.IncidentInput(
                occurred_at=story.occurred_at,
                kind="difficult_rescue",
                station_id=person.station_id,
                summary="Roof collapse during the warehouse fire; a colleague was trapped for an hour.",
                exposures=[incidents.ExposureRef("direct", person.id)],
            ),
            now=live.clock(),
            settings=live.settings,
        )
        await session.flush()
        checkin = (
            await session.exec(select(CheckIn).where(CheckIn.incident_id == incident.id, CheckIn.kind == "day3"))
        ).one()
        assert checkin.peer_id is not None, "the day-3 check-in has a peer"
        # A seeded peer who signs in with the demo password (not one an earlier journey
        # invited, who chose their own and a second factor), still active.
        active = set(await session.exec(select(Person.id).where(col(Person.active).is_(True))))
        peer = next(p for p in story.org.peers if p.id in active and p.station_id != person.station_id)
        if checkin.peer_id != peer.id:
            await followups.reassign_exposure(
                session,
                actor=_lead(story),
                exposure_id=checkin.exposure_id,
                peer_id=peer.id,
                now=live.clock(),
                settings=live.settings,
            )
        return Visit(incident.id, checkin.id, person, peer)

    return live.run_db(log)


async def _another_active_peer(session: AsyncSession, visit: Visit) -> uuid.UUID:
    """A peer the lead may hand the check-in to: active, not the current one, another station."""
    rows = await session.exec(
        select(Person.id)
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .where(
            PersonRole.role == "peer",
            col(Person.active).is_(True),
            Person.id != visit.peer.id,
            Person.station_id != visit.person.station_id,
        )
        .order_by(col(Person.name))
    )
    return rows.first() or pytest.fail("no other active peer to hand the check-in to")


def _people(story: Story) -> Iterator[Member]:
    """Responders no other journey uses."""
    used = {*story.exposures, *(m.id for m in story.org.responders[:1]), story.org.responders[-1].id}
    used |= {story.org.responders[5].id, story.org.responders[10].id}
    northgate = story.org.stations[NORTHGATE]
    return iter([m for m in story.org.responders if m.id not in used and m.station_id not in (None, northgate)][-6:])


NewVisit = Callable[[], Visit]


@pytest.fixture(scope="module")
def new_visit(story: Story) -> Iterator[NewVisit]:
    """`new_visit()`: a person's own incident with a day-3 check-in due. When the module is
    done, the people are taken off their incidents (open check-ins cancelled), so the
    peers' loads, which decide later assignments, are as the other journeys expect."""
    people = _people(story)
    made: list[Visit] = []

    def make() -> Visit:
        made.append(_day3_visit(story, next(people)))
        return made[-1]

    yield make

    async def forget(session: AsyncSession) -> None:
        for visit in made:
            await incidents.remove_exposure(
                session,
                actor=_lead(story),
                incident_id=visit.incident_id,
                person_id=visit.person.id,
                now=story.live.clock(),
            )

    story.live.run_db(forget)


def _assessments(story: Story, checkin_id: uuid.UUID) -> int:
    async def count(session: AsyncSession) -> int:
        rows = await session.exec(
            select(func.count()).select_from(Assessment).where(col(Assessment.checkin_id) == checkin_id)
        )
        return int(rows.one())

    return story.live.run_db(count)


def _no_axe_violations(ui: UI) -> None:
    """The new states pass axe with no violation at all, not only no serious one (ui.check
    has injected axe already)."""
    found: list[dict[str, Any]] = ui.page.evaluate(_AXE_RUN)
    assert found == [], [(v["id"], v["impact"], v["nodes"][:3]) for v in found]


def _open_online(ui: UI, visit: Visit) -> None:
    """Sign in and open the check-in with signal: the phone keeps its sealed copy."""
    page = ui.page
    ui.sign_in(visit.peer.email, PASSWORD)
    ui.goto(visit.path)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Day 3 check-in")
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    page.wait_for_function(KEPT, arg=["pages", visit.path])
    ui.check("check-in, with signal")


def _record_without_signal(ui: UI, visit: Visit) -> None:
    page = ui.page
    ui.context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Day 3 check-in")
    expect(page.locator(".offline-copy")).to_contain_text("No connection")
    ui.check("check-in, without signal")
    _no_axe_violations(ui)
    page.get_by_label("Check-in held").check()
    answer_all(ui, "day3", yes=1)
    page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
    page.get_by_label(re.compile("Your notes")).fill(NOTES)
    page.get_by_role("button", name="Save check-in").click()
    expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
    expect(page.locator("#offline-saved")).to_contain_text("Saved on this phone")
    ui.check("saved on the phone", docs="peer-saves-offline-phone")
    _no_axe_violations(ui)

    page.reload()
    expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
    expect(page.locator("#offline-saved")).to_contain_text("waiting to be sent")
    ui.check("still waiting after a reload")


def _kept_unreadable(page: Page, *secrets: str) -> None:
    """Something waits in the phone's outbox, and none of these is readable in what it keeps."""
    kept: dict[str, Any] = page.evaluate(READ_WHAT_THE_PHONE_KEEPS)
    assert kept["rows"]["outbox"], "it is kept on the phone"
    everything = " ".join(" ".join(rows) for rows in kept["rows"].values())
    for secret in secrets:
        assert secret not in everything, f"{secret!r} is readable in what the phone keeps"


def _nothing_readable(page: Page, visit: Visit) -> None:
    kept: dict[str, Any] = page.evaluate(READ_WHAT_THE_PHONE_KEEPS)
    assert kept["rows"]["outbox"], "the recording is kept on the phone"
    assert kept["rows"]["pages"], "the check-in page is kept on the phone"
    everything = " ".join([*(" ".join(rows) for rows in kept["rows"].values()), *kept["cached"]])
    for secret in (NOTES, "nightmares", visit.person.name, visit.person.name.split()[-1], "Check-in held", "Day 3"):
        assert secret not in everything, f"{secret!r} is readable in what the phone keeps"
    assert all(visit.person.name not in text for text in kept["cached"])


def test_a_checkin_recorded_without_signal_arrives_once(
    browser_for: BrowserFor, story: Story, new_visit: NewVisit
) -> None:
    visit = new_visit()
    with browser_for("peer without signal", phone=True) as ui:
        page = ui.page
        _open_online(ui, visit)
        _record_without_signal(ui, visit)
        _nothing_readable(page, visit)
        assert _assessments(story, visit.checkin_id) == 0

        # A page the phone never kept: it says so and lists what it did keep.
        page.goto(ui.url("/requests"))
        expect(page.get_by_role("heading", level=1)).to_have_text("No connection")
        expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
        kept_link = page.locator("#offline-kept").get_by_role("link", name=re.compile(re.escape(visit.person.name)))
        expect(kept_link).to_be_visible()
        ui.check("a page the phone did not keep")
        _no_axe_violations(ui)
        kept_link.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Day 3 check-in")
        expect(page.locator("#offline-saved")).to_contain_text("waiting to be sent")
        ui.check()

        ui.context.set_offline(False)
        expect(page.locator(".offline-sent")).to_contain_text("Sent")
        expect(page.locator(".offline-badge")).to_have_count(0)
        expect(page.locator("#offline-saved")).to_contain_text("Sent and recorded")
        ui.check("sent when the signal came back")
        _no_axe_violations(ui)
        assert _assessments(story, visit.checkin_id) == 1

        # Back and forth does not send it again, and the page shows the recording.
        page.reload()
        expect(page.locator("main")).to_contain_text("Recorded")
        expect(page.locator("main")).to_contain_text("nightmares about the cab")
        expect(page.locator(".offline-badge")).to_have_count(0)
        ui.check("the recorded check-in")
        assert _assessments(story, visit.checkin_id) == 1

        # Signing out takes the key away with the session.
        assert page.evaluate("() => sessionStorage.getItem('trim-offline-key')") is not None
        if not page.get_by_role("button", name="Sign out").is_visible():
            page.get_by_text("Menu", exact=True).click()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Sign in")
        ui.check()
        assert page.evaluate("() => sessionStorage.getItem('trim-offline-key')") is None


def test_a_recording_waits_for_a_new_sign_in_when_the_session_expired(
    browser_for: BrowserFor, story: Story, new_visit: NewVisit
) -> None:
    visit = new_visit()
    with browser_for("peer whose session expired", phone=True) as ui:
        page = ui.page
        _open_online(ui, visit)
        _record_without_signal(ui, visit)

        ui.expect_failed_loads(r"/api/checkins/[0-9a-f-]+/record$")  # 401 until they sign in again
        token = next(c["value"] for c in ui.context.cookies() if c["name"] == "trim_session")
        story.live.run_db(lambda session: signin.end_session(session, token=token))

        ui.context.set_offline(False)
        badge = page.locator(".offline-badge")
        expect(badge).to_contain_text("Your session has ended")
        expect(badge).to_contain_text("Waiting to send (1)")
        ui.check("session ended, still waiting")
        _no_axe_violations(ui)
        assert _assessments(story, visit.checkin_id) == 0

        badge.get_by_role("link", name="sign in and it is sent").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Sign in")
        expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
        ui.check("sign in to send")
        page.get_by_label("Email address").fill(visit.peer.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(ui.url(visit.path))
        expect(page.locator(".offline-sent")).to_contain_text("Sent")
        expect(page.locator(".offline-badge")).to_have_count(0)
        ui.check("sent after signing in again")
    assert _assessments(story, visit.checkin_id) == 1


def test_a_recording_for_a_reassigned_checkin_is_shown_until_dismissed(
    browser_for: BrowserFor, story: Story, new_visit: NewVisit
) -> None:
    visit = new_visit()

    async def reassign(session: AsyncSession) -> None:
        checkin = await session.get(CheckIn, visit.checkin_id)
        assert checkin is not None
        other = await _another_active_peer(session, visit)
        await followups.reassign_exposure(
            session,
            actor=_lead(story),
            exposure_id=checkin.exposure_id,
            peer_id=other,
            now=story.live.clock(),
            settings=story.live.settings,
        )

    with browser_for("peer whose check-in moved", phone=True) as ui:
        page = ui.page
        _open_online(ui, visit)
        _record_without_signal(ui, visit)
        story.live.run_db(reassign)
        ui.expect_failed_loads(r"/api/checkins/[0-9a-f-]+/record$")  # 404: no longer theirs

        ui.context.set_offline(False)
        problem = page.locator(".offline-problem")
        expect(problem).to_contain_text("Not sent")
        expect(problem).to_contain_text("no longer yours to record")
        expect(problem).to_contain_text(NOTES)  # what they entered, so nothing is silently lost
        expect(page.locator(".offline-badge")).to_have_count(0)
        ui.check("not sent: the check-in moved", docs="peer-offline-not-sent-phone")
        _no_axe_violations(ui)
        assert _assessments(story, visit.checkin_id) == 0

        page.goto(ui.url("/"))
        expect(page.locator(".offline-problem")).to_contain_text(NOTES)  # kept until they dismiss it
        ui.check("still shown on the home page")
        page.get_by_role("button", name=re.compile("remove it from this phone")).click()
        expect(page.locator(".offline-problem")).to_have_count(0)
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
        expect(page.locator(".offline-problem")).to_have_count(0)
        ui.check("dismissed")
    assert _assessments(story, visit.checkin_id) == 0


def test_a_half_filled_checkin_survives_a_reload_and_a_closed_tab(
    browser_for: BrowserFor, story: Story, new_visit: NewVisit
) -> None:
    visit = new_visit()
    with browser_for("peer with a draft", phone=True) as ui:
        page = ui.page
        _open_online(ui, visit)
        page.get_by_label("Check-in held").check()
        answer_all(ui, "day3", yes=1)
        page.get_by_label(re.compile("Your notes")).fill(NOTES)
        page.wait_for_function(KEPT, arg=["drafts", visit.path])
        page.wait_for_timeout(400)  # the last keystrokes are kept a moment after typing stops

        page.reload()
        expect(page.locator(".offline-draft")).to_contain_text("What you entered before is back")
        expect(page.get_by_label(re.compile("Your notes"))).to_have_value(NOTES)
        expect(page.get_by_label("Check-in held")).to_be_checked()
        ui.check("draft back after a reload")
        kept: dict[str, Any] = page.evaluate(READ_WHAT_THE_PHONE_KEEPS)
        assert kept["rows"]["drafts"] and not any("nightmares" in row for row in kept["rows"]["drafts"])

        # A closed tab takes its session storage (and the key) with it; a new tab gets the
        # same key from the session, so the draft opens again.
        page.close()
        tab = UI(ui.context, ui.base_url, who="peer with a draft, new tab", phone=True)
        tab.goto(visit.path)
        expect(tab.page.get_by_label(re.compile("Your notes"))).to_have_value(NOTES)
        tab.check("draft back in a new tab")
        tab.page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
        tab.page.get_by_role("button", name="Save check-in").click()
        expect(tab.page.locator(".flash")).to_contain_text("Check-in recorded")
        tab.check("recorded from the draft")
        tab.page.wait_for_function(f"async () => !(await ({KEPT})(['drafts', '{visit.path}']))")
        tab.finish()
    assert _assessments(story, visit.checkin_id) == 1


def test_the_app_installs(browser: Browser, live: LiveServer, tmp_path: Path) -> None:
    """Chromium's own installability check. It refuses any incognito profile, which every
    ordinary Playwright context is, so this one runs in a profile on disk."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        bypass_csp=True,
    )
    try:
        ui = UI(context, live.url, who="installer", phone=True)
        page = ui.page
        ui.goto("/signin")
        page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null")
        ui.check("installable")
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"].endswith("/manifest.webmanifest")
        assert manifest["errors"] == [], manifest["errors"]
        installability = cdp.send("Page.getInstallabilityErrors")
        assert installability["installabilityErrors"] == [], installability
        ui.finish()
    finally:
        context.close()


# A connection that is up and carries nothing: the check-in's form post gets no answer.
DEAD_POST = "**/checkins/*/record"
NOTES_TWO_LINES = "Quiet on the drive back.\nSays the smell of smoke stays with him"


def _post_over_a_dead_connection(ui: UI, visit: Visit, *, gets_through: bool) -> None:
    """Fill in the check-in with signal, and save it while the connection carries nothing
    back: the post reaches the server (gets_through) or not, and no answer comes."""
    page = ui.page

    def swallow(route: Any) -> None:
        if gets_through:
            route.fetch()  # the server records it; its answer never reaches the phone
        # neither continued nor answered: the phone waits

    page.route(DEAD_POST, swallow)
    # The phone stops waiting after 2 s here instead of TRIM_OFFLINE_POST_TIMEOUT_SECONDS.
    page.locator("form[data-offline-checkin]").evaluate("form => form.setAttribute('data-offline-timeout', '2')")
    page.get_by_label("Check-in held").check()
    answer_all(ui, "day3", yes=1)
    page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
    page.get_by_label(re.compile("Your notes")).fill(NOTES_TWO_LINES)
    page.get_by_role("button", name="Save check-in").click()
    expect(page.locator("#offline-saved")).to_contain_text("No answer came back", timeout=15_000)
    expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
    ui.check("no answer: kept on the phone")
    _no_axe_violations(ui)
    _kept_unreadable(page, "smell of smoke", visit.person.name, "Check-in held")


def _answer_comes_back(ui: UI, visit: Visit) -> None:
    """The connection carries again: the next try (here: the peer comes back to the tab)
    sends it, and the page says so."""
    page = ui.page
    page.unroute(DEAD_POST)
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    expect(page.locator("#offline-saved")).to_contain_text("Sent and recorded")
    expect(page.locator(".offline-badge")).to_have_count(0)
    ui.check("sent when the answer came back")
    page.reload()
    expect(page.locator("main")).to_contain_text("Recorded")
    expect(page.locator("main")).to_contain_text("smell of smoke stays with him")
    expect(page.locator(".offline-badge")).to_have_count(0)
    ui.check("the recorded check-in")


@pytest.mark.parametrize("gets_through", [True, False], ids=["post-got-through", "post-lost"])
def test_a_post_without_an_answer_is_sent_from_the_phone_and_recorded_once(
    browser_for: BrowserFor, story: Story, new_visit: NewVisit, gets_through: bool
) -> None:
    """Whether the first post reached the server (the second send replays it) or not (the
    second send records it), the check-in is recorded once."""
    visit = new_visit()
    with browser_for(f"peer on one bar, {'post got through' if gets_through else 'post lost'}", phone=True) as ui:
        _open_online(ui, visit)
        _post_over_a_dead_connection(ui, visit, gets_through=gets_through)
        assert _assessments(story, visit.checkin_id) == (1 if gets_through else 0)
        _answer_comes_back(ui, visit)
    assert _assessments(story, visit.checkin_id) == 1


FORGET_OUTBOX = """
async () => {
  const db = await new Promise((resolve) => {
    const request = indexedDB.open("trim-offline");
    request.onsuccess = () => resolve(request.result);
  });
  await new Promise((resolve) => {
    const request = db.transaction("outbox", "readwrite").objectStore("outbox").clear();
    request.onsuccess = () => resolve(null);
  });
  db.close();
}
"""


def test_a_person_answers_their_own_questions_without_signal(browser_for: BrowserFor, story: Story) -> None:
    """The person's own answers (design section 14) on a phone that loses signal: kept sealed
    on the phone and sent once when it is back; a safety "yes" kept there says plainly that
    nobody has been told yet and keeps the help in view."""
    setup = self_checkin(story)
    path = f"/checkins/{setup.checkin_id}/self"
    first_question = catalogue.offered_at(catalogue.load(), "day3")[0].items[0].own_words

    async def own_answers(session: AsyncSession) -> tuple[bool, int]:
        checkin = await session.get(CheckIn, setup.checkin_id)
        assert checkin is not None
        await session.refresh(checkin)
        rows = await session.exec(
            select(func.count()).select_from(Assessment).where(col(Assessment.checkin_id) == setup.checkin_id)
        )
        return checkin.self_answered_at is not None, int(rows.one())

    try:
        with browser_for("person answers without signal", phone=True) as ui:
            page = ui.page
            ui.sign_in(setup.person.email, PASSWORD)
            ui.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_text("Answer the questions yourself")
            page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null")
            page.wait_for_function(KEPT, arg=["pages", path])
            ui.check("own questions, with signal")

            ui.context.set_offline(True)
            page.reload()
            expect(page.get_by_role("heading", level=1)).to_have_text("Answer the questions yourself")
            expect(page.locator(".offline-copy")).to_contain_text("No connection")
            ui.check("own questions, without signal")
            _no_axe_violations(ui)
            page.get_by_role("button", name="Send my answers").click()
            expect(page.locator(".offline-gaps")).to_contain_text("Not saved yet: answer")
            expect(page.locator(".offline-gaps")).to_contain_text("the safety question")
            ui.check("own questions, some unanswered")

            answer_own(ui, "day3", yes=4)
            page.locator("fieldset#safety_concern").get_by_text("Yes", exact=True).click()
            page.get_by_role("button", name="Send my answers").click()
            saved = page.locator("#offline-saved")
            expect(saved).to_contain_text("Saved on this phone")
            crisis = page.locator("#offline-crisis")
            expect(crisis).to_contain_text("The programme lead is told when your answers are sent, not before")
            expect(crisis.locator("a[href^='tel:']").first).to_be_visible()
            expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
            ui.check("own answers with a safety yes, kept on the phone")
            _no_axe_violations(ui)
            _kept_unreadable(page, setup.person.name, first_question, "Answer the questions yourself")
            page.reload()
            expect(saved).to_contain_text("waiting to be sent")
            expect(crisis).to_contain_text("The programme lead is told when your answers are sent, not before")
            ui.check("a safety yes waiting, after a reload")
            # (The journey's person takes the "yes" back before any signal: an urgent flag
            # would stay open for the journeys after this one.)
            page.evaluate(FORGET_OUTBOX)

            page.reload()
            expect(page.locator(".offline-badge")).to_have_count(0)
            answer_own(ui, "day3", yes=4)
            page.locator("fieldset#safety_concern").get_by_text("No", exact=True).click()
            page.get_by_role("button", name="Send my answers").click()
            expect(saved).to_contain_text("Your answers are sent once, when the connection is back")
            expect(page.locator("#offline-crisis")).to_have_count(0)
            expect(page.locator(".offline-badge")).to_contain_text("Waiting to send (1)")
            ui.check("own answers kept on the phone")
            assert story.live.run_db(own_answers) == (False, 0)

            ui.context.set_offline(False)
            expect(saved).to_contain_text("Sent.")
            expect(page.locator(".offline-badge")).to_have_count(0)
            ui.check("own answers sent when the signal came back")
            _no_axe_violations(ui)
            assert story.live.run_db(own_answers) == (True, 1)

            saved.get_by_role("link", name="See your answers").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
            ui.check("thank you, after the signal came back")
            page.wait_for_function(f"async () => !(await ({KEPT})(['drafts', '{path}']))")
        assert story.live.run_db(own_answers) == (True, 1)
    finally:
        setup.finish()
