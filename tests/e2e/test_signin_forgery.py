"""Sign-in cannot be forged, in a real browser (issue 26 item 6): a page on another site
(http://localhost:<port>, while trim is http://127.0.0.1:<port>) tries to sign the
visitor's Chromium into the attacker's account, the three ways any web page can post
without asking: a text/plain form carrying JSON, a no-cors fetch, and the HTML sign-in
form. Each is refused and the browser stays signed out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser

from tests.e2e.org import PASSWORD, Org
from tests.live_server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def attacker_pages(target: str, email: str) -> dict[str, str]:
    payload = json.dumps({"email": email, "password": PASSWORD, "x": ""})
    name, value = payload[:-3] + '"', '"}'  # the form sends name=value: together, the JSON above
    return {
        "/form": f"""<!doctype html><title>Win a prize</title>
<form method="post" action="{target}/api/session" enctype="text/plain">
<input type="hidden" name="{escape(name)}" value="{escape(value)}"></form>
<script>document.forms[0].submit()</script>""",
        "/fetch": f"""<!doctype html><title>Win a prize</title>
<script>fetch("{target}/api/session", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(payload)}}})
  .finally(() => {{ document.title = "sent"; }});</script>""",
        "/signin-form": f"""<!doctype html><title>Win a prize</title>
<form method="post" action="{target}/signin">
<input type="hidden" name="email" value="{escape(email)}">
<input type="hidden" name="password" value="{escape(PASSWORD)}"></form>
<script>document.forms[0].submit()</script>""",
    }


@pytest.fixture
def attacker(live: LiveServer, org: Org) -> Iterator[str]:
    pages = attacker_pages(live.url, org.supervisor.email)

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "not here").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"  # another site than 127.0.0.1
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("page", "refused_with"), [("/form", 403), ("/fetch", 403), ("/signin-form", 403)])
def test_another_site_cannot_sign_the_browser_in(
    browser: Browser, live: LiveServer, attacker: str, page: str, refused_with: int
) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(live.url + "/signin")  # the victim has used trim before: they hold a CSRF cookie
        with tab.expect_response(lambda r: r.url.startswith(live.url) and r.request.method == "POST") as answer:
            tab.goto(attacker + page)
        # 403, not 415: the server saw Chromium's Origin / Sec-Fetch-Site and refused it as cross-site
        # before looking at the text/plain body (which alone would be refused with 415).
        assert answer.value.status == refused_with
        assert not [c for c in context.cookies(live.url) if c["name"] == "trim_session"]
        me = context.request.get(live.url + "/api/me")
        assert me.status == 401  # still signed out: nothing typed next can land in the attacker's account
    finally:
        context.close()


def test_signing_in_on_trim_itself_still_works(browser: Browser, live: LiveServer, org: Org) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(live.url + "/signin")
        tab.get_by_label("Email address").fill(org.supervisor.email)
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_load_state("load")
        assert [c for c in context.cookies(live.url) if c["name"] == "trim_session"]
        assert context.request.get(live.url + "/api/me").json()["email"] == org.supervisor.email
    finally:
        context.close()
