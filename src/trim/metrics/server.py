"""The metrics ports: the web processes' figures on TRIM_METRICS_PORT, served by the `trim run`
process itself (one port for all N web processes, read from the multiprocess directory), and
the worker's on TRIM_WORKER_METRICS_PORT.

The web port reads the database's figures at each scrape: its thread runs an event loop of
its own with a one-connection engine, apart from uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import start_http_server

from trim.config import Settings
from trim.db import create_engine, make_sessionmaker, utcnow
from trim.metrics.exposition import CONTENT_TYPE, scrape
from trim.metrics.registry import WORKER_REGISTRY

log = logging.getLogger("trim.metrics")

SCRAPE_TIMEOUT_SECONDS = 10.0


class WebMetricsServer:
    """GET /metrics on its own port, until stop()."""

    def __init__(self, settings: Settings, *, port: int, host: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(settings.database_url, pool_size=1)
        self.maker = make_sessionmaker(self.engine)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                future = asyncio.run_coroutine_threadsafe(scrape(server.maker, clock=utcnow), server.loop)
                try:
                    body = future.result(timeout=SCRAPE_TIMEOUT_SECONDS)
                except Exception:  # a slow or failed scrape says so; the server goes on
                    future.cancel()
                    log.exception("metrics scrape failed")
                    self.send_error(503, "metrics unavailable")
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # scrapes every few seconds would drown the JSON log

        self.http = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.http.server_address[1])
        self._threads = [
            threading.Thread(target=self.loop.run_forever, name="trim-metrics-loop", daemon=True),
            threading.Thread(target=self.http.serve_forever, name="trim-metrics-http", daemon=True),
        ]

    def start(self) -> WebMetricsServer:
        for thread in self._threads:
            thread.start()
        log.info("metrics serving", extra={"port": self.port})
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        asyncio.run_coroutine_threadsafe(self.engine.dispose(), self.loop).result(timeout=SCRAPE_TIMEOUT_SECONDS)
        self.loop.call_soon_threadsafe(self.loop.stop)


def serve_worker_metrics(*, port: int, host: str) -> Any:
    """The worker's figures on `port` (a daemon thread; it ends with the worker)."""
    server, _thread = start_http_server(port, addr=host, registry=WORKER_REGISTRY)
    return server
