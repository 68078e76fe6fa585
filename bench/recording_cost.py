"""What one recording costs the app, in figures a loaded machine does not distort much:
CPU per recording, and statements and round trips to PostgreSQL per recording.

    uv run python bench/recording_cost.py [--recordings 600]

The app runs in this process (no uvicorn, no worker), driven through httpx's ASGI transport,
one recording at a time, on a fresh database seeded as bench/recording.py seeds it. Round
trips are counted as socket sends (PostgreSQL's are the only sockets in the process;
asyncio's own wake-ups are counted too), statements by SQLAlchemy's cursor event. CPU includes
the httpx client's share, so compare figures from this script with each other only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
import uuid
from typing import Any

import httpx
from common import bench_database
from load import ANSWERS, PASSWORD, seed
from serve import bench_env
from sqlalchemy import event, text

from trim.db import create_engine

SENDS = 0
_send = socket.socket.send


def counting_send(self: socket.socket, data: Any, *args: Any) -> int:
    global SENDS
    SENDS += 1
    return _send(self, data, *args)


async def measure(url: str, recordings: int) -> tuple[float, float, float]:
    os.environ.update(bench_env(url))
    os.environ["TRIM_LOG_LEVEL"] = "WARNING"
    from trim.app import create_app
    from trim.config import get_settings

    get_settings.cache_clear()
    app = create_app(get_settings())
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT c.id::text, c.kind, p.email FROM checkins c JOIN people p ON p.id = c.peer_id "
                    "WHERE c.outcome IS NULL ORDER BY c.due_at, c.id LIMIT :n"
                ),
                {"n": recordings + 100},
            )
        ).all()
    await engine.dispose()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        clients: dict[str, httpx.AsyncClient] = {}
        for _, _, email in rows:
            if email not in clients:
                client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
                (await client.post("/api/session", json={"email": email, "password": PASSWORD})).raise_for_status()
                client.headers["x-csrftoken"] = client.cookies["csrftoken"]
                clients[email] = client

        async def record(checkin_id: str, kind: str, email: str) -> None:
            answer = await clients[email].post(
                f"/api/checkins/{checkin_id}/record",
                json={"outcome": "completed", "answers": ANSWERS[kind], "safety_concern": False},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            assert answer.status_code == 201, answer.text

        for row in rows[:100]:  # warm: pools, prepared statements, caches
            await record(*row)
        statements: list[str] = []
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        socket.socket.send = counting_send  # type: ignore[method-assign]
        started = time.process_time()
        for row in rows[100:]:
            await record(*row)
        cpu = time.process_time() - started
        socket.socket.send = _send  # type: ignore[method-assign]
        done = len(rows) - 100
        return 1000 * cpu / done, SENDS / done, len(statements) / done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=600)
    args = parser.parse_args()
    with bench_database("trim_bench_recording_cost") as url:
        asyncio.run(seed(url, 32, per_peer=150))
        load = os.getloadavg()[0]
        cpu, sends, statements = asyncio.run(measure(url, args.recordings))
    print(
        f"per recording: {cpu:.2f} ms CPU (client included), {statements:.1f} statements, {sends:.1f} socket sends "
        f"(statements, BEGIN, COMMIT, pings); load {load:.2f}"
    )


if __name__ == "__main__":
    main()
