"""A person at a browser: one Playwright context, with the checks every page must pass.

`UI.check(name)` is called on every page a journey lands on. It runs axe-core and fails on
"serious" or "critical" violations, fails on JavaScript errors, fails when a phone page
scrolls sideways, and saves a full-page screenshot to tests/e2e/screenshots/. When the
journey ends, any page it navigated to but never checked fails the test, so a new journey
cannot skip the accessibility check by forgetting it.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import APIResponse, Browser, BrowserContext, ConsoleMessage, Frame, Page, Response, expect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCREENSHOTS = HERE / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE_SOURCE = (HERE / "vendor" / "axe" / "axe.min.js").read_text(encoding="utf-8")

# TRIM_UPDATE_DOCS_SCREENSHOTS=1 copies the screenshots marked for the README into docs/.
UPDATE_DOCS = os.environ.get("TRIM_UPDATE_DOCS_SCREENSHOTS") == "1"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

BLOCKING_IMPACTS = ("serious", "critical")

_AXE_RUN = """
async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({ target: n.target.join(" "), summary: n.failureSummary || "" })),
  }));
}
"""


@dataclass
class Violation:
    id: str
    impact: str | None
    help: str
    help_url: str
    nodes: list[dict[str, str]]

    def describe(self) -> str:
        lines = [f"  [{self.impact}] {self.id}: {self.help}", f"      {self.help_url}"]
        for node in self.nodes[:8]:
            summary = " ".join(node["summary"].split())
            lines.append(f"      - {node['target']}: {summary}")
        if len(self.nodes) > 8:
            lines.append(f"      ... and {len(self.nodes) - 8} more elements")
        return "\n".join(lines)


def format_violations(where: str, violations: list[Violation]) -> str:
    return f"Accessibility problems on {where}:\n" + "\n".join(v.describe() for v in violations)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class UI:
    """One person's browser. Journeys use `page` (plain Playwright) for what they do,
    and the helpers here for what every journey does the same way."""

    def __init__(self, context: BrowserContext, base_url: str, *, who: str, phone: bool) -> None:
        self.context = context
        self.base_url = base_url
        self.who = who
        self.phone = phone
        self.page: Page = context.new_page()
        self._navigations: list[str] = []
        self._checked_upto = 0
        self._shots = 0
        self._errors: list[str] = []
        self._expected_failures: list[re.Pattern[str]] = []
        self.page.on("framenavigated", self._on_navigated)
        self.page.on("pageerror", lambda exc: self._errors.append(f"uncaught: {exc}"))
        self.page.on("console", self._on_console)

    # -- bookkeeping --------------------------------------------------------------------

    def _on_navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self._navigations.append(frame.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # A page answering 401, 404 or 422 on purpose logs its own status: not a fault.
        # A stylesheet or script that fails to load is one.
        source = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and source == self.page.url:
            return
        if message.text.startswith("Failed to load resource") and any(
            p.search(source) for p in self._expected_failures
        ):
            return
        if source.endswith("/favicon.ico"):  # the app has no icon yet; browsers ask anyway
            return
        self._errors.append(f"console: {message.text} ({source})")

    def expect_failed_loads(self, url_pattern: str) -> None:
        """A script on the page will be refused at these addresses on purpose (a recording
        sent after the session ended answers 401): not a fault."""
        self._expected_failures.append(re.compile(url_pattern))

    def unchecked_pages(self) -> list[str]:
        return self._navigations[self._checked_upto :]

    # -- the check every page gets -----------------------------------------------------------

    def check(self, name: str | None = None, *, docs: str | None = None) -> None:
        """Audit the page now shown (axe, script errors, no sideways scrolling) and screenshot it.

        `name` names the screenshot (tests/e2e/screenshots/<who>-NN-<name>.png); `docs`
        also names its copy in docs/screenshots/ for the README."""
        page = self.page
        page.wait_for_load_state("load")
        skipped = self.unchecked_pages()[:-1]
        self._checked_upto = len(self._navigations)
        assert not skipped, f"{self.who}: pages visited but never checked with UI.check(): {skipped}"
        where = f"{page.url} ({self.who}{', phone' if self.phone else ''})"
        if name:
            self._shots += 1
            path = SCREENSHOTS / f"{_slug(self.who)}-{self._shots:02d}-{_slug(name)}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            if docs and UPDATE_DOCS:
                DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, DOCS_SCREENSHOTS / f"{docs}.png")
        if not page.evaluate("() => Boolean(window.axe)"):
            page.add_script_tag(content=AXE_SOURCE)
        raw: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
        violations = [
            Violation(v["id"], v["impact"], v["help"], v["helpUrl"], v["nodes"])
            for v in raw
            if v["impact"] in BLOCKING_IMPACTS
        ]
        assert not violations, format_violations(where, violations)
        errors, self._errors = self._errors, []
        assert not errors, f"Script errors on {where}:\n  " + "\n  ".join(errors)
        current = page.locator('nav[aria-label="Main"] [aria-current="page"]').all_inner_texts()
        assert len(current) <= 1, f"{where}: the menu marks more than one page as current: {current}"
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{where} scrolls sideways by {overflow}px"

    # -- what every journey does --------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Response:
        response = self.page.goto(self.url(path))
        assert response is not None, path
        return response

    def sign_in(self, email: str, password: str) -> None:
        """Sign in through the form, as a person would, and land on the home page."""
        self.goto("/signin")
        self.check()
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", level=1)).to_contain_text("Hello")
        self.check()

    def menu(self, label: str) -> None:
        """Follow a link in the main navigation (on a phone it sits behind "Menu")."""
        nav = self.page.get_by_role("navigation", name="Main")
        link = nav.get_by_role("link", name=label, exact=True)
        if not link.is_visible():
            nav.get_by_text("Menu", exact=True).click()
        link.click()
        self.page.wait_for_load_state("load")

    def flash(self) -> str:
        """The one-time message the last action left (the first thing in <main>)."""
        return self.page.locator("main > p.flash").first.inner_text()

    def expect_not_found(self, path: str, name: str | None = None) -> None:
        """This page answers 404 and says so in words, the same as a page that never existed."""
        response = self.goto(path)
        assert response.status == 404, f"{path} answered {response.status}, expected 404"
        expect(self.page.get_by_role("heading", level=1)).to_have_text("Page not found")
        self.check(name)

    def api_get(self, path: str) -> APIResponse:
        """A request from this browser (its cookies), as a script on the page could make."""
        return self.context.request.get(self.url(path))

    def finish(self) -> None:
        unchecked = self.unchecked_pages()
        assert not unchecked, f"{self.who}: pages visited but never checked with UI.check(): {unchecked}"


def new_ui(browser: Browser, base_url: str, *, who: str, phone: bool) -> UI:
    context = browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=1,
        bypass_csp=True,  # so axe-core can be injected; the app's own CSP is tested without it
        locale="en-GB",
        timezone_id="Europe/London",
    )
    context.set_default_timeout(10_000)
    return UI(context, base_url, who=who, phone=phone)
