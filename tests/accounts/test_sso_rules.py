"""The pure parts of single sign-on, table by table: which email and whether it is
verified, what a token endpoint error means, the issuer kept exactly, the CSP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_settings
from trim.accounts import sso
from trim.app import page_csp

T, F = True, False
UNUSED_DB = "sqlite+aiosqlite:///unused.db"  # settings only: never opened


@pytest.mark.parametrize(
    ("id_token", "userinfo", "expected"),
    [
        # The ID token says it all.
        ({"email": "a@x.org", "email_verified": T}, None, ("a@x.org", T)),
        ({"email": "a@x.org", "email_verified": F}, None, ("a@x.org", F)),
        ({"email": "a@x.org"}, None, ("a@x.org", None)),
        # Only userinfo has the address (node-oidc-provider's default).
        ({}, {"email": "a@x.org", "email_verified": T}, ("a@x.org", T)),
        ({}, {"email": "a@x.org"}, ("a@x.org", None)),
        ({}, {"email": "a@x.org", "email_verified": "true"}, ("a@x.org", T)),  # Cognito's string
        ({}, {"email": "a@x.org", "email_verified": "false"}, ("a@x.org", F)),
        # Userinfo never overrides the ID token's "not verified", nor its address.
        ({"email": "a@x.org", "email_verified": F}, {"email": "a@x.org", "email_verified": T}, ("a@x.org", F)),
        ({"email_verified": F}, {"email": "b@x.org", "email_verified": T}, (None, F)),
        ({"email": "a@x.org"}, {"email": "b@x.org", "email_verified": T}, ("a@x.org", None)),
        # Userinfo may say whether the token's own address is verified.
        ({"email": "A@x.org"}, {"email": "a@x.org", "email_verified": T}, ("A@x.org", T)),
        # Nothing usable.
        ({}, None, (None, None)),
        ({"email": 42, "email_verified": "yes"}, None, (None, None)),
        ({"email": "  "}, None, (None, None)),
    ],
)
def test_email_of(id_token: dict[str, Any], userinfo: dict[str, Any] | None, expected: tuple[Any, Any]) -> None:
    assert sso.email_of(id_token, userinfo) == expected


@pytest.mark.parametrize(
    ("status", "body", "configuration", "words"),
    [
        (401, {"error": "invalid_client", "error_description": "client authentication failed"}, T, "credentials"),
        (400, {"error": "unauthorized_client"}, T, "credentials"),
        (400, {"error": "unsupported_grant_type"}, T, "credentials"),
        (401, "not json", T, "credentials"),
        (400, {"error": "invalid_grant"}, F, "already used"),
        (503, {"error": "temporarily_unavailable"}, F, "did not answer"),
        (500, None, F, "did not answer"),
        (400, {"error": "invalid_request"}, F, "refused the sign-in"),
    ],
)
def test_what_a_token_endpoint_error_tells_the_person(
    status: int, body: object, configuration: bool, words: str
) -> None:
    error = sso._token_refused(status, body)
    assert error.configuration is configuration
    assert (error.status_code >= 500) is (configuration or "did not answer" in error.detail)
    assert words in error.detail
    if configuration:
        assert "Start again" not in error.detail and "tell your administrator" in error.detail


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": "invalid_client"}, "invalid_client"),
        ({"error": "Invalid Client <script>"}, "unrecognised"),  # only a code goes to the log
        ({"error": "x" * 41}, "unrecognised"),
        ({}, "unrecognised"),
        ("text", "unrecognised"),
    ],
)
def test_only_a_clean_error_code_is_logged(body: object, code: str) -> None:
    assert sso.error_code(body) == code


@pytest.mark.parametrize(
    ("issuer", "discovery"),
    [
        ("https://tenant.auth0.com/", "https://tenant.auth0.com/.well-known/openid-configuration"),
        ("https://login.example.org", "https://login.example.org/.well-known/openid-configuration"),
        (
            "https://idp.example.org/realms/fire/",
            "https://idp.example.org/realms/fire/.well-known/openid-configuration",
        ),
    ],
)
def test_the_issuer_is_kept_exactly_and_discovery_found_beside_it(issuer: str, discovery: str) -> None:
    settings = make_settings(UNUSED_DB, oidc_issuer=issuer, oidc_client_id="c", oidc_client_secret="s")
    assert settings.oidc_issuer == issuer
    assert sso.discovery_url(issuer) == discovery


def test_signing_out_may_lead_on_to_the_provider_only_when_sso_is_set_up() -> None:
    with_sso = make_settings(
        UNUSED_DB, oidc_issuer="https://tenant.auth0.com/", oidc_client_id="c", oidc_client_secret="s"
    )
    assert "form-action 'self' https://tenant.auth0.com;" in page_csp(with_sso)
    assert "form-action 'self';" in page_csp(make_settings(UNUSED_DB))
