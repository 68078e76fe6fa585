"""Single sign-on against node-oidc-provider itself (an OpenID Certified implementation,
from the npm registry), started on loopback: real sign-ins through its interaction pages,
its token endpoint, its userinfo and its RP-initiated logout. The app runs in process
(the test client); the person's browser at the provider is httpx keeping the provider's
cookies (tests/accounts/node_oidc.py).

Two providers: "plain" (issuer without a trailing slash; email only from userinfo, the
provider's default) and "slash" (issuer ending in "/", as Auth0's does; email in the ID
token as well)."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import col, func, select

from tests.accounts.node_oidc import NodeProvider, ProviderBrowser, node_provider
from tests.cast import PASSWORD, Cast, sign_in, signed_in
from tests.conftest import BASE_URL, FakeClock
from trim.accounts import sso
from trim.accounts.models import Person, SsoIdentity, WebSession
from trim.db import AsyncSession
from trim.privacy.models import AuditEvent

CLIENT_ID = "trim-tests"
SECRET = "node-client-secret-for-trim-tests"
OTHER_ID = "another-app"
OTHER_SECRET = "node-client-secret-of-another-app"
CLIENTS = [
    {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [BASE_URL + sso.CALLBACK_PATH],
        "post_logout_redirect_uris": [BASE_URL + sso.SIGNED_OUT_PATH],
    }
    for client_id, secret in ((CLIENT_ID, SECRET), (OTHER_ID, OTHER_SECRET))
]


def account(email: str, **claims: Any) -> dict[str, Any]:
    return {"claims": {"email": email, "email_verified": True, "name": email.split("@")[0].title(), **claims}}


# The provider's accounts, by login (which is also their `sub`): the cast, and a stranger.
ACCOUNTS = {
    who: account(f"{who}@example.org") for who in ("responder", "peer", "lead", "supervisor", "admin", "clinician")
}
ACCOUNTS["stranger"] = account("stranger@example.org")


@pytest.fixture(scope="module")
def plain_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProvider]:
    with node_provider(tmp_path_factory.mktemp("idp-plain"), clients=CLIENTS, accounts=ACCOUNTS) as idp:
        yield idp


@pytest.fixture(scope="module")
def slash_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProvider]:
    folder = tmp_path_factory.mktemp("idp-slash")
    with node_provider(folder, clients=CLIENTS, accounts=ACCOUNTS, trailing_slash=True, id_token_claims=True) as idp:
        yield idp


@pytest.fixture
def idp_kind() -> str:
    return "plain"


@pytest.fixture
def idp(request: pytest.FixtureRequest, idp_kind: str) -> NodeProvider:
    provider: NodeProvider = request.getfixturevalue(f"{idp_kind}_idp")
    provider.reset()
    return provider


@pytest.fixture
def extra() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings_overrides(idp: NodeProvider, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "oidc_issuer": idp.issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": SECRET,
        "organisation_name": "Northshire Fire",
        **extra,
    }


@pytest.fixture
async def browser() -> AsyncIterator[ProviderBrowser]:
    person_browser = ProviderBrowser(BASE_URL)
    yield person_browser
    await person_browser.close()


async def leave_for_provider(client: AsyncTestClient[Litestar], next_path: str = "/") -> str:
    start = await client.get(f"/signin/sso?{urlencode({'next': next_path})}", follow_redirects=False)
    assert start.status_code == 303, start.text
    return str(start.headers["location"])


async def sign_in_through(
    client: AsyncTestClient[Litestar], browser: ProviderBrowser, login: str, next_path: str = "/"
) -> Any:
    back = await browser.sign_in(await leave_for_provider(client, next_path), login)
    return await client.get(back, follow_redirects=False)


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int((await session.exec(select(func.count()).select_from(model))).one())


async def actions(session: AsyncSession, action: str) -> list[AuditEvent]:
    return list(await session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def words(response: Any) -> str:
    """The page's words as a person reads them (entities such as &#39; decoded)."""
    return html.unescape(response.text)


def sso_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "trim.accounts.sso"]


def assert_nothing_personal(lines: list[str], *secrets: str) -> None:
    for line in lines:
        assert "@" not in line, line
        for secret in secrets:
            assert secret not in line, line


# -- signing in ------------------------------------------------------------------------


@pytest.mark.parametrize("idp_kind", ["plain", "slash"])
async def test_a_rostered_person_signs_in_through_node_oidc_provider(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, idp: NodeProvider, browser: ProviderBrowser
) -> None:
    authorize = await leave_for_provider(client, "/profile")
    assert authorize.startswith(idp.base + "/auth?")
    back = await client.get(await browser.sign_in(authorize, "peer"), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/profile"
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["id"] == str(cast.peer.id)
    # Linked by the provider's subject id, under the issuer exactly as it names itself.
    link = (await session.exec(select(SsoIdentity))).one()
    assert (link.person_id, link.subject, link.issuer) == (cast.peer.id, "peer", idp.issuer)
    assert idp.issuer.endswith("/") == (idp.issuer != idp.base)
    assert [e.subject_id for e in await actions(session, "sso.linked")] == [str(cast.peer.id)]
    web_session = (await session.exec(select(WebSession))).one()
    assert web_session.via == "sso" and web_session.id_token_encrypted
    assert "eyJ" not in web_session.id_token_encrypted  # kept encrypted, not as the token itself


async def test_an_issuer_configured_without_the_providers_trailing_slash_is_a_setup_problem_said_plainly(
    client: AsyncTestClient[Litestar], slash_idp: NodeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import make_settings
    from trim.app import create_app

    settings = client.app.state.settings
    trimmed = make_settings(
        str(settings.database_url),
        oidc_issuer=slash_idp.base,  # the provider says it is base + "/"
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=SECRET,
    )
    async with AsyncTestClient(app=create_app(trimmed), base_url=BASE_URL) as other:
        refused = await other.get("/signin/sso", follow_redirects=False)
    assert refused.status_code == 502
    assert "not set up correctly here" in words(refused) and "tell your administrator" in words(refused)
    assert any(repr(slash_idp.issuer) in line and "exactly" in line for line in sso_log(caplog))


async def test_an_unknown_email_is_refused_and_nobody_is_signed_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, browser: ProviderBrowser
) -> None:
    refused = await sign_in_through(client, browser, "stranger")
    assert refused.status_code == 403
    assert "there is no active account here for the email address it gave us" in words(refused)
    assert "trim_session" not in client.cookies
    assert await count(session, WebSession) == 0 and await count(session, SsoIdentity) == 0
    assert (await client.get("/api/me")).status_code == 401


async def test_cancelling_at_the_provider_signs_nobody_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, browser: ProviderBrowser
) -> None:
    back = await browser.cancel(await leave_for_provider(client))
    assert parse_qs(urlsplit(back).query)["error"] == ["access_denied"]
    refused = await client.get(back, follow_redirects=False)
    assert refused.status_code == 400 and "cancelled or refused" in words(refused)
    assert await count(session, WebSession) == 0
    assert (await client.get("/api/me")).status_code == 401


async def test_a_replayed_callback_signs_nobody_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, browser: ProviderBrowser
) -> None:
    back = await browser.sign_in(await leave_for_provider(client), "lead")
    flow_cookie = client.cookies[sso.COOKIE]
    assert (await client.get(back, follow_redirects=False)).status_code == 303
    assert await count(session, WebSession) == 1
    # The same reply again, with the flow cookie it came with (copied from the first browser):
    # the provider has spent the code, so nobody else is signed in.
    async with signed_in(client, None) as replayer:
        replayer.cookies.set(sso.COOKIE, flow_cookie, path=sso.COOKIE_PATH)
        refused = await replayer.get(back, follow_redirects=False)
        assert refused.status_code == 400
        assert "already used, or it ran out" in words(refused)
        assert (await replayer.get("/api/me")).status_code == 401
    # And in a browser without the flow cookie at all.
    async with signed_in(client, None) as stranger:
        refused = await stranger.get(back, follow_redirects=False)
        assert refused.status_code == 400 and "Start again" in words(refused)
    assert await count(session, WebSession) == 1


async def test_a_reply_naming_another_issuer_is_refused(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, browser: ProviderBrowser
) -> None:
    back = await browser.sign_in(await leave_for_provider(client), "lead")
    flow_cookie = client.cookies[sso.COOKIE]
    parts = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert "iss" in query  # node-oidc-provider says who answered (RFC 9207)
    for changed in ({**query, "iss": "https://attacker.example"}, {k: v for k, v in query.items() if k != "iss"}):
        client.cookies.set(sso.COOKIE, flow_cookie, path=sso.COOKIE_PATH)  # a refusal clears it
        refused = await client.get(f"{parts.path}?{urlencode(changed)}", follow_redirects=False)
        assert refused.status_code == 400 and "could not be verified" in words(refused)
    assert await count(session, WebSession) == 0


@pytest.mark.parametrize("extra", [{"oidc_client_secret": "not-the-secret-the-provider-holds"}])
async def test_a_wrong_client_secret_is_shown_as_a_setup_problem_and_logged_with_the_error_code(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    browser: ProviderBrowser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trim.accounts.sso")
    back = await browser.sign_in(await leave_for_provider(client), "peer")
    refused = await client.get(back, follow_redirects=False)
    assert refused.status_code == 502
    assert "not set up correctly here" in words(refused) and "Please tell your administrator" in words(refused)
    assert "Until it is fixed, you can sign in with your email address and password." in words(refused)
    assert "Start again" not in words(refused)
    lines = sso_log(caplog)
    assert any("invalid_client" in line and "configuration" in line for line in lines), lines
    code = parse_qs(urlsplit(back).query)["code"][0]
    assert_nothing_personal(lines, code, "not-the-secret-the-provider-holds", SECRET)
    assert await count(session, WebSession) == 0


async def test_an_id_token_for_another_application_is_refused(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    idp: NodeProvider,
    browser: ProviderBrowser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The provider issues a genuine, signed ID token, but for another client (aud).
    idp.rewrite_client(from_client=CLIENT_ID, to=OTHER_ID, secret=OTHER_SECRET)
    refused = await sign_in_through(client, browser, "peer")
    assert refused.status_code == 400 and "could not be verified" in words(refused)
    assert any("id_token:invalid_claim:aud" in line for line in sso_log(caplog))
    assert await count(session, WebSession) == 0 and await count(session, SsoIdentity) == 0


async def test_userinfo_that_does_not_answer_is_a_clear_page_not_an_error(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, idp: NodeProvider, browser: ProviderBrowser
) -> None:
    idp.userinfo_down()  # the plain provider gives the email only from userinfo
    refused = await sign_in_through(client, browser, "peer")
    assert refused.status_code == 502 and "did not answer. Try again in a moment." in words(refused)
    assert await count(session, WebSession) == 0


# -- email_verified --------------------------------------------------------------------


@pytest.mark.parametrize("idp_kind", ["plain", "slash"])
@pytest.mark.parametrize("said", [False, None], ids=["false", "missing"])
async def test_an_email_the_provider_has_not_verified_is_refused_saying_so(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    idp: NodeProvider,
    browser: ProviderBrowser,
    said: bool | None,
) -> None:
    claims: dict[str, Any] = {"email": "peer@example.org"}
    if said is not None:
        claims["email_verified"] = said
    idp.accounts(unverified={"claims": claims})
    refused = await sign_in_through(client, browser, "unverified")
    assert refused.status_code == 403
    assert "has not verified your email address" in words(refused)
    assert "did not tell us your email address" not in words(refused)
    assert await count(session, WebSession) == 0 and await count(session, SsoIdentity) == 0


@pytest.mark.parametrize("extra", [{"oidc_allow_unverified_email": True}])
@pytest.mark.parametrize("said", [False, None], ids=["false", "missing"])
async def test_a_setting_can_accept_addresses_the_provider_does_not_call_verified(
    client: AsyncTestClient[Litestar], cast: Cast, idp: NodeProvider, browser: ProviderBrowser, said: bool | None
) -> None:
    claims: dict[str, Any] = {"email": "peer@example.org"}
    if said is not None:
        claims["email_verified"] = said
    idp.accounts(unverified={"claims": claims})
    assert (await sign_in_through(client, browser, "unverified")).status_code == 303
    assert (await client.get("/api/me")).json()["id"] == str(cast.peer.id)


@pytest.mark.parametrize("idp_kind", ["slash"])  # the provider that puts the email in the ID token
async def test_userinfo_cannot_override_an_id_token_that_said_not_verified(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, idp: NodeProvider, browser: ProviderBrowser
) -> None:
    idp.accounts(
        fickle={"claims": {"email": "peer@example.org", "email_verified": False}, "userinfo": {"email_verified": True}}
    )
    refused = await sign_in_through(client, browser, "fickle")
    assert refused.status_code == 403 and "has not verified your email address" in words(refused)
    assert await count(session, WebSession) == 0
    # Its twin: the same provider, the ID token saying verified, signs in.
    idp.accounts(fickle={"claims": {"email": "peer@example.org", "email_verified": True}})
    async with signed_in(client, None) as other:
        other_browser = ProviderBrowser(BASE_URL)
        try:
            assert (await sign_in_through(other, other_browser, "fickle")).status_code == 303
        finally:
            await other_browser.close()


# -- linked by subject id ---------------------------------------------------------------


async def test_a_different_subject_with_a_linked_persons_email_is_refused_and_recorded(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    idp: NodeProvider,
    browser: ProviderBrowser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await sign_in_through(client, browser, "lead")).status_code == 303  # links "lead"
    idp.accounts(**{"lead-again": account("lead@example.org")})
    async with signed_in(client, None) as other:
        other_browser = ProviderBrowser(BASE_URL)
        try:
            refused = await sign_in_through(other, other_browser, "lead-again")
        finally:
            await other_browser.close()
        assert refused.status_code == 403
        assert "linked to a different account at your organisation's sign-in service" in words(refused)
        assert (await other.get("/api/me")).status_code == 401
    links = list(await session.exec(select(SsoIdentity.subject)))
    assert links == ["lead"]
    refusals = await actions(session, "sso.refused")
    assert [(e.actor_id, e.subject_id) for e in refusals] == [("system", str(cast.lead.id))]
    lines = sso_log(caplog)
    assert any("another_subject_for_linked_account" in line for line in lines)
    assert_nothing_personal(lines, "lead-again")
    # The lead's own record tells them.
    record = (await client.get("/api/me/record")).json()
    assert any("not the one linked to you" in read["what"] for read in record["reads"]), record["reads"]


async def test_once_linked_the_email_no_longer_decides_who_signs_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, idp: NodeProvider, browser: ProviderBrowser
) -> None:
    assert (await sign_in_through(client, browser, "responder")).status_code == 303  # links "responder"
    await client.post("/signout", data={"_csrf_token": client.cookies["csrftoken"]}, follow_redirects=False)
    # The attack: someone changes the responder's address here to one they hold at the
    # provider, and signs in there with it. The responder is known by their own subject.
    await session.exec(update(Person).where(col(Person.id) == cast.responder.id).values(email="taken@example.org"))
    idp.accounts(taker=account("taken@example.org"))
    async with signed_in(client, None) as taker:
        taker_browser = ProviderBrowser(BASE_URL)
        try:
            refused = await sign_in_through(taker, taker_browser, "taker")
        finally:
            await taker_browser.close()
        assert refused.status_code == 403 and (await taker.get("/api/me")).status_code == 401
    # And the responder's own account at the provider, whatever address it now gives,
    # still signs in as the responder, never as whoever holds that address here.
    idp.accounts(responder=account("admin@example.org"))
    async with signed_in(client, None) as again:
        again_browser = ProviderBrowser(BASE_URL)
        try:
            assert (await sign_in_through(again, again_browser, "responder")).status_code == 303
        finally:
            await again_browser.close()
        assert (await again.get("/api/me")).json()["id"] == str(cast.responder.id)


# -- signing out -------------------------------------------------------------------------


async def sign_out(client: AsyncTestClient[Litestar]) -> Any:
    return await client.post("/signout", data={"_csrf_token": client.cookies["csrftoken"]}, follow_redirects=False)


@pytest.mark.parametrize("idp_kind", ["plain", "slash"])
async def test_signing_out_ends_the_providers_session_so_the_next_person_is_asked_who_they_are(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, idp: NodeProvider, browser: ProviderBrowser
) -> None:
    assert (await sign_in_through(client, browser, "peer")).status_code == 303
    # The provider remembers them: another sign-in at this computer goes straight through.
    straight = await browser.go(await leave_for_provider(client))
    assert straight.back is not None and not straight.asked_to_sign_in
    assert (await client.get(straight.back, follow_redirects=False)).status_code == 303

    out = await sign_out(client)
    assert out.status_code == 303
    logout = urlsplit(out.headers["location"])
    assert f"{logout.scheme}://{logout.netloc}{logout.path}" == idp.base + "/session/end"
    query = parse_qs(logout.query)
    assert query["post_logout_redirect_uri"] == [BASE_URL + sso.SIGNED_OUT_PATH]
    assert query["client_id"] == [CLIENT_ID] and query["id_token_hint"][0].startswith("eyJ")
    assert (await client.get("/api/me")).status_code == 401
    assert await count(session, WebSession) == 0

    asked = await browser.go(out.headers["location"])
    assert asked.page is not None and "Sign out?" in words(asked.page)
    landed = await browser.confirm_sign_out(asked.page)
    assert landed.back == sso.SIGNED_OUT_PATH
    home = await client.get(landed.back)
    assert "You have signed out, here and at your organisation's sign-in service." in words(home)

    # The next person at this computer is asked who they are.
    next_person = await browser.go(await leave_for_provider(client))
    assert next_person.asked_to_sign_in


async def test_a_password_session_signs_out_here_only(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.peer.email, PASSWORD)
    out = await sign_out(client)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert await count(session, WebSession) == 0


@pytest.mark.parametrize("extra", [{"mfa_required_roles": ["peer"]}])
async def test_the_id_token_is_kept_through_the_second_factor(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, idp: NodeProvider, browser: ProviderBrowser
) -> None:
    await sign_in_through(client, browser, "peer")
    assert (await client.get("/checkins", follow_redirects=False)).headers["location"] == "/account/second-factor"
    setup = await client.get("/account/second-factor")
    secret = setup.text.split('<code class="secret-key">', 1)[1].split("</code>", 1)[0].replace(" ", "")
    done = await client.post(
        "/account/second-factor",
        data={"code": pyotp.TOTP(secret).at(clock()), "_csrf_token": client.cookies["csrftoken"]},
    )
    assert done.status_code == 200
    # Enrolling gave a fresh session; it still signs out at the provider with the hint.
    out = await sign_out(client)
    assert parse_qs(urlsplit(out.headers["location"]).query)["id_token_hint"][0].startswith("eyJ")
    # Next time: the provider (still signed in there: nobody confirmed), then trim's own code.
    clock.advance(seconds=30)
    back = await sign_in_through(client, browser, "peer", "/checkins")
    assert back.headers["location"] == "/signin/code?next=/checkins"
    await client.get("/signin/code")
    code = await client.post(
        "/signin/code",
        data={"code": pyotp.TOTP(secret).at(clock()), "next": "/checkins", "_csrf_token": client.cookies["csrftoken"]},
        follow_redirects=False,
    )
    assert code.headers["location"] == "/checkins"
    out = await sign_out(client)
    assert parse_qs(urlsplit(out.headers["location"]).query)["id_token_hint"][0].startswith("eyJ")
