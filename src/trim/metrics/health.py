"""/health/live and /health/ready, beside the /health that existing load balancers call.

Live: the process answers (restart it if not). Ready: it can do its work, the database
answers and its schema is the code's (send it traffic only then). Neither says more than
ok or what is wrong in a word: they are public.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, get
from litestar.response import Response

from trim.db import ping
from trim.migrations import current_revisions, head_revisions

log = logging.getLogger("trim")


@get("/health/live", include_in_schema=True, tags=["health"], summary="The process answers")
async def health_live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", include_in_schema=True, tags=["health"], summary="The database answers, migrations are current")
async def health_ready(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    engine = request.app.state.engine
    try:
        await ping(engine)
        current = await current_revisions(engine)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: database unreachable")
        return Response({"status": "error", "database": "error", "migrations": "unknown"}, status_code=503)
    if current != head_revisions():
        log.warning("readiness: database schema is not the code's", extra={"revisions": sorted(current)})
        return Response({"status": "error", "database": "ok", "migrations": "behind"}, status_code=503)
    return Response({"status": "ok", "database": "ok", "migrations": "current"})
