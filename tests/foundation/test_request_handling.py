"""App-wide request handling (issue 26 item 10): a JSON body that is not UTF-8, is
malformed or nests deeper than 64 levels is a 400 with the contract's JSON error on
every API route that reads a body, never a 500, and nothing changes; and
Strict-Transport-Security is sent whenever cookies are secure."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, make_person, sign_in
from tests.conftest import BASE_URL
from trim.db import AsyncSession
from trim.incidents.models import Incident
from trim.web import NOT_JSON, NOT_UTF8, TOO_DEEP, nests_deeper_than

ALL_ROLES = ["responder", "peer", "lead", "clinician", "supervisor", "admin"]
DEEP = TOO_DEEP.format(limit=64)

BAD_BODIES = {
    "50,000 nested [": (b"[" * 50_000, DEEP),
    "65 nested lists": (b"[" * 65 + b"]" * 65, DEEP),
    "65 nested objects": (b'{"a":' * 65 + b"1" + b"}" * 65, DEEP),
    "deep inside a real field": (b'{"summary": ' + b"[" * 70 + b"]" * 70 + b"}", DEEP),
    "Latin-1 in a string": ('{"summary": "Café"}'.encode("latin-1"), NOT_UTF8),
    "UTF-16 with a byte-order mark": ('{"summary": "x"}'.encode("utf-16"), NOT_UTF8),
    "a lone continuation byte": (b'{"a": 1}\x80', NOT_UTF8),
    "cut short": (b'{"summary": "x", ', NOT_JSON),
}


def body_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path) of every API route whose handler reads a request body."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not route.path.startswith("/api/") or "data" not in handler.parsed_fn_signature.parameters:
                continue
            found.extend((method, route.path) for method in handler.http_methods if method in ("POST", "PUT", "PATCH"))
    return sorted(set(found))


def lists(levels: int) -> list[Any]:
    """[[[...]]], `levels` deep."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+):uuid\}", lambda _m: str(uuid.uuid4()), re.sub(r"\{(\w+):str\}", "x", path))


@pytest.mark.parametrize(
    ("value", "deeper_than_64"),
    [
        (1, False),
        ([], False),
        ([[[]]], False),
        ({"a": [{"b": []}]}, False),
        (lists(64), False),
        (lists(65), True),
        ([1, 2, [3, [4]]] * 1000, False),
        ({"x": {"y": {"z": lists(62)}}}, True),
    ],
)
def test_nesting_is_measured_in_levels_of_lists_and_objects(value: Any, deeper_than_64: bool) -> None:
    assert nests_deeper_than(value, 64) is deeper_than_64


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_a_bad_body_on_post_api_incidents_is_400_and_logs_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, name: str
) -> None:
    body, detail = BAD_BODIES[name]
    await sign_in(client, cast.supervisor.email)
    response = await client.post("/api/incidents", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": detail, "errors": []}
    assert (await session.exec(select(func.count()).select_from(Incident))).one() == 0


async def test_64_levels_are_still_read_as_json(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.supervisor.email)
    body = b'{"summary": ' + b"[" * 63 + b"]" * 63 + b"}"  # the object and 63 lists: 64 levels
    response = await client.post("/api/incidents", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400  # read, then refused as a bad incident, field by field
    assert response.json()["detail"] not in (DEEP, NOT_JSON, NOT_UTF8)
    assert response.json()["errors"]


async def test_every_api_route_that_reads_a_body_answers_400_to_bad_bodies(
    client: AsyncTestClient[Litestar], app: Litestar, session: AsyncSession, cast: Cast
) -> None:
    # One person holding every role passes every role guard, so the body is what is judged.
    everyone = await make_person(session, roles=ALL_ROLES, station=cast.station_a)
    await sign_in(client, everyone.email)
    routes = body_routes(app)
    assert ("POST", "/api/incidents") in routes and ("POST", "/api/session") in routes
    for method, path in routes:
        for name in ("50,000 nested [", "65 nested objects", "Latin-1 in a string", "cut short"):
            body, detail = BAD_BODIES[name]
            response = await client.request(
                method, concrete(path), content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, (method, path, name, response.status_code, response.text)
            assert response.json() == {"detail": detail, "errors": []}, (method, path, name)


async def test_strict_transport_security_when_cookies_are_secure(client: AsyncTestClient[Litestar]) -> None:
    for path in ("/signin", "/api/me", "/health", "/static/css/app.css", "/no/such/page", "/schema/openapi.json"):
        response = await client.get(path)
        assert response.headers["strict-transport-security"] == "max-age=31536000", path


@pytest.mark.parametrize("settings_overrides", [{"cookie_secure": False}])
async def test_no_strict_transport_security_on_plain_http(app: Litestar) -> None:
    # The demo on http://127.0.0.1: a browser told "https only" would lock itself out of it.
    async with AsyncTestClient(app=app, base_url=BASE_URL.replace("https", "http")) as plain:
        response = await plain.get("/signin")
        assert response.status_code == 200
        assert "strict-transport-security" not in response.headers
