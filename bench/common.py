"""Shared pieces for the benchmarks: a throwaway PostgreSQL database and machine facts.

Benchmarks run by hand (never in the test suite), against 127.0.0.1 only:
    uv run python bench/<name>.py
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from trim.db import create_engine
from trim.migrations import upgrade

ADMIN_URL = os.environ.get("TRIM_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


async def _admin(sql: str) -> None:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":")[1].strip()
    except OSError:
        pass
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{platform.node()} · {os.cpu_count()} cores · {mem} RAM · Python {platform.python_version()} · "
        f"PostgreSQL {pg} · {platform.platform()}"
    )


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(p: float) -> float:
        index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[index]

    return {"p50": at(50), "p95": at(95), "p99": at(99), "max": ordered[-1], "mean": statistics.fmean(ordered)}


def fmt_ms(values: dict[str, Any]) -> str:
    return " · ".join(f"{k} {v * 1000:.1f} ms" for k, v in values.items())
