"""Run `trim run` against a bench database in a subprocess, for load benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
KEY = "Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TRIM_DATABASE_URL": url,
            "TRIM_SECRET_KEY": SECRET,
            "TRIM_ENCRYPTION_KEYS": f'["{KEY}"]',
            "TRIM_COOKIE_SECURE": "false",
            "TRIM_MFA_REQUIRED_ROLES": "[]",
            "TRIM_LOG_LEVEL": "WARNING",
            "TRIM_SIGNIN_MAX_FAILURES": "100000",
            "TRIM_ARGON2_PROFILE": "cheapest",
        }
    )
    return env


@contextmanager
def server(url: str, *, workers: int = 2) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trim.cli",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=bench_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server exited")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
