"""Counting and timing every request by its route template ("/checkins/{checkin_id:uuid}"),
never by its path, so no id ever becomes a label. Requests that match no route (a probe
of /wp-login.php, a stale bookmark) never reach a route's middleware: they are counted
under "unmatched" as their answer leaves the app (untimed: nothing of ours ran)."""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from trim.metrics.registry import HTTP_DURATION, HTTP_REQUESTS

# Methods a label may carry; anything else is counted as "other" (a label set stays small).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The route template Litestar matched; requests reach this middleware only once routed."""
    template = scope.get("path_template")
    return str(template) if template else "unmatched"


class RequestMetrics:
    """ASGI middleware (first in the stack, so it times the others too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a client sees when the app raises before it answers

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            method = scope.get("method", "GET")
            labels = (method if method in METHODS else "other", route_label(scope), str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)


async def count_unmatched(message: Message, scope: Scope) -> None:
    """App-level before_send: count the answer to a request no route matched (the router's
    own 404 or 405), which the middleware above never sees."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    if scope.get("path_template"):
        return  # a routed request: RequestMetrics counts it
    method = scope.get("method", "GET")
    HTTP_REQUESTS.labels(method if method in METHODS else "other", "unmatched", str(message["status"])).inc()
