"""The demo's mail catcher: an SMTP server on loopback that saves each email as a file,
so the emails the demo sends can be read without a mail server."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        message = message_from_bytes(envelope.content, policy=default_policy)
        subject = "".join(c if c.isalnum() else "-" for c in str(message.get("Subject", "email")))[:50]
        (self.folder / f"{self.count:04d}-{subject}.eml").write_bytes(envelope.content)
        return "250 Saved"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_catcher(folder: Path) -> tuple[Controller, str]:
    """Start the catcher; returns it (stop it with .stop()) and the TRIM_SMTP_URL to use."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    controller = Controller(_SaveToFolder(folder), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, f"smtp://127.0.0.1:{port}?starttls=0"
