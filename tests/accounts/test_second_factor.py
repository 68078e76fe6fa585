"""The second factor: forced set-up for the roles that need it, the code step of signing
in (pages and API), codes good once, recovery codes, and the admin's reset. Codes are
computed with pyotp from the secret the set-up page shows, at the app's clock."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from tests.cast import PASSWORD, Cast, sign_in, signed_in
from tests.conftest import FakeClock
from trim.accounts.models import RecoveryCode, SigninCounter, TotpFactor, WebSession
from trim.db import AsyncSession
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent

REQUIRED = ["peer", "lead", "clinician", "admin"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"mfa_required_roles": REQUIRED}


def secret_on(page: str) -> str:
    found = re.search(r'<code class="secret-key">([A-Z2-7 ]+)</code>', page)
    assert found, "the set-up page shows the key for typing in"
    return found.group(1).replace(" ", "")


def codes_on(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page)


def code_at(secret: str, clock: FakeClock) -> str:
    return str(pyotp.TOTP(secret).at(clock()))


async def form(browser: AsyncTestClient[Litestar], **fields: str) -> dict[str, str]:
    if "csrftoken" not in browser.cookies:
        await browser.get("/signin")
    return {**fields, "_csrf_token": browser.cookies["csrftoken"]}


async def enrol(browser: AsyncTestClient[Litestar], clock: FakeClock) -> tuple[str, list[str]]:
    """Set up an authenticator app for whoever is signed in; returns the secret and codes."""
    setup = await browser.get("/account/second-factor")
    assert setup.status_code == 200
    secret = secret_on(setup.text)
    done = await browser.post("/account/second-factor", data=await form(browser, code=code_at(secret, clock)))
    assert done.status_code == 200, done.text
    codes = codes_on(done.text)
    assert len(codes) == 10
    clock.advance(seconds=30)  # the code just used is spent; the next sign-in needs the next one
    return secret, codes


async def test_a_peer_who_has_not_set_up_a_second_factor_reaches_nothing_confidential(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    body = await sign_in(client, cast.peer.email)
    assert body["enrolment_required"] is True
    for path in ("/api/checkins", "/api/flags", "/api/me", "/api/me/record"):
        refused = await client.get(path)
        assert refused.status_code == 401, path
        assert "Set up a second factor first" in refused.json()["detail"]
    for path in ("/checkins", "/me", "/", "/profile", "/requests"):
        page = await client.get(path, follow_redirects=False)
        assert page.status_code == 303, path
        assert page.headers["location"] == "/account/second-factor"
    assert (await client.get("/static/css/app.css")).status_code == 200
    setup = await client.get("/account/second-factor")
    assert setup.status_code == 200 and "Your role needs a second factor" in setup.text
    signout = await client.delete("/api/session")
    assert signout.status_code == 204


async def test_the_lead_is_sent_to_set_up_before_the_overview(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        page = await lead.get("/overview", follow_redirects=False)
        assert page.headers["location"] == "/account/second-factor"
        await enrol(lead, clock)
        assert (await lead.get("/overview")).status_code == 200


async def test_a_responder_alone_needs_no_second_factor(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    body = await sign_in(client, cast.responder.email)
    assert body["enrolment_required"] is False
    assert (await client.get("/api/checkins")).status_code == 200
    profile = await client.get("/profile")
    assert "No second factor is set up." in profile.text and "Your role needs one" not in profile.text


async def test_setting_up_shows_a_qr_code_that_needs_no_inline_style(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.peer.email)
    page = await client.get("/account/second-factor")
    svg = page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "style=" not in svg and "<script" not in svg
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    # The same secret on every visit until it is confirmed; stored encrypted, not as shown.
    assert secret_on((await client.get("/account/second-factor")).text) == secret_on(page.text)
    (factor,) = list(await session.exec(select(TotpFactor)))
    assert secret_on(page.text) not in factor.secret_encrypted and factor.enabled_at is None


async def test_a_wrong_code_at_set_up_changes_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    await sign_in(client, cast.peer.email)
    secret = secret_on((await client.get("/account/second-factor")).text)
    wrong = str((int(code_at(secret, clock)) + 1) % 1_000_000).zfill(6)
    refused = await client.post("/account/second-factor", data=await form(client, code=wrong))
    assert refused.status_code == 422
    assert "That code is not right" in refused.text
    assert (await session.exec(select(TotpFactor.enabled_at))).one() is None
    assert (await session.exec(select(func.count()).select_from(RecoveryCode))).one() == 0
    assert (await client.get("/api/checkins")).status_code == 401


async def test_setting_up_opens_everything_with_a_fresh_session_id_and_emails_the_person(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    await sign_in(client, cast.peer.email)
    before = client.cookies["trim_session"]
    await enrol(client, clock)
    assert client.cookies["trim_session"] != before
    for path in ("/api/checkins", "/api/flags", "/api/me"):
        assert (await client.get(path)).status_code == 200, path
    for path in ("/checkins", "/me"):
        assert (await client.get(path, follow_redirects=False)).status_code == 200, path
    profile = await client.get("/profile")
    assert "is <strong>set up</strong>" in profile.text and "10 recovery codes left" in profile.text
    subjects = list(await session.exec(select(OutboxMessage.subject).where(OutboxMessage.person_id == cast.peer.id)))
    assert "A second factor was added to your account" in subjects


async def test_the_api_asks_for_the_code_and_counts_a_wrong_one_as_a_failed_sign_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    async with signed_in(client, cast.peer) as first:
        secret, _ = await enrol(first, clock)
    without = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert without.status_code == 401
    assert without.json()["otp_required"] is True and without.json()["errors"] == []
    assert "trim_session" not in client.cookies
    wrong = str((int(code_at(secret, clock)) + 1) % 1_000_000).zfill(6)
    refused = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": wrong})
    assert refused.status_code == 401 and refused.json()["otp_required"] is True
    assert "That code is not right" in refused.json()["detail"]
    assert sorted((await session.exec(select(SigninCounter.count))).all()) == [1, 1]  # account + address
    code = code_at(secret, clock)
    ok = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": code})
    assert ok.status_code == 200 and ok.json()["enrolment_required"] is False
    # The same code again, within its 30 seconds, is refused.
    replay = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": code})
    assert replay.status_code == 401 and "has just been used" in replay.json()["detail"]
    clock.advance(seconds=30)
    again = await client.post(
        "/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": code_at(secret, clock)}
    )
    assert again.status_code == 200


async def test_wrong_codes_reach_the_sign_in_limit(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.peer) as first:
        secret, _ = await enrol(first, clock)
    for _ in range(10):
        r = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": "000000"})
        assert r.status_code == 401
    limited = await client.post(
        "/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": code_at(secret, clock)}
    )
    assert limited.status_code == 429


async def test_signing_in_on_the_page_takes_the_code_on_a_second_page_with_a_fresh_session(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as first:
        secret, _ = await enrol(first, clock)
    await client.get("/signin")
    step1 = await client.post(
        "/signin",
        data=await form(client, email=cast.lead.email, password=PASSWORD, next="/overview"),
        follow_redirects=False,
    )
    assert step1.status_code == 303 and step1.headers["location"] == "/signin/code?next=/overview"
    halfway = client.cookies["trim_session"]
    # Half signed in is not signed in.
    assert (await client.get("/api/me")).status_code == 401
    assert (await client.get("/overview", follow_redirects=False)).headers["location"].startswith("/signin?")
    page = await client.get("/signin/code?next=/overview")
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    wrong = await client.post("/signin/code", data=await form(client, code="123456", next="/overview"))
    assert wrong.status_code == 401 and "That code is not right" in wrong.text
    done = await client.post(
        "/signin/code", data=await form(client, code=code_at(secret, clock), next="/overview"), follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/overview"
    assert client.cookies["trim_session"] != halfway
    assert (await client.get("/overview")).status_code == 200
    # The half-way session is gone.
    stages = list(await session.exec(select(WebSession.stage).where(WebSession.person_id == cast.lead.id)))
    assert "code" not in stages


async def test_the_code_step_runs_out(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> None:
    async with signed_in(client, cast.lead) as first:
        secret, _ = await enrol(first, clock)
    await client.post("/signin", data=await form(client, email=cast.lead.email, password=PASSWORD))
    clock.advance(minutes=11)
    late = await client.post(
        "/signin/code", data=await form(client, code=code_at(secret, clock)), follow_redirects=False
    )
    assert late.status_code == 303 and late.headers["location"] == "/signin"
    assert (await client.get("/api/me")).status_code == 401


async def test_each_recovery_code_works_once(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    async with signed_in(client, cast.clinician) as first:
        _, codes = await enrol(first, clock)
    used = await client.post(
        "/api/session", json={"email": cast.clinician.email, "password": PASSWORD, "otp": codes[0].upper()}
    )
    assert used.status_code == 200
    again = await client.post(
        "/api/session", json={"email": cast.clinician.email, "password": PASSWORD, "otp": codes[0]}
    )
    assert again.status_code == 401 and "has been used already" in again.json()["detail"]
    # On the page too, with its own field; and the profile counts what is left.
    async with signed_in(client, None) as browser:
        await browser.post("/signin", data=await form(browser, email=cast.clinician.email, password=PASSWORD))
        done = await browser.post(
            "/signin/code", data=await form(browser, recovery_code=codes[1].replace("-", " ")), follow_redirects=False
        )
        assert done.status_code == 303
        assert "8 recovery codes left" in (await browser.get("/profile")).text
    actions = list(await session.exec(select(AuditEvent.action).where(AuditEvent.subject_id == str(cast.clinician.id))))
    assert actions.count("person.recovery_code_used") == 2


async def test_new_recovery_codes_replace_the_old_ones(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    await sign_in(client, cast.peer.email)
    secret, old = await enrol(client, clock)
    page = await client.get("/account/second-factor")
    assert "Make new recovery codes" in page.text
    refused = await client.post("/account/second-factor/recovery-codes", data=await form(client, code="000000"))
    assert refused.status_code == 422
    renewed = await client.post(
        "/account/second-factor/recovery-codes", data=await form(client, code=code_at(secret, clock))
    )
    assert renewed.status_code == 200
    new = codes_on(renewed.text)
    assert len(new) == 10 and not set(new) & set(old)
    stale = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": old[0]})
    assert stale.status_code == 401
    fresh = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": new[0]})
    assert fresh.status_code == 200


async def test_the_admin_resets_a_lost_second_factor_but_not_their_own(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    async with signed_in(client, cast.peer) as peer:
        await enrol(peer, clock)
        async with signed_in(client, cast.admin) as admin:
            await enrol(admin, clock)
            page = await admin.get(f"/admin/people/{cast.peer.id}")
            assert "Reset second factor" in page.text
            reset = await admin.post(f"/admin/people/{cast.peer.id}/second-factor/reset", data=await form(admin))
            assert reset.status_code == 200 and "Their second factor is removed" in html.unescape(reset.text)
            own = await admin.post(f"/admin/people/{cast.admin.id}/second-factor/reset", data=await form(admin))
            assert "You cannot reset your own second factor" in own.text
        # The peer was signed out everywhere, and sets up again at the next sign-in.
        assert (await peer.get("/api/me")).status_code == 401
    body = await sign_in(client, cast.peer.email)
    assert body["enrolment_required"] is True
    assert (await client.get("/api/checkins")).status_code == 401
    assert (
        await session.exec(
            select(func.count()).select_from(TotpFactor).where(col(TotpFactor.person_id) == cast.admin.id)
        )
    ).one() == 1
    event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "person.second_factor_reset"))).one()
    assert event.actor_id == str(cast.admin.id) and event.subject_id == str(cast.peer.id)
    subjects = list(await session.exec(select(OutboxMessage.subject).where(OutboxMessage.person_id == cast.peer.id)))
    assert "Your second factor was reset" in subjects


async def test_key_rotation_re_encrypts_the_authenticator_secret(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock, settings: Any
) -> None:
    from tests.conftest import TEST_KEYS, make_settings
    from trim.db import create_engine, make_sessionmaker
    from trim.records.keys import rotate_keys

    async with signed_in(client, cast.peer) as peer:
        secret, _ = await enrol(peer, clock)
    rotated = make_settings(settings.database_url, encryption_keys=[TEST_KEYS[1], TEST_KEYS[0]])
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        counts = await rotate_keys(make_sessionmaker(engine), rotated)
    finally:
        await engine.dispose()
    assert counts["totp_factors.secret_encrypted"] == 1
    # Only the new key now: the app still reads the secret and takes the code.
    from trim.app import create_app

    app = create_app(make_settings(settings.database_url, encryption_keys=[TEST_KEYS[1]]), clock=clock)
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as other:
        ok = await other.post(
            "/api/session", json={"email": cast.peer.email, "password": PASSWORD, "otp": code_at(secret, clock)}
        )
        assert ok.status_code == 200
