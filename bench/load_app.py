"""The app as `trim run` serves it, plus one bare endpoint for comparison.

`/bench/insert` does a single INSERT through the app's own database pool, with no
sign-in, audit or template: the floor against which the real routes are measured.
Used only by bench/load.py (uvicorn --factory bench.load_app:create).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, post
from sqlalchemy import text

from trim.app import create_app_from_env


@post("/bench/insert", exclude_from_csrf=True, status_code=201)
async def bare_insert(request: Request[Any, Any, Any]) -> dict[str, str]:
    row = str(uuid.uuid4())
    async with request.app.state.sessionmaker() as session:
        await session.exec(text("INSERT INTO bench_rows (id) VALUES (CAST(:id AS uuid))").bindparams(id=row))
        await session.commit()
    return {"id": row}


def create() -> Any:
    app = create_app_from_env()
    app.register(bare_insert)
    return app
