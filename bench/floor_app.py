"""The floor for bench/recording.py: a bare Litestar app that does one asyncpg INSERT.

No sign-in, no ORM, no audit, no template: what any endpoint that writes a row costs on
this machine. Served like trim (uvicorn, 2 processes), each with an asyncpg pool of the
size trim's engine uses. FLOOR_DSN names the database (a plain postgresql:// URL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, post
from litestar.datastructures import State


@asynccontextmanager
async def _pool(app: Litestar) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=10, max_size=20)
    try:
        yield
    finally:
        await app.state.pool.close()


@post("/insert", status_code=201)
async def insert(state: State) -> dict[str, str]:
    row = uuid.uuid4()
    async with state.pool.acquire() as conn:
        await conn.execute("INSERT INTO floor_rows (id) VALUES ($1)", row)
    return {"id": str(row)}


app = Litestar([insert], lifespan=[_pool])
