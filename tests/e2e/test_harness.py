"""The checks every journey relies on catch what they claim to catch, and the pages run
under the app's own Content-Security-Policy (the journeys bypass it to inject axe-core)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.e2e.conftest import BrowserFor
from tests.e2e.harness import DESKTOP
from tests.e2e.org import PASSWORD
from tests.e2e.story import Story
from tests.live_server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INACCESSIBLE = """<!doctype html><html lang="en"><head><title>bad</title></head><body><main>
<h1>A page with problems</h1>
<img src="/static/none.png">
<p style="color:#bbb;background:#fff">Pale grey text nobody can read</p>
<input type="text" name="unlabelled">
</main></body></html>"""


def test_check_fails_on_serious_accessibility_problems(browser_for: BrowserFor) -> None:
    with browser_for("self-test") as ui:
        ui.page.set_content(INACCESSIBLE)
        with pytest.raises(AssertionError) as failure:
            ui.check()
    report = str(failure.value)
    assert "Accessibility problems on" in report
    assert "[critical] image-alt" in report
    assert "[serious] color-contrast" in report
    assert "img" in report  # names the element


def test_check_fails_on_a_page_that_scrolls_sideways(browser_for: BrowserFor) -> None:
    with browser_for("self-test", phone=True) as ui:
        ui.page.set_content(
            '<!doctype html><html lang="en"><head><title>wide</title>'
            '<meta name="viewport" content="width=device-width"></head>'
            '<body><main><h1>Wide</h1><div style="width:900px">table</div></main></body></html>'
        )
        with pytest.raises(AssertionError, match="scrolls sideways"):
            ui.check()


def test_a_journey_cannot_skip_checking_a_page(browser_for: BrowserFor) -> None:
    with browser_for("self-test") as ui:
        ui.goto("/signin")
        ui.goto("/signin?next=/overview")
        with pytest.raises(AssertionError, match=r"never checked with UI\.check\(\): \['http://"):
            ui.check()
        ui.check()  # the complaint is made once; the page now shown passes
        ui.goto("/signin")
        with pytest.raises(AssertionError, match="never checked"):
            ui.finish()
        ui.check()


def test_pages_work_under_their_own_content_security_policy(browser: Browser, live: LiveServer, story: Story) -> None:
    """No bypass here: the styles, the menu script and the live people search must all run
    under the CSP the app sends, with nothing refused."""
    context = browser.new_context(viewport=DESKTOP)
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            refused.append(message.text)

    try:
        page = context.new_page()
        page.on("console", watch)
        page.on("pageerror", lambda exc: refused.append(str(exc)))
        page.goto(live.url + "/signin")
        page.get_by_label("Email address").fill(story.org.supervisor.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        # app.js ran: on a wide screen it opens the menu.
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents")).to_be_visible()
        # The stylesheet applied: the skip link sits off-screen until focused.
        skip_left = page.get_by_role("link", name="Skip to content").evaluate("a => a.getBoundingClientRect().left")
        assert skip_left < 0
        page.goto(live.url + "/incidents/new")
        # htmx ran: typing shows matches without pressing Find.
        page.get_by_label("Find people by name or staff number").fill(story.crew[0].name)
        expect(page.get_by_role("button", name=f"Add {story.crew[0].name}", exact=True)).to_be_visible()
    finally:
        context.close()
    assert refused == []
