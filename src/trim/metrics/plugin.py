"""Wiring metrics and the health probes into the web app: one plugin, so create_app names it once."""

from __future__ import annotations

import hmac
import os
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.response import Response

from trim.config import Settings
from trim.metrics.exposition import CONTENT_TYPE, scrape
from trim.metrics.health import health_live, health_ready
from trim.metrics.multiproc import MULTIPROC_ENV
from trim.metrics.pool import release_pool, watch_pool
from trim.metrics.requests import RequestMetrics, count_unmatched


def metrics_enabled(settings: Settings) -> bool:
    """Either way of reading them is configured (a port of its own, or a token)."""
    return settings.metrics_port is not None or settings.metrics_token is not None


def bearer_matches(authorization: str, token: str) -> bool:
    """Is `authorization` "Bearer <token>"? (Compared in constant time.)"""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@get("/metrics", include_in_schema=False, opt={"before_enrolment": True})
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The figures, for a scraper that presents TRIM_METRICS_TOKEN; anyone else is refused,
    signed in or not (a session is not the token)."""
    settings: Settings = request.app.state.settings
    token = settings.metrics_token
    if token is None or not bearer_matches(request.headers.get("authorization", ""), token.get_secret_value()):
        return Response(
            b"Send the metrics token: Authorization: Bearer <TRIM_METRICS_TOKEN>\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = await scrape(request.app.state.sessionmaker, clock=request.app.state.clock)
    return Response(body, media_type=CONTENT_TYPE)


class OperationsPlugin(InitPluginProtocol):
    """The health probes always; request and pool figures, and /metrics behind the token,
    when metrics are configured."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([health_live, health_ready])
        if not metrics_enabled(self.settings):
            return app_config
        if self.settings.metrics_token is not None:
            app_config.route_handlers.append(metrics_endpoint)
        app_config.middleware.insert(0, RequestMetrics)
        app_config.before_send.append(count_unmatched)
        app_config.on_startup.append(_watch)
        app_config.on_shutdown.append(_release)
        return app_config


async def _watch(app: Litestar) -> None:
    app.state.metrics_pool = watch_pool(app.state.engine)


async def _release(app: Litestar) -> None:
    pool = app.state.get("metrics_pool")
    if pool is not None:
        release_pool(pool)
    if os.environ.get(MULTIPROC_ENV):
        # This process's live gauges (connections in use) leave the sum with it.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
