"""Signing in and out, through the pages and the API."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import PASSWORD, Cast, sign_in, signed_in
from trim.accounts.models import SigninCounter, WebSession
from trim.db import AsyncSession


async def test_health_reports_database(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_api_sign_in_returns_person_and_cookies(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    body = await sign_in(client, cast.peer.email)
    assert body == {
        "id": str(cast.peer.id),
        "name": cast.peer.name,
        "roles": ["responder", "peer"],
        "enrolment_required": False,
    }
    assert client.cookies.get("trim_session")
    me = await client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["email"] == cast.peer.email
    assert me.json()["station_id"] == str(cast.station_b.id)


async def test_wrong_password_401_and_no_session(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    response = await client.post("/api/session", json={"email": cast.peer.email, "password": "wrong password!!"})
    assert response.status_code == 401
    assert response.json()["detail"] == "That email and password do not match an active account."
    assert "trim_session" not in client.cookies
    assert (await session.exec(select(func.count()).select_from(WebSession))).one() == 0


async def test_unknown_email_gets_the_same_answer(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    known = await client.post("/api/session", json={"email": cast.peer.email, "password": "nope nope nope"})
    unknown = await client.post("/api/session", json={"email": "nobody@example.org", "password": "nope nope nope"})
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()


async def test_every_sign_in_gets_a_fresh_session_id(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    # A planted cookie (session fixation) is replaced, never adopted.
    client.cookies.set("trim_session", "planted-by-an-attacker", domain="testserver.local")
    await sign_in(client, cast.peer.email)
    first = client.cookies.get("trim_session")
    assert first and first != "planted-by-an-attacker"
    await sign_in(client, cast.peer.email)
    second = client.cookies.get("trim_session")
    assert second and second != first
    # The first session ended when the second began in the same browser.
    assert (await session.exec(select(func.count()).select_from(WebSession))).one() == 1


async def test_sign_out_ends_the_session_on_the_server(
    app: Litestar, client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    await sign_in(client, cast.peer.email)
    stolen = client.cookies.get("trim_session")
    response = await client.delete("/api/session")
    assert response.status_code == 204
    async with signed_in(client, None) as thief:
        thief.cookies.set("trim_session", stolen or "", domain="testserver.local")
        assert (await thief.get("/api/me")).status_code == 401


async def test_signed_out_api_is_401_and_page_redirects(client: AsyncTestClient[Litestar]) -> None:
    api = await client.get("/api/me")
    assert api.status_code == 401
    assert api.json()["detail"] == "Sign in first."
    page = await client.get("/profile", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/profile"


async def test_failed_sign_ins_are_limited_per_account(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    for _ in range(10):
        r = await client.post("/api/session", json={"email": cast.peer.email, "password": "guess guess guess"})
        assert r.status_code == 401
    # Even the right password is refused while the limit holds, so guessing learns nothing.
    limited = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in limited.json()["detail"]
    assert int(limited.headers["retry-after"]) > 0
    # Ten against the account and ten against the address; the refused eleventh counts nowhere.
    counts = sorted((await session.exec(select(SigninCounter.count))).all())
    assert counts == [10, 10]
    # Another account from the same address is not locked out by these ten.
    other = await client.post("/api/session", json={"email": cast.lead.email, "password": PASSWORD})
    assert other.status_code == 200


async def test_failed_sign_ins_are_limited_per_address(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    # Guessing across many accounts from one address is stopped too, at a higher limit
    # (a station's shared address should not lock everyone out after a few typos).
    for n in range(50):
        r = await client.post("/api/session", json={"email": f"guess{n}@example.org", "password": "nope nope nope"})
        assert r.status_code == 401
    limited = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert limited.status_code == 429


async def test_limit_lifts_after_the_window(client: AsyncTestClient[Litestar], cast: Cast, clock: object) -> None:
    for _ in range(10):
        await client.post("/api/session", json={"email": cast.peer.email, "password": "guess guess guess"})
    clock.advance(minutes=16)  # type: ignore[attr-defined]
    ok = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert ok.status_code == 200


async def test_successful_sign_ins_are_not_limited(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    for _ in range(15):
        await sign_in(client, cast.peer.email)


async def test_sign_in_page_and_form(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    page = await client.get("/signin")
    assert page.status_code == 200
    assert 'name="_csrf_token"' in page.text
    token = client.cookies["csrftoken"]
    bad = await client.post(
        "/signin", data={"email": cast.lead.email, "password": "wrong!!!!!!!!", "_csrf_token": token}
    )
    assert bad.status_code == 401
    assert "do not match" in bad.text
    assert cast.lead.email in bad.text  # the email is kept in the form
    good = await client.post(
        "/signin",
        data={"email": cast.lead.email, "password": PASSWORD, "_csrf_token": token, "next": "/profile"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert good.headers["location"] == "/profile"
    profile = await client.get("/profile")
    assert cast.lead.name in profile.text


async def test_sign_in_never_redirects_off_site(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await client.get("/signin")
    token = client.cookies["csrftoken"]
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = await client.post(
            "/signin",
            data={"email": cast.lead.email, "password": PASSWORD, "_csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/"


async def test_form_post_without_csrf_token_is_refused(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await client.get("/signin")
    response = await client.post("/signin", data={"email": cast.lead.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "security token" in response.text
    assert "trim_session" not in client.cookies


async def test_api_change_without_csrf_header_is_refused(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.peer.email)
    del client.headers["x-csrftoken"]
    response = await client.delete("/api/session")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("The form's security token")
    assert (await client.get("/api/me")).status_code == 200  # still signed in


async def test_session_expires_when_idle(client: AsyncTestClient[Litestar], cast: Cast, clock: object) -> None:
    await sign_in(client, cast.peer.email)
    clock.advance(hours=13)  # type: ignore[attr-defined]
    assert (await client.get("/api/me")).status_code == 401
