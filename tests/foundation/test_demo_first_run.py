"""`trim demo`'s first run: the sign-ins stay on screen (the log goes to a file in the demo
folder, and it says where), and it says which peers have check-ins to record."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from trim.cli import main


def test_demo_prints_whom_to_sign_in_as_and_where_the_log_goes(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--no-serve", "--folder", str(folder), "--port", "8123"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "trim demo: http://127.0.0.1:8123" in out
    assert "Responders who can sign in too: responder1@" in out
    assert "Peers with check-ins waiting now" in out
    assert re.search(r"peer\d@demo\.trim\.example  \([^)]+\): \d+ due, \d+ overdue", out)
    assert f"The app's log (JSON lines) is written to {folder / 'trim.log'}" in out
    assert '"level"' not in out  # no JSON log line scrolled the list away
