"""Single sign-on with OpenID Connect (authorization code flow with PKCE).

The provider is found from TRIM_OIDC_ISSUER's discovery document. Starting a sign-in
puts state, nonce and the PKCE verifier in a short-lived signed cookie (so any app
process can finish it); the callback checks the state against it, exchanges the code,
and checks the ID token's signature (the provider's published keys), issuer, audience,
expiry and nonce. What comes back is an email address: who that is, and what they may
do, is trim's own roster and roles, never the provider's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from trim.config import Settings
from trim.errors import TrimError

if TYPE_CHECKING:
    import httpx

# httpx, authlib and joserfc are imported where a sign-in needs them: together they cost
# about a second at start-up, which every process (and every test run) paid without SSO.

CALLBACK_PATH = "/signin/sso/callback"
COOKIE = "trim_sso"
COOKIE_PATH = "/signin/sso"
FLOW_SECONDS = 600  # from leaving for the provider to coming back
DISCOVERY_CACHE_SECONDS = 3600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


class SsoFailed(TrimError):
    """The sign-in through the provider could not be completed; nobody is signed in."""

    status_code = 400


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


@dataclass(frozen=True)
class Identity:
    email: str
    subject: str


# Discovery documents, per process (each process fetches its own; nothing is shared).
_discovered: dict[str, tuple[float, Provider]] = {}


def redirect_uri(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + CALLBACK_PATH


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    import httpx

    try:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed("Your organisation's sign-in service did not answer. Try again in a moment.") from exc
    if not isinstance(body, dict):
        raise SsoFailed("Your organisation's sign-in service gave an answer we cannot read.")
    return body


async def provider(settings: Settings) -> Provider:
    """The provider's endpoints from its discovery document (cached for an hour)."""
    issuer = settings.oidc_issuer or ""
    cached = _discovered.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    import httpx

    async with httpx.AsyncClient(timeout=settings.oidc_timeout_seconds) as client:
        doc = await _get_json(client, issuer + "/.well-known/openid-configuration")
    try:
        found = Provider(
            issuer=str(doc["issuer"]).rstrip("/"),
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            jwks_uri=str(doc["jwks_uri"]),
            userinfo_endpoint=str(doc["userinfo_endpoint"]) if doc.get("userinfo_endpoint") else None,
        )
    except KeyError as exc:
        raise SsoFailed("Your organisation's sign-in service is not set up as expected.") from exc
    if found.issuer != issuer:
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer asked.
        raise SsoFailed("Your organisation's sign-in service is not set up as expected.")
    _discovered[issuer] = (time.monotonic() + DISCOVERY_CACHE_SECONDS, found)
    return found


# -- the flow cookie --------------------------------------------------------------


def _sign(settings: Settings, payload: bytes) -> str:
    key = hashlib.sha256(b"trim-sso:" + settings.secret().encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _pack(settings: Settings, data: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return payload.decode() + "." + _sign(settings, payload)


def _unpack(settings: Settings, value: str | None) -> dict[str, Any] | None:
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(settings, payload.encode())):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or float(data.get("exp", 0)) < time.time():
        return None
    return data


@dataclass(frozen=True)
class Start:
    url: str
    cookie: str


async def start(settings: Settings, *, next_path: str) -> Start:
    """Where to send the browser, and the cookie that lets the callback check the reply."""
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    found = await provider(settings)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id or "",
            "redirect_uri": redirect_uri(settings),
            "scope": settings.oidc_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in found.authorization_endpoint else "?"
    # The flow's own expiry is wall-clock time, like the provider's tokens.
    cookie = _pack(
        settings,
        {"state": state, "nonce": nonce, "verifier": verifier, "next": next_path, "exp": time.time() + FLOW_SECONDS},
    )
    return Start(url=found.authorization_endpoint + separator + query, cookie=cookie)


def flow_next(settings: Settings, cookie: str | None) -> str:
    data = _unpack(settings, cookie)
    return str(data.get("next") or "/") if data else "/"


async def finish(settings: Settings, *, code: str, state: str, cookie: str | None) -> Identity:
    """Check the provider's reply and return who they say signed in; SsoFailed otherwise."""
    flow = _unpack(settings, cookie)
    if flow is None:
        raise SsoFailed("This sign-in took too long or was started in another browser. Start again.")
    if not state or not hmac.compare_digest(str(flow["state"]), state):
        raise SsoFailed("This sign-in could not be checked (its state did not match), so nobody was signed in.")
    if not code:
        raise SsoFailed("Your organisation's sign-in service sent no sign-in code. Start again.")
    import httpx

    found = await provider(settings)
    async with httpx.AsyncClient(timeout=settings.oidc_timeout_seconds) as client:
        try:
            response = await client.post(
                found.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri(settings),
                    "code_verifier": str(flow["verifier"]),
                },
                auth=(
                    settings.oidc_client_id or "",
                    settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else "",
                ),
                headers={"Accept": "application/json"},
            )
            tokens = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoFailed("Your organisation's sign-in service did not answer. Try again in a moment.") from exc
        if response.status_code != 200 or not isinstance(tokens, dict) or "id_token" not in tokens:
            raise SsoFailed("Your organisation's sign-in service refused the sign-in. Start again.")
        keys = await _get_json(client, found.jwks_uri)
        claims = _check_id_token(settings, found, str(tokens["id_token"]), keys, nonce=str(flow["nonce"]))
        email = claims.get("email")
        if not email and found.userinfo_endpoint and tokens.get("access_token"):
            info = await client.get(
                found.userinfo_endpoint, headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            userinfo = info.json() if info.status_code == 200 else {}
            if isinstance(userinfo, dict) and userinfo.get("sub") == claims.get("sub"):
                email = userinfo.get("email")
                if userinfo.get("email_verified") is False:
                    email = None
    if not isinstance(email, str) or not email:
        raise SsoFailed("Your organisation's sign-in service did not tell us your email address.")
    return Identity(email=email, subject=str(claims.get("sub", "")))


def _check_id_token(
    settings: Settings, found: Provider, id_token: str, keys: dict[str, Any], *, nonce: str
) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=ALGORITHMS)  # type: ignore[arg-type]
        # exp, iat and nbf are checked against the wall clock: they are the provider's times.
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": found.issuer},
            aud={"essential": True, "value": settings.oidc_client_id or ""},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise SsoFailed("The sign-in from your organisation could not be verified, so nobody was signed in.") from exc
    claims = dict(decoded.claims)
    if claims.get("email_verified") is False:
        claims.pop("email", None)
    return claims
