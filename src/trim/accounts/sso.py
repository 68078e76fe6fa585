"""Single sign-on with OpenID Connect (authorization code flow with PKCE).

The provider is found from TRIM_OIDC_ISSUER's discovery document. Starting a sign-in
puts state, nonce and the PKCE verifier in a short-lived signed cookie (so any app
process can finish it); the callback checks the state against it, exchanges the code,
and checks the ID token's signature (the provider's published keys), issuer (the exact
string the discovery document gives, a trailing "/" included), audience, expiry and
nonce. What comes back is the provider's subject id for the person and the email
address it holds, with whether it verified it: who that is, and what they may do, is
trim's own roster and roles (sso_identities.py), never the provider's.

Signing out sends the browser to the provider's end_session_endpoint when it has one
(RP-initiated logout, with the ID token as id_token_hint), so on a shared station
computer the next person is not signed straight back in as the last one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from trim.config import Settings
from trim.errors import TrimError

if TYPE_CHECKING:
    import httpx

# httpx, authlib and joserfc are imported where a sign-in needs them: every process (and every
# test run) paid for them at start-up, with or without single sign-on.

log = logging.getLogger("trim.accounts.sso")

CALLBACK_PATH = "/signin/sso/callback"
SIGNED_OUT_PATH = "/signin/sso/signed-out"
COOKIE = "trim_sso"
COOKIE_PATH = "/signin/sso"
FLOW_SECONDS = 600  # from leaving for the provider to coming back
DISCOVERY_CACHE_SECONDS = 3600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
# Token endpoint errors (RFC 6749, 5.2) that mean trim's own registration is wrong, not the sign-in.
CONFIGURATION_ERRORS = frozenset({"invalid_client", "unauthorized_client", "unsupported_grant_type"})

NOT_ANSWERING = "Your organisation's sign-in service did not answer. Try again in a moment."
NOT_AS_EXPECTED = (
    "Single sign-on is not set up correctly here: your organisation's sign-in service is not the one trim "
    "expects. Nobody was signed in. Please tell your administrator so they can fix it."
)
MISCONFIGURED = (
    "Single sign-on is not set up correctly here: your organisation's sign-in service did not accept trim's "
    "own credentials. Nobody was signed in. Please tell your administrator so they can fix it."
)
CODE_USED = (
    "This sign-in reply was already used, or it ran out, so nobody was signed in. Start again from the sign-in page."
)
NOT_VERIFIED = "The sign-in from your organisation could not be verified, so nobody was signed in."


class SsoFailed(TrimError):
    """The sign-in through the provider could not be completed; nobody is signed in.

    `reason` is for the log: a short code with no tokens and nothing about the person."""

    status_code = 400

    def __init__(
        self, detail: str, *, reason: str, status_code: int | None = None, configuration: bool = False
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        # A problem with how trim and the provider are set up: for the administrator to fix.
        self.configuration = configuration
        if status_code is not None:
            self.status_code = status_code


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    # RFC 9207: the provider puts `iss` in its reply, so a reply from another provider is caught.
    iss_in_reply: bool


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in. `email_verified` is None when it did not say."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None
    id_token: str


# Discovery documents, per process (each process fetches its own; nothing is shared).
_discovered: dict[str, tuple[float, Provider]] = {}


def redirect_uri(settings: Settings) -> str:
    """Where the identity provider sends people back to: this service's callback."""
    return settings.base_url.rstrip("/") + CALLBACK_PATH


def signed_out_uri(settings: Settings) -> str:
    """Where the provider sends the browser back after signing out (register it there)."""
    return settings.base_url.rstrip("/") + SIGNED_OUT_PATH


def discovery_url(issuer: str) -> str:
    """The provider's OpenID Connect discovery document for this issuer."""
    # OpenID Connect Discovery 1.0, section 4: a trailing "/" is removed before appending.
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def origin(url: str) -> str:
    """The scheme and host of a URL (for the pages' form-action policy)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def form_action_origins(settings: Settings) -> list[str]:
    """Origins besides our own that a form on our pages may lead to (the CSP's form-action):
    the provider's, where signing out continues. Chromium applies form-action to the
    redirect that answers a form's POST, so /signout's redirect there needs it."""
    return [origin(settings.oidc_issuer)] if settings.sso_enabled and settings.oidc_issuer else []


async def _get_json(client: httpx.AsyncClient, url: str, *, reason: str) -> dict[str, Any]:
    import httpx

    try:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(NOT_ANSWERING, reason=reason, status_code=502) from exc
    if not isinstance(body, dict):
        raise SsoFailed(NOT_ANSWERING, reason=reason, status_code=502)
    return body


async def provider(settings: Settings) -> Provider:
    """The provider's endpoints from its discovery document (cached for an hour)."""
    import httpx

    issuer = settings.oidc_issuer or ""
    cached = _discovered.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    async with httpx.AsyncClient(timeout=settings.oidc_timeout_seconds) as client:
        doc = await _get_json(client, discovery_url(issuer), reason="discovery_unreachable")
    try:
        found = Provider(
            issuer=str(doc["issuer"]),
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            jwks_uri=str(doc["jwks_uri"]),
            userinfo_endpoint=str(doc["userinfo_endpoint"]) if doc.get("userinfo_endpoint") else None,
            end_session_endpoint=str(doc["end_session_endpoint"]) if doc.get("end_session_endpoint") else None,
            iss_in_reply=doc.get("authorization_response_iss_parameter_supported") is True,
        )
    except KeyError as exc:
        log.error("single sign-on: the discovery document lacks %s", exc.args[0])
        raise SsoFailed(NOT_AS_EXPECTED, reason="discovery_incomplete", status_code=502, configuration=True) from exc
    if found.issuer != issuer:
        # OpenID Connect Discovery 1.0, section 4.3: the document must name exactly the issuer
        # asked for, and ID tokens carry that exact string. Issuer URLs name no person.
        log.error(
            "single sign-on: TRIM_OIDC_ISSUER is %r but the provider's discovery document names %r; "
            "set TRIM_OIDC_ISSUER to exactly the provider's issuer",
            issuer,
            found.issuer,
        )
        raise SsoFailed(NOT_AS_EXPECTED, reason="discovery_issuer_mismatch", status_code=502, configuration=True)
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
    """Where to go after signing in, from the flow cookie (home when it is missing or spoiled)."""
    data = _unpack(settings, cookie)
    return str(data.get("next") or "/") if data else "/"


# -- the reply ----------------------------------------------------------------------


def error_code(body: object) -> str:
    """The token endpoint's error code, if it is one (never its free-text description)."""
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,40}", code) else "unrecognised"


def _token_refused(status: int, body: object) -> SsoFailed:
    code = error_code(body)
    reason = f"token_endpoint:{code}"
    if code in CONFIGURATION_ERRORS or (status == 401 and code == "unrecognised"):
        return SsoFailed(MISCONFIGURED, reason=reason, status_code=502, configuration=True)
    if code == "invalid_grant":
        return SsoFailed(CODE_USED, reason=reason)
    if status >= 500 or code in ("server_error", "temporarily_unavailable"):
        return SsoFailed(NOT_ANSWERING, reason=reason, status_code=502)
    return SsoFailed("Your organisation's sign-in service refused the sign-in. Start again.", reason=reason)


async def finish(settings: Settings, *, code: str, state: str, cookie: str | None, iss: str | None = None) -> Identity:
    """Check the provider's reply and return who they say signed in; SsoFailed otherwise."""
    import httpx

    flow = _unpack(settings, cookie)
    if flow is None:
        raise SsoFailed(
            "This sign-in took too long or was started in another browser. Start again.", reason="flow_cookie"
        )
    if not state or not hmac.compare_digest(str(flow["state"]), state):
        raise SsoFailed(
            "This sign-in could not be checked (its state did not match), so nobody was signed in.",
            reason="state_mismatch",
        )
    if not code:
        raise SsoFailed("Your organisation's sign-in service sent no sign-in code. Start again.", reason="no_code")
    found = await provider(settings)
    if (iss is not None and iss != found.issuer) or (iss is None and found.iss_in_reply):
        raise SsoFailed(NOT_VERIFIED, reason="reply_issuer_mismatch")
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
        except httpx.HTTPError as exc:
            raise SsoFailed(NOT_ANSWERING, reason="token_endpoint_unreachable", status_code=502) from exc
        try:
            tokens: object = response.json()
        except ValueError:
            tokens = None
        if response.status_code != 200:
            raise _token_refused(response.status_code, tokens)
        if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
            raise SsoFailed(
                NOT_AS_EXPECTED, reason="token_response_without_id_token", status_code=502, configuration=True
            )
        id_token = str(tokens["id_token"])
        keys = await _get_json(client, found.jwks_uri, reason="jwks_unreachable")
        claims = _check_id_token(settings, found, id_token, keys, nonce=str(flow["nonce"]))
        userinfo: dict[str, Any] | None = None
        said = _flag(claims.get("email_verified"))
        wants_more = said is not False and (not isinstance(claims.get("email"), str) or said is None)
        access_token = tokens.get("access_token")
        if wants_more and found.userinfo_endpoint and isinstance(access_token, str):
            userinfo = await _userinfo(client, found.userinfo_endpoint, access_token, subject=str(claims["sub"]))
    email, verified = email_of(claims, userinfo)
    return Identity(
        issuer=found.issuer, subject=str(claims["sub"]), email=email, email_verified=verified, id_token=id_token
    )


async def _userinfo(client: httpx.AsyncClient, endpoint: str, access_token: str, *, subject: str) -> dict[str, Any]:
    import httpx

    try:
        response = await client.get(
            endpoint, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        )
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(NOT_ANSWERING, reason="userinfo_unreachable", status_code=502) from exc
    if not isinstance(body, dict) or body.get("sub") != subject:
        # OpenID Connect Core 1.0, 5.3.2: an answer about another subject must not be used.
        raise SsoFailed(NOT_VERIFIED, reason="userinfo_subject_mismatch")
    return body


def _flag(value: object) -> bool | None:
    # Some providers send the claim as the string "true" (AWS Cognito's userinfo does).
    if value is True or (isinstance(value, str) and value.lower() == "true"):
        return True
    if value is False or (isinstance(value, str) and value.lower() == "false"):
        return False
    return None


def email_of(id_claims: dict[str, Any], userinfo: dict[str, Any] | None) -> tuple[str | None, bool | None]:
    """The email address the provider gave, and whether it says it verified it (None: it
    did not say). The ID token's word stands: userinfo only fills in what the token left
    out, and never turns the token's "not verified" into "verified"."""
    email = id_claims.get("email") if isinstance(id_claims.get("email"), str) else None
    verified = _flag(id_claims.get("email_verified"))
    if userinfo is not None and verified is not False:
        info_email = userinfo.get("email") if isinstance(userinfo.get("email"), str) else None
        if email is None and info_email:
            email, verified = info_email, _flag(userinfo.get("email_verified"))
        elif email and info_email and email.strip().lower() == info_email.strip().lower() and verified is None:
            verified = _flag(userinfo.get("email_verified"))
    return (email.strip() or None) if email else None, verified


def _check_id_token(
    settings: Settings, found: Provider, id_token: str, keys: dict[str, Any], *, nonce: str
) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import ClaimError, JoseError
    from joserfc.jwk import KeySet

    client_id = settings.oidc_client_id or ""
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=ALGORITHMS)  # type: ignore[arg-type]
        # exp, iat and nbf are checked against the wall clock: they are the provider's times.
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": found.issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except ClaimError as exc:
        raise SsoFailed(NOT_VERIFIED, reason=f"id_token:{exc.error}:{exc.claim}") from exc
    except (JoseError, ValueError) as exc:
        raise SsoFailed(NOT_VERIFIED, reason=f"id_token:{getattr(exc, 'error', 'unreadable')}") from exc
    claims = dict(decoded.claims)
    # OpenID Connect Core 1.0, 3.1.3.7: with several audiences, the token must be for us.
    azp = claims.get("azp")
    if (isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and azp is None) or (
        azp is not None and azp != client_id
    ):
        raise SsoFailed(NOT_VERIFIED, reason="id_token:invalid_claim:azp")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SsoFailed(NOT_VERIFIED, reason="id_token:invalid_claim:sub")
    return claims


# -- signing out ---------------------------------------------------------------------


async def logout_url(settings: Settings, *, id_token: str | None) -> str | None:
    """Where to send the browser so the provider ends its own session too (RP-initiated
    logout), or None when it offers no end_session_endpoint or cannot be reached."""
    try:
        found = await provider(settings)
    except SsoFailed as exc:
        log.warning("single sign-on: signed out here only, the provider was not reached (%s)", exc.reason)
        return None
    if not found.end_session_endpoint:
        return None
    params = {"client_id": settings.oidc_client_id or "", "post_logout_redirect_uri": signed_out_uri(settings)}
    if id_token:
        params["id_token_hint"] = id_token
    separator = "&" if "?" in found.end_session_endpoint else "?"
    return found.end_session_endpoint + separator + urlencode(params)
