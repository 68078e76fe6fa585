"""Navigation shows each role only its own areas."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in


def _nav_links(html: str) -> list[str]:
    block = html.split('class="nav-links"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', block)


async def test_each_role_sees_only_its_own_areas(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    seen = {}
    for who in ("responder", "peer", "lead", "clinician", "supervisor", "admin"):
        async with signed_in(client, cast.person(who)) as browser:
            home = await browser.get("/")
            assert home.status_code == 200
            seen[who] = _nav_links(home.text)
            for href in seen[who]:
                assert (await browser.get(href)).status_code == 200, (who, href)
    assert "/admin/roster" in seen["admin"]
    for who in ("responder", "peer", "clinician", "supervisor"):
        assert not any(h.startswith("/admin") for h in seen[who]), who
    assert "/admin/people" in seen["lead"] and "/admin/roster" not in seen["lead"]


async def test_signed_out_home_goes_to_sign_in(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


async def test_unknown_page_is_a_friendly_404(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.peer) as browser:
        response = await browser.get("/no/such/page")
        assert response.status_code == 404
        assert "Page not found" in response.text
        api = await browser.get("/api/no/such")
        assert api.status_code == 404
        assert api.json() == {"detail": "Not found", "errors": []}


async def test_pages_carry_security_headers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/signin")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
