"""Single sign-on through a real OpenID Connect provider started on loopback
(oidc-provider-mock): the browser is sent there, "signs in" by posting who they are,
and the provider's redirect back is followed with the test client. The app talks to the
provider over HTTP for discovery, the token and the signing keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from oidc_provider_mock import User, run_server_in_thread
from sqlmodel import func, select

from tests.cast import PASSWORD, Cast, signed_in
from tests.conftest import BASE_URL, FakeClock
from trim.accounts import service
from trim.accounts.models import Person, WebSession
from trim.db import AsyncSession
from trim.privacy.models import AuditEvent

CLIENT_ID = "trim-tests"
# A predefined identity whose token claims roles: trim must ignore them.
CLAIMING_ADMIN = User(
    sub="claims-admin",
    claims={"email": "responder@example.org", "email_verified": True, "roles": ["admin"], "groups": ["admin"]},
)
UNVERIFIED = User(sub="unverified", claims={"email": "peer@example.org", "email_verified": False})


@pytest.fixture(scope="module")
def provider_port() -> Iterator[int]:
    with run_server_in_thread(user_claims=[CLAIMING_ADMIN, UNVERIFIED], require_nonce=True) as server:
        yield int(server.server_port)


@pytest.fixture
def extra() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings_overrides(provider_port: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "oidc_issuer": f"http://localhost:{provider_port}",
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": "client-secret-for-tests",
        "organisation_name": "Northshire Fire",
        **extra,
    }


async def leave_for_provider(client: AsyncTestClient[Litestar], next_path: str = "/") -> str:
    start = await client.get(f"/signin/sso?{urlencode({'next': next_path})}", follow_redirects=False)
    assert start.status_code == 303, start.text
    return start.headers["location"]


PREDEFINED = {CLAIMING_ADMIN.sub, UNVERIFIED.sub}


async def provider_signs_in(authorize_url: str, sub: str) -> str:
    """What the person does at the provider; returns where it sends the browser back.
    Anyone not predefined is an account whose address the provider has verified."""
    provider = urlsplit(authorize_url)
    async with httpx.AsyncClient() as browser:
        if sub not in PREDEFINED:
            claims = {"email": sub, "email_verified": True}
            stored = await browser.put(f"{provider.scheme}://{provider.netloc}/users/{sub}", json=claims)
            assert stored.status_code == 204, stored.text
        answer = await browser.post(authorize_url, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    back = answer.headers["location"]
    assert back.startswith(BASE_URL + "/signin/sso/callback?")
    return back.removeprefix(BASE_URL)


async def through_provider(client: AsyncTestClient[Litestar], sub: str, next_path: str = "/") -> httpx.Response:
    back = await provider_signs_in(await leave_for_provider(client, next_path), sub)
    return await client.get(back, follow_redirects=False)


async def count_sessions(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(WebSession))).one())


async def test_the_sign_in_page_offers_the_organisation(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/signin?next=/me")
    assert "Sign in with Northshire Fire" in page.text
    assert 'href="/signin/sso?next=/me"' in page.text
    assert 'name="password"' in page.text  # passwords still work unless switched off


async def test_a_rostered_person_signs_in_through_the_provider(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, provider_port: int
) -> None:
    url = await leave_for_provider(client, "/me")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"http://localhost:{provider_port}/")
    assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and query["state"] != query["nonce"]
    back = await client.get(await provider_signs_in(url, cast.supervisor.email.upper()), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/me"
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["id"] == str(cast.supervisor.id)
    stmt = select(Person).where(Person.id == cast.supervisor.id).execution_options(populate_existing=True)
    person = (await session.exec(stmt)).one()
    assert person.joined_at is not None
    via = (await session.exec(select(AuditEvent.details).where(AuditEvent.action == "session.started"))).all()
    assert {"via": "sso"} in via


async def test_roles_are_trims_own_never_the_providers(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    back = await through_provider(client, CLAIMING_ADMIN.sub)
    assert back.status_code == 303
    me = (await client.get("/api/me")).json()
    assert me["id"] == str(cast.responder.id) and me["roles"] == ["responder"]
    assert (await client.get("/admin/people")).status_code == 404


async def test_an_unknown_email_is_refused_with_a_clear_page(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    refused = await through_provider(client, "stranger@example.org")
    assert refused.status_code == 403
    assert "there is no active account here for the email address it gave us" in refused.text
    assert "trim_session" not in client.cookies
    assert await count_sessions(session) == 0
    assert (await client.get("/api/me")).status_code == 401


async def test_a_deactivated_person_is_refused(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    await service.set_active(session, actor=cast.actor("admin"), person_id=cast.peer.id, active=False, now=clock())
    await session.commit()
    refused = await through_provider(client, cast.peer.email)
    assert refused.status_code == 403
    assert await count_sessions(session) == 0


async def test_an_address_the_provider_has_not_verified_is_refused(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    refused = await through_provider(client, UNVERIFIED.sub)
    assert refused.status_code == 403
    assert "has not verified your email address" in refused.text
    assert "did not tell us your email address" not in refused.text
    assert await count_sessions(session) == 0


async def test_a_tampered_state_is_refused_and_nobody_is_signed_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    back = await provider_signs_in(await leave_for_provider(client), cast.lead.email)
    parts = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")
    refused = await client.get(f"{parts.path}?{urlencode(query)}", follow_redirects=False)
    assert refused.status_code == 400
    assert "its state did not match" in refused.text and "nobody was signed in" in refused.text
    assert "trim_session" not in client.cookies
    assert await count_sessions(session) == 0


async def test_a_reply_without_the_browsers_flow_cookie_is_refused(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    # Someone else's callback link, opened in a browser that never started this sign-in.
    back = await provider_signs_in(await leave_for_provider(client), cast.lead.email)
    async with signed_in(client, None) as stranger:
        refused = await stranger.get(back, follow_redirects=False)
        assert refused.status_code == 400
    assert await count_sessions(session) == 0


async def test_a_provider_that_says_no_signs_nobody_in(
    client: AsyncTestClient[Litestar], session: AsyncSession
) -> None:
    await leave_for_provider(client)
    refused = await client.get("/signin/sso/callback?error=access_denied&state=x", follow_redirects=False)
    assert refused.status_code == 400 and "cancelled or refused" in refused.text
    assert await count_sessions(session) == 0


@pytest.mark.parametrize("extra", [{"mfa_required_roles": ["peer", "lead", "clinician", "admin"]}])
async def test_single_sign_on_does_not_stand_in_for_the_second_factor_by_default(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    await through_provider(client, cast.peer.email)
    assert (await client.get("/checkins", follow_redirects=False)).headers["location"] == "/account/second-factor"
    setup = await client.get("/account/second-factor")
    secret = setup.text.split('<code class="secret-key">', 1)[1].split("</code>", 1)[0].replace(" ", "")
    done = await client.post(
        "/account/second-factor",
        data={"code": pyotp.TOTP(secret).at(clock()), "_csrf_token": client.cookies["csrftoken"]},
    )
    assert done.status_code == 200
    clock.advance(seconds=30)
    # From now on a sign-in through the provider asks for the code too.
    async with signed_in(client, None) as later:
        back = await through_provider(later, cast.peer.email, "/checkins")
        assert back.headers["location"] == "/signin/code?next=/checkins"
        assert (await later.get("/api/me")).status_code == 401
        await later.get("/signin/code")
        code = await later.post(
            "/signin/code",
            data={
                "code": pyotp.TOTP(secret).at(clock()),
                "next": "/checkins",
                "_csrf_token": later.cookies["csrftoken"],
            },
            follow_redirects=False,
        )
        assert code.headers["location"] == "/checkins"
        assert (await later.get("/checkins")).status_code == 200


@pytest.mark.parametrize(
    "extra", [{"mfa_required_roles": ["peer", "lead", "clinician", "admin"], "oidc_satisfies_mfa": True}]
)
async def test_where_the_provider_enforces_a_second_factor_sso_counts_as_one(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    await through_provider(client, cast.lead.email)
    assert (await client.get("/overview")).status_code == 200
    # A password sign-in still needs trim's own second factor.
    async with signed_in(client, None) as other:
        body = (await other.post("/api/session", json={"email": cast.lead.email, "password": PASSWORD})).json()
        assert body["enrolment_required"] is True
        assert (await other.get("/api/flags")).status_code == 401


@pytest.mark.parametrize("extra", [{"password_signin_enabled": False}])
async def test_password_sign_in_can_be_switched_off(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    page = await client.get("/signin")
    assert "Sign in with Northshire Fire" in page.text and 'name="password"' not in page.text
    api = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert api.status_code == 401
    assert api.json()["detail"] == (
        "Password sign-in is switched off here. Use 'Sign in with Northshire Fire' on the sign-in page."
    )
    form = await client.post(
        "/signin", data={"email": cast.peer.email, "password": PASSWORD, "_csrf_token": client.cookies["csrftoken"]}
    )
    assert form.status_code == 401 and "trim_session" not in client.cookies
    forgot = await client.get("/password/forgot")
    assert "Password sign-in is switched off here" in forgot.text
    assert (await through_provider(client, cast.peer.email)).status_code == 303
    assert (await client.get("/api/me")).status_code == 200


async def test_without_settings_there_is_no_sso(
    client: AsyncTestClient[Litestar], settings_overrides: dict[str, Any]
) -> None:
    del settings_overrides  # the app below is built without them
    from tests.conftest import make_settings
    from trim.app import create_app

    plain = create_app(make_settings(str(client.app.state.settings.database_url)))
    async with AsyncTestClient(app=plain, base_url=BASE_URL) as other:
        assert "Sign in with" not in (await other.get("/signin")).text
        start = await other.get("/signin/sso", follow_redirects=False)
        assert start.status_code == 303 and start.headers["location"] == "/signin"
        # Nobody signed out at a provider that is not set up.
        back = await other.get("/signin/sso/signed-out")
        assert back.status_code == 200 and "at your organisation" not in back.text
