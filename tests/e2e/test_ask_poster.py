"""The station poster's /ask on a phone, before sign-in: what asking means, the crisis numbers
to tap, and a way in that lands on the form (issue 17 point 8)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD
from tests.e2e.story import Story

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_poster_link_explains_before_sign_in_and_leads_to_the_form(browser_for: BrowserFor, story: Story) -> None:
    person = story.org.responders[-1]
    with browser_for("poster", phone=True) as ui:
        page = ui.page
        ui.goto("/ask")
        main = page.locator("main")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ask for a peer")
        expect(main).to_contain_text("your supervisor is not told")
        expect(main).to_contain_text("The one exception:")
        for number, href in (("999", "tel:999"), ("116 123", "tel:116123")):
            link = main.get_by_role("link", name=number, exact=True)
            expect(link).to_have_attribute("href", href)
        ui.check("ask before sign-in", docs="ask-before-signin-phone")
        main.get_by_role("button", name="Sign in to ask").click()
        page.get_by_label("Email address").fill(person.email)
        page.get_by_label("Password").fill(PASSWORD)
        ui.check("sign in")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(ui.url("/requests/new"))
        ui.check("ask form")
