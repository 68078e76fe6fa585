"""The installable app: manifest, service worker, the page shown when there is no signal,
and the key the signed-in page seals offline recordings with (design section 16)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Response, Template
from pydantic import BaseModel, Field

from trim.deps import Conf
from trim.guards import current_actor, signed_in
from trim.offline.rules import device_key
from trim.web import api_errors

SERVICE_WORKER = Path(__file__).resolve().parents[3] / "static" / "js" / "sw.js"
THEME = "#0b5e63"


class OfflineKeyOut(BaseModel):
    person_id: uuid.UUID = Field(description="Whose key: a browser keeps what it sealed under this id")
    key: str = Field(description="A 256-bit AES-GCM key, url-safe base64 without padding")


def manifest(org_name: str) -> dict[str, Any]:
    """The web app manifest (what a phone needs to install trim on its home screen)."""
    return {
        "id": "/",
        "name": f"trim · {org_name}",
        "short_name": "trim",
        "description": "Peer support check-ins, also without signal.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": "/static/icons/maskable-192.png", "sizes": "192x192", "type": "image/png", "purpose": "maskable"},
            {"src": "/static/icons/maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }


class OfflinePages(Controller):
    @get("/manifest.webmanifest", summary="The installable app's manifest", tags=["app"])
    async def manifest(self, settings: Conf) -> Response[dict[str, Any]]:
        return Response(
            manifest(settings.organisation_name),
            media_type="application/manifest+json",
            headers={"cache-control": "no-cache"},
        )

    @get("/sw.js", include_in_schema=False)
    async def service_worker(self) -> Response[bytes]:
        # Served from the root so its scope is every page; revalidated on each visit so a
        # new version reaches phones promptly.
        return Response(
            SERVICE_WORKER.read_bytes(),
            media_type="text/javascript",
            headers={"cache-control": "no-cache", "service-worker-allowed": "/"},
        )

    @get("/offline", include_in_schema=False)
    async def offline(self, request: Request[Any, Any, Any], settings: Conf) -> Template:
        """What the phone shows for a page it has not kept. The service worker stores this
        page, so it is rendered for nobody: no name, no menu, nothing confidential, and it
        leaves the one-time message of the page being shown alone."""
        context: dict[str, Any] = {
            "actor": None,
            "nav": [],
            "flash": None,
            "path": request.url.path,
            "errors": {},
            "values": {},
        }
        return Template(template_name="offline.html", context={**context, "org_name": settings.organisation_name})

    @get(
        "/api/me/offline-key",
        guards=[signed_in],
        summary="The key this browser seals offline recordings and drafts with",
        description="The signed-in page keeps it in session storage only (cleared at sign-out), so what the "
        "phone holds while offline is unreadable without a session. The same person gets the same key on "
        "their next sign-in, so a recording saved before a session expired is still sent.",
        tags=["app"],
        responses=api_errors(401, 404),  # 404: an integration token has no device key
    )
    async def offline_key(self, request: Request[Any, Any, Any], settings: Conf) -> OfflineKeyOut:
        actor = current_actor(request)
        raw = device_key(settings.secret(), actor.person_id)
        return OfflineKeyOut(person_id=actor.person_id, key=base64.urlsafe_b64encode(raw).rstrip(b"=").decode())
