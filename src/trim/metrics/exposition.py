"""One scrape: the processes' own figures followed by the database's, in the text format."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.metrics.figures import FiguresCollector, read_figures
from trim.metrics.registry import process_registry

CONTENT_TYPE = CONTENT_TYPE_LATEST

log = logging.getLogger("trim.metrics")


class _DatabaseUp(Collector):
    def __init__(self, up: bool) -> None:
        self.up = up

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("trim_database_up", "1 when the database answered this scrape.", value=float(self.up))


async def scrape(maker: async_sessionmaker[AsyncSession], *, clock: Callable[[], datetime]) -> bytes:
    """The metrics page. The database's figures are read in one short transaction; when the
    database does not answer, the process figures still come out and trim_database_up is 0."""
    database = CollectorRegistry()
    try:
        async with maker() as session:
            figures = await read_figures(session, now=clock())
            await session.rollback()
    except Exception:  # noqa: BLE001 - a scrape must still answer when the database is away
        log.warning("metrics: database unreachable")
        database.register(_DatabaseUp(False))
    else:
        database.register(FiguresCollector(figures))
        database.register(_DatabaseUp(True))
    return generate_latest(process_registry()) + generate_latest(database)
