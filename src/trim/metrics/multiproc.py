"""Getting `trim run --workers N` ready to count in N processes. Imports nothing from
prometheus_client: the directory must be in the environment before that is first imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> Path:
    """The directory every web process writes its figures to: the operator's
    PROMETHEUS_MULTIPROC_DIR emptied of a previous run's files, or a new one. Set in the
    environment, so the processes uvicorn starts inherit it."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()  # a previous run's counts would be added to this one's
    else:
        path = Path(tempfile.mkdtemp(prefix="trim-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
    return path
