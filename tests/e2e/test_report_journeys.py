"""The board's report in a browser (the page, printed, the PDF) and a person giving
anonymous feedback on a phone once their request is closed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import select

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD
from tests.e2e.story import Story
from tests.live_server import LiveServer
from trim.db import AsyncSession
from trim.reports.models import FeedbackAnswer
from trim.requests.models import PeerRequest


def test_lead_reads_and_prints_the_board_report(browser_for: BrowserFor, story: Story, live: LiveServer) -> None:
    story.incident_id()
    with browser_for("lead report") as ui:
        page = ui.page
        ui.sign_in(story.org.lead.email, PASSWORD)
        ui.menu("Report")
        # The report's own title is the page's heading, as on paper.
        expect(page.get_by_role("heading", level=1)).to_contain_text("Peer support programme: ")
        ui.check()
        now = live.clock()
        page.get_by_label("Quarter").fill(f"{now.year}Q{(now.month - 1) // 3 + 1}")
        page.get_by_role("button", name="Show the report").click()
        expect(page.locator("main")).to_contain_text("Offers of support and uptake")
        expect(page.locator("svg.report-chart").first).to_be_visible()
        ui.check("report")
        # Printed from the browser: the report alone, without the navigation and the form.
        page.emulate_media(media="print")
        expect(page.locator(".site-header")).to_be_hidden()
        expect(page.locator("form.filters")).to_be_hidden()
        expect(page.locator("article.report h1")).to_be_visible()
        page.emulate_media(media="screen")
        pdf = ui.api_get(page.get_by_role("button", name="Download PDF").get_attribute("href") or "")
        assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")


def test_responder_gives_feedback_on_a_phone_once_their_request_is_closed(
    browser_for: BrowserFor, story: Story, live: LiveServer
) -> None:
    responder = story.org.responders[-1]
    asked = live.clock() - timedelta(days=2)

    async def closed_request(session: AsyncSession) -> uuid.UUID:
        request = PeerRequest(
            requester_id=responder.id,
            urgency="this_week",
            contact_method="phone",
            status="closed",
            created_at=asked,
            accepted_at=asked + timedelta(hours=2),
            closed_at=asked + timedelta(days=1),
            outcome="supported",
        )
        session.add(request)
        return request.id

    async def answers(session: AsyncSession) -> int:
        return len(list(await session.exec(select(FeedbackAnswer))))

    request_id = live.run_db(closed_request)
    before = live.run_db(answers)
    with browser_for("responder feedback", phone=True) as ui:
        page = ui.page
        ui.sign_in(responder.email, PASSWORD)
        ui.goto(f"/requests/{request_id}")
        ui.check()
        page.get_by_role("button", name="Answer three questions").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("How did it go?")
        ui.check("feedback form")
        for question in ("Was it helpful?", "Would you ask again?", "How easy was it to reach someone?"):
            page.get_by_role("group", name=question).get_by_label("4", exact=True).check()
        page.get_by_role("button", name="Send my answers").click()
        expect(page.get_by_role("status")).to_contain_text("Thank you")
        ui.check("feedback sent")
        ui.goto(f"/requests/{request_id}")
        expect(page.get_by_role("button", name="Answer three questions")).to_have_count(0)
        ui.check()
    assert live.run_db(answers) == before + 1
