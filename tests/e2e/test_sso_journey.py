"""Single sign-on in Chromium, under the app's own Content Security Policy (no bypass):
a person at a shared station computer signs in through node-oidc-provider, signs out, and
the next person at that computer is asked who they are instead of being signed straight
back in as them.

Its own app server on its own SQLite database (the other journeys' PostgreSQL organisation
is left alone), and its own provider, whose issuer ends in "/" (as Auth0's does)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.accounts.node_oidc import NodeProvider, free_port, node_provider
from tests.cast import make_person
from tests.e2e.harness import DESKTOP
from tests.live_server import LiveServer, live_server
from trim.accounts import sso
from trim.accounts.models import Person
from trim.db import AsyncSession
from trim.migrations import upgrade

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLIENT_ID = "trim-station"
SECRET = "a-client-secret-for-the-sso-journey"
BUTTON = "Sign in with Northshire Fire"


@dataclass
class World:
    live: LiveServer
    idp: NodeProvider
    person: Person


@pytest.fixture(scope="module")
def world(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("sso-journey")
    database = f"sqlite+aiosqlite:///{folder / 'trim.db'}"
    upgrade(database)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/"
    overrides = {
        "oidc_issuer": issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": SECRET,
        "organisation_name": "Northshire Fire",
    }
    with live_server(database, **overrides) as live:
        clients = [
            {
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "redirect_uris": [live.url + sso.CALLBACK_PATH],
                "post_logout_redirect_uris": [live.url + sso.SIGNED_OUT_PATH],
            }
        ]
        accounts = {"sam": {"claims": {"email": "sam.rivers@example.org", "email_verified": True}}}
        with node_provider(folder / "idp", clients=clients, accounts=accounts, trailing_slash=True, port=port) as idp:
            assert idp.issuer == issuer

            async def seed(session: AsyncSession) -> Person:
                return await make_person(session, name="Sam Rivers", email="sam.rivers@example.org", password=False)

            yield World(live=live, idp=idp, person=live.run_db(seed))


def sign_in_at_provider(page: Page, login: str) -> None:
    page.get_by_role("button", name=BUTTON).click()
    page.get_by_label("Login").fill(login)
    page.get_by_role("button", name="Sign in").click()


def test_at_a_shared_computer_signing_out_signs_out_at_the_provider_too(browser: Browser, world: World) -> None:
    context = browser.new_context(viewport=DESKTOP)  # the app's CSP applies
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            refused.append(message.text)

    try:
        page = context.new_page()
        page.on("console", watch)
        page.on("pageerror", lambda exc: refused.append(str(exc)))
        page.goto(world.live.url + "/signin")
        sign_in_at_provider(page, "sam")
        expect(page).to_have_url(world.live.url + "/")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

        # Signing out here leads on to the provider (a form's POST redirected there: the
        # CSP's form-action allows the provider), which asks, then sends the browser back.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign out?")).to_be_visible()
        assert page.url.startswith(world.idp.base + "/session/end")
        page.get_by_role("button", name="Yes, sign me out").click()
        expect(page).to_have_url(world.live.url + "/signin")
        expect(
            page.get_by_text("You have signed out, here and at your organisation's sign-in service.")
        ).to_be_visible()

        # The next person at this computer: the provider asks who they are.
        page.get_by_role("button", name=BUTTON).click()
        expect(page.get_by_label("Login")).to_be_visible()
        assert page.url.startswith(world.idp.base + "/interaction/")
    finally:
        context.close()
    assert refused == []
