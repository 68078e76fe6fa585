"""Sign-in cannot be forged from another site (design 3a, issue 26 item 6).

The attack: a page on another site posts the attacker's email and password to
POST /api/session as text/plain (or a form), which any page may do without asking; the
victim's browser is then signed in to the attacker's account, and what they type into
"Ask for a peer" lands there. Only application/json is accepted (415 otherwise), and a
browser request that says it comes from another site is refused (403)."""

from __future__ import annotations

import json

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import PASSWORD, Cast
from tests.conftest import BASE_URL
from trim.accounts.auth import CROSS_SITE, JSON_ONLY
from trim.accounts.models import WebSession
from trim.db import AsyncSession

EVIL = "https://evil.example"


async def sessions(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(WebSession))).one())


def credentials(cast: Cast) -> bytes:
    return json.dumps({"email": cast.supervisor.email, "password": PASSWORD}).encode()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
        "application/json-patch+json",
    ],
)
async def test_a_sign_in_that_is_not_json_is_415_and_starts_no_session(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/api/session", content=credentials(cast), headers=headers)
    assert response.status_code == 415
    assert response.json() == {"detail": JSON_ONLY, "errors": []}
    assert "trim_session" not in client.cookies
    assert await sessions(session) == 0


async def test_json_with_a_charset_still_signs_in(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    response = await client.post(
        "/api/session", content=credentials(cast), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200
    assert client.cookies.get("trim_session")


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": EVIL},
        {"origin": EVIL, "sec-fetch-site": "cross-site"},
        {"origin": "null"},  # a sandboxed frame or a data: URL
        {"origin": "https://testserver.local.evil.example"},
        {"origin": "http://testserver.local"},  # the same host over plain http is another origin
        {"origin": "https://testserver.local:8443"},
        {"sec-fetch-site": "cross-site"},  # a browser that sends no Origin still says where it came from
    ],
)
async def test_a_cross_site_sign_in_is_403_and_starts_no_session(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/session", json={"email": cast.supervisor.email, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 403
    assert response.json() == {"detail": CROSS_SITE, "errors": []}
    assert "trim_session" not in client.cookies
    assert await sessions(session) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, an integration, the test client: no Origin at all
        {"origin": BASE_URL, "sec-fetch-site": "same-origin"},
        {"origin": "https://TESTSERVER.local:443"},  # the same origin, spelled out
        {"sec-fetch-site": "none"},  # typed into the address bar
    ],
)
async def test_a_same_origin_or_non_browser_sign_in_works(
    client: AsyncTestClient[Litestar], cast: Cast, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/session", json={"email": cast.supervisor.email, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert client.cookies.get("trim_session")


async def test_the_forged_text_plain_post_of_the_issue_is_refused(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    # Exactly what a hidden form with enctype="text/plain" on the attacker's page sends.
    body = json.dumps({"email": cast.supervisor.email, "password": PASSWORD, "x": "="})[:-2] + '="}'
    response = await client.post(
        "/api/session",
        content=body.encode(),
        headers={"content-type": "text/plain", "origin": EVIL, "sec-fetch-site": "cross-site"},
    )
    assert response.status_code in (403, 415)
    assert "trim_session" not in client.cookies
    assert await sessions(session) == 0


async def test_the_openapi_document_says_so(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operation = document["paths"]["/api/session"]["post"]
    assert {"403", "415"} <= set(operation["responses"])
    assert "application/json" in operation["description"]
    assert list(operation["requestBody"]["content"]) == ["application/json"]


async def test_the_sign_in_form_cannot_be_posted_from_another_site(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    # Without the victim's CSRF token (another site cannot read it) the form is refused...
    no_token = await client.post("/signin", data={"email": cast.supervisor.email, "password": PASSWORD})
    assert no_token.status_code == 403
    # ... and even with a token planted in the victim's browser (a cookie set from a
    # sibling subdomain), a post that comes from another site is refused.
    await client.get("/signin")
    token = client.cookies["csrftoken"]
    planted = await client.post(
        "/signin",
        data={"email": cast.supervisor.email, "password": PASSWORD, "_csrf_token": token},
        headers={"origin": EVIL, "sec-fetch-site": "cross-site"},
        follow_redirects=False,
    )
    assert planted.status_code == 403
    assert "another website" in planted.text
    assert "trim_session" not in client.cookies
    assert await sessions(session) == 0
    # From our own page it works as ever.
    own = await client.post(
        "/signin",
        data={"email": cast.supervisor.email, "password": PASSWORD, "_csrf_token": token},
        headers={"origin": BASE_URL, "sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert own.status_code == 303
    assert await sessions(session) == 1
