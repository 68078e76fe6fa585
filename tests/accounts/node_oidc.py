"""node-oidc-provider, the OpenID Certified provider from the npm registry (`oidc-provider`,
pinned by tests/accounts/oidc_node/package-lock.json), started on a free loopback port for
the single sign-on suite, and a person's browser at it (httpx, keeping the provider's
cookies, so its own session lives on between sign-ins as it would in a real browser).

`npm ci` in tests/accounts/oidc_node installs it (.ci/run does). Without node or the
installed package the suite skips, or fails when TRIM_REQUIRE_NODE=1 or
TRIM_REQUIRE_BROWSER=1 (CI), like the browser journeys.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

NODE_DIR = Path(__file__).resolve().parent / "oidc_node"
REQUIRE_NODE = os.environ.get("TRIM_REQUIRE_NODE") == "1" or os.environ.get("TRIM_REQUIRE_BROWSER") == "1"
START_SECONDS = 20.0


def require_node() -> str:
    """The node executable, or skip (fail under TRIM_REQUIRE_NODE / TRIM_REQUIRE_BROWSER)."""
    node = shutil.which("node")
    if node is None:
        message = "node is not installed, so the suite against node-oidc-provider was not run"
    elif not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        message = f"oidc-provider is not installed: run `npm ci` in {NODE_DIR}"
    else:
        return node
    if REQUIRE_NODE:
        pytest.fail(message + " (TRIM_REQUIRE_NODE or TRIM_REQUIRE_BROWSER is 1)")
    pytest.skip(message)


@dataclass
class NodeProvider:
    """A running provider. Who it knows, and what it says, is its control file: rewrite it
    with `accounts()`, `rewrite_client()` and `userinfo_down()`; `reset()` puts it back."""

    issuer: str
    control: Path
    defaults: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    def _write(self) -> None:
        self.control.write_text(json.dumps(self.state))

    def reset(self) -> None:
        self.state = json.loads(json.dumps(self.defaults))
        self._write()

    def accounts(self, **accounts: dict[str, Any]) -> None:
        """Add or change accounts: login (= sub) -> {"claims": {...}, "userinfo": {...}}."""
        self.state["accounts"].update(accounts)
        self._write()

    def rewrite_client(self, *, to: str, secret: str, from_client: str) -> None:
        self.state["rewrite_client"] = {"from": from_client, "to": to, "secret": secret}
        self._write()

    def userinfo_down(self) -> None:
        self.state["userinfo_down"] = True
        self._write()

    @property
    def base(self) -> str:
        return self.issuer.rstrip("/")


@contextmanager
def node_provider(
    folder: Path,
    *,
    clients: list[dict[str, Any]],
    accounts: dict[str, dict[str, Any]],
    trailing_slash: bool = False,
    id_token_claims: bool = False,
    port: int = 0,
) -> Iterator[NodeProvider]:
    """Start provider.mjs (on `port`, or a free one); stop it (by its own process) when the block ends."""
    node = require_node()
    folder.mkdir(parents=True, exist_ok=True)
    control = folder / "control.json"
    defaults = {"accounts": accounts, "rewrite_client": None, "userinfo_down": False}
    control.write_text(json.dumps(defaults))
    setup = folder / "setup.json"
    setup.write_text(
        json.dumps(
            {
                "port": port,
                "trailing_slash": trailing_slash,
                "id_token_claims": id_token_claims,
                "control": str(control),
                "clients": clients,
            }
        )
    )
    log_path = folder / "provider.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, str(NODE_DIR / "provider.mjs"), str(setup)],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
            line = process.stdout.readline() if ready else b""
            if not line:
                raise RuntimeError(f"node-oidc-provider did not start: {log_path.read_text(errors='replace')}")
            issuer = str(json.loads(line)["issuer"])
            provider = NodeProvider(issuer=issuer, control=control, defaults=defaults)
            provider.reset()
            yield provider
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def free_port() -> int:
    """A loopback port free now: for a provider whose issuer must be known before it starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- a person's browser at the provider ------------------------------------------------


class _Forms(HTMLParser):
    """The forms on a page: id, action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"id": a.get("id", ""), "action": a.get("action", ""), "inputs": {}})
        elif tag == "input" and self.forms and a.get("type") == "hidden":
            self.forms[-1]["inputs"][a.get("name", "")] = a.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@dataclass
class Landed:
    """Where the provider's pages left the browser: sent back to trim (`back`, a path on
    trim), or stopped on one of the provider's pages (`page`)."""

    back: str | None = None
    page: httpx.Response | None = None

    @property
    def asked_to_sign_in(self) -> bool:
        return self.page is not None and 'name="login"' in self.page.text


class ProviderBrowser:
    """One person's browser, at the provider only: it keeps the provider's cookies."""

    def __init__(self, trim_base: str) -> None:
        self.trim_base = trim_base
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=15)

    async def close(self) -> None:
        await self.http.aclose()

    async def go(self, url: str, *, data: dict[str, str] | None = None) -> Landed:
        """Open a provider URL and follow its redirects until they lead back to trim."""
        response = await (self.http.post(url, data=data) if data is not None else self.http.get(url))
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307):
                return Landed(page=response)
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(self.trim_base):
                return Landed(back=target.removeprefix(self.trim_base))
            response = await self.http.get(target)
        raise AssertionError("the provider redirected too many times")

    async def sign_in(self, authorize_url: str, login: str) -> str:
        """Sign in at the provider as `login` (asked only if it has no session); the path back."""
        landed = await self.go(authorize_url)
        if landed.asked_to_sign_in:
            assert landed.page is not None
            landed = await self.submit(landed.page, 0, login=login)
        assert landed.back is not None, landed.page.text if landed.page else landed
        return landed.back

    async def cancel(self, authorize_url: str) -> str:
        landed = await self.go(authorize_url)
        assert landed.asked_to_sign_in and landed.page is not None
        landed = await self.submit(landed.page, 1)
        assert landed.back is not None
        return landed.back

    async def submit(self, page: httpx.Response, index: int, **fields: str) -> Landed:
        form = forms_of(page.text)[index]
        return await self.go(urljoin(str(page.url), form["action"]), data={**form["inputs"], **fields})

    async def confirm_sign_out(self, page: httpx.Response) -> Landed:
        """The provider's "Sign out?" page: press "Yes, sign me out"."""
        form = next(f for f in forms_of(page.text) if f.get("id") == "op.logoutForm")
        return await self.go(urljoin(str(page.url), form["action"]), data={**form["inputs"], "logout": "yes"})
