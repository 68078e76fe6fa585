"""The installable app: manifest, service worker, the offline page and the device key."""

from __future__ import annotations

import base64
import json

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from trim.config import Settings
from trim.offline.rules import device_key


async def test_manifest_makes_the_app_installable(client: AsyncTestClient[Litestar], settings: Settings) -> None:
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text)
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert settings.organisation_name in manifest["name"]
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["purpose"] == "any"}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200, icon["src"]
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(image.content[16:20], "big"), int.from_bytes(image.content[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"]


async def test_service_worker_is_served_from_the_root(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert "no-cache" in response.headers["cache-control"]
    assert 'addEventListener("fetch"' in response.text


async def test_every_page_links_the_manifest_and_the_offline_script(client: AsyncTestClient[Litestar]) -> None:
    html = (await client.get("/signin")).text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert '<script src="/static/js/offline.js" defer></script>' in html


async def test_offline_page_names_nobody_even_for_a_signed_in_peer(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.peer) as browser:
        response = await browser.get("/offline")
    assert response.status_code == 200
    assert 'id="offline-shell"' in response.text
    assert cast.peer.email not in response.text and str(cast.peer.id) not in response.text
    assert 'action="/signout"' not in response.text  # no menu: the cached page is the same for everyone


async def test_device_key_is_the_signed_in_persons_own(
    client: AsyncTestClient[Litestar], cast: Cast, settings: Settings
) -> None:
    async with signed_in(client, cast.peer) as browser:
        answer = (await browser.get("/api/me/offline-key")).json()
    assert answer["person_id"] == str(cast.peer.id)
    raw = base64.urlsafe_b64decode(answer["key"] + "=" * (-len(answer["key"]) % 4))
    assert raw == device_key(settings.secret(), cast.peer.id)
    async with signed_in(client, cast.other_peer) as browser:
        other = (await browser.get("/api/me/offline-key")).json()
    assert other["key"] != answer["key"]


async def test_device_key_needs_a_session(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/me/offline-key")
    assert response.status_code == 401
