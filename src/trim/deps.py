"""Request-scoped dependencies: one database session per request, committed once."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.analytics import Analytics, analytics_session, remember_replica
from trim.config import Settings


async def provide_db(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """The request's unit of work: committed after the handler returns (before the
    response is sent), rolled back if it raises. Services never commit."""
    async with request.app.state.sessionmaker() as session:
        # The dashboard's and reports' reads find the replica through the request's session.
        remember_replica(session, request.app.state.get("replica"))
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# Handlers name these explicitly (Litestar 3 drops dependencies inferred by name).
Db = NamedDependency[AsyncSession]
Conf = NamedDependency[Settings]


async def provide_analytics(db: Db) -> AsyncGenerator[Analytics, None]:
    """Reads for the dashboard and reports: on the read replica when one is set up and
    current enough, else on the request's own session (trim.analytics)."""
    async with analytics_session(db) as analytics:
        yield analytics


AnalyticsDb = NamedDependency[Analytics]
