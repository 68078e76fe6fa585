"""Browser journeys: the real app on a loopback port, driven by Debian's Chromium.

Fixtures (package scope: one server, one browser, one organisation for all journeys):
- `live`:    the app served by uvicorn against the test PostgreSQL database (tests/live_server.py).
- `org`:     the people and stations the journeys use (tests/e2e/org.py).
- `story`:   what earlier journeys left behind (the incident the supervisor logged), so a
             journey can continue the story, or start it itself when run alone.
- `browser_for`: `with browser_for("peer", phone=True) as ui:` a fresh browser (a Playwright
             context) for one person; see tests/e2e/harness.py for what `ui` offers.

Chromium is /usr/bin/chromium (TRIM_CHROMIUM to change). Missing: the journeys skip, or
fail when TRIM_REQUIRE_BROWSER=1 (CI). Never `playwright install`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.harness import UI, new_ui
from tests.e2e.org import Org, seed_org
from tests.e2e.story import Story
from tests.live_server import LiveServer, live_server

CHROMIUM = Path(os.environ.get("TRIM_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("TRIM_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); browser journeys not run"
        if REQUIRE_BROWSER:
            pytest.fail(message + " (TRIM_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def live(browser: Browser, postgres_url: str) -> Iterator[LiveServer]:
    with live_server(postgres_url) as server:
        yield server


@pytest.fixture(scope="package")
def org(live: LiveServer) -> Org:
    return live.run_db(lambda session: seed_org(session, settings=live.settings, now=live.clock()))


@pytest.fixture(scope="package")
def story(live: LiveServer, org: Org) -> Story:
    return Story(live, org)


BrowserFor = Callable[..., AbstractContextManager[UI]]


@pytest.fixture
def browser_for(browser: Browser, live: LiveServer) -> BrowserFor:
    """A fresh browser for one person; every page it lands on must pass UI.check()."""

    @contextmanager
    def open_browser(who: str, *, phone: bool = False) -> Iterator[UI]:
        ui = new_ui(browser, live.url, who=who, phone=phone)
        try:
            yield ui
            ui.finish()
        finally:
            ui.context.close()

    return open_browser
