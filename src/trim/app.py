"""create_app(settings) -> Litestar: wiring only."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from litestar import Litestar, Request, get
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Receive, Scope, Send

import trim.models  # noqa: F401 - every table registered before anything queries
from trim import web
from trim.accounts import sso
from trim.accounts.auth import AuthMiddleware
from trim.accounts.email_routes import EmailChangePages
from trim.accounts.factor_routes import CodePages, SecondFactorPages
from trim.accounts.password_routes import LinkPages
from trim.accounts.routes import SessionApi, SigninPages
from trim.accounts.rules import ROLE_LABELS, phone_display
from trim.accounts.sso_routes import SsoPages
from trim.admin import pages as admin_pages
from trim.admin.pages import AdminPages
from trim.analytics import open_replica
from trim.assessments.api import AssessmentApi
from trim.assessments.instruments import load as load_instruments
from trim.assessments.pages import RecordPages as CheckinRecordPages
from trim.assessments.self_pages import SelfPages
from trim.config import Settings, get_settings
from trim.dashboard import pages as dashboard_pages
from trim.dashboard.api import DashboardApi
from trim.dashboard.pages import DashboardPages
from trim.db import create_engine, make_sessionmaker, ping, utcnow
from trim.deps import provide_analytics, provide_db, provide_settings
from trim.flags import pages as flags_pages
from trim.flags.api import FlagApi
from trim.flags.pages import FlagPages
from trim.followups import pages as followups_pages
from trim.followups.api import CheckinApi
from trim.followups.pages import CalendarFeeds, CheckinPages
from trim.followups.rules import kind_label
from trim.groups import pages as groups_pages
from trim.groups.api import GroupsApi
from trim.groups.pages import GroupPages
from trim.guards import no_tokens_by_default, second_factor_gate
from trim.home.pages import HomePages
from trim.incidents import pages as incidents_pages
from trim.incidents.api import IncidentApi
from trim.incidents.pages import IncidentPages
from trim.jobs import SWEEPS
from trim.logs import AccessLogMiddleware, configure_logging
from trim.metrics.plugin import OperationsPlugin
from trim.migrations import ensure_migrated
from trim.notifications.routes import NotificationPages
from trim.notifications.worker import Worker, running
from trim.offline.routes import OfflinePages
from trim.peers import pages as peers_pages
from trim.peers.api import PeerCareApi
from trim.peers.pages import PeerCarePages
from trim.planning import pages as planning_pages
from trim.planning.api import PlanningApi
from trim.planning.pages import PlanningPages
from trim.planning.service import planning_due
from trim.records import pages as records_pages
from trim.records.api import RecordApi
from trim.records.pages import AuditPages, RecordPages
from trim.referrals import pages as referrals_pages
from trim.referrals.api import ReferralApi
from trim.referrals.pages import FlagReferralPages, ReferralPages, ServicePages
from trim.reports import pages as report_pages
from trim.reports.api import ReportsApi
from trim.reports.pages import ReportPages
from trim.requests import pages as requests_pages
from trim.requests.api import ConversationApi, RequestApi
from trim.requests.news import close_listeners
from trim.requests.pages import RequestPages
from trim.sharing import pages as sharing_pages
from trim.sharing.api import SharedNoteApi
from trim.sharing.pages import SharedNotePages

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"

log = logging.getLogger("trim")

Clock = Callable[[], datetime]


class TrimCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, except for integrations: a request that authenticates with
    a bearer token (and carries no session cookie) cannot be forged by a browser."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("auth") == "bearer":
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


@get("/health", include_in_schema=True, tags=["health"], summary="For load balancers")
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    try:
        await ping(request.app.state.engine)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.warning("health check: database unreachable")
        return Response({"status": "error", "database": "error"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})


def _template_engine(settings: Settings) -> Callable[[JinjaTemplateEngine], None]:
    zone = ZoneInfo(settings.timezone)

    def configure(engine: JinjaTemplateEngine) -> None:
        env: Environment = engine.engine
        env.filters["local"] = lambda dt, fmt="%a %-d %b %Y, %H:%M": dt.astimezone(zone).strftime(fmt) if dt else ""
        env.filters["localdate"] = lambda dt: dt.astimezone(zone).strftime("%-d %b %Y") if dt else ""
        env.filters["isoutc"] = lambda dt: dt.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else ""
        env.filters["kind_label"] = kind_label
        env.filters["contact_links"] = web.contact_links
        env.globals["contact_href"] = web.contact_href
        env.filters["phone"] = lambda stored: phone_display(stored, region=settings.phone_region) if stored else ""
        env.globals["phone_region"] = settings.phone_region
        env.globals["offline_post_timeout_seconds"] = settings.offline_post_timeout_seconds
        env.globals["ROLE_LABELS"] = ROLE_LABELS
        env.trim_blocks = True
        env.lstrip_blocks = True

    return configure


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)
# Redoc (the API reference page) styles itself inline and runs a worker.
CSP_SCHEMA = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; base-uri 'self'"
)


def page_csp(settings: Settings) -> str:
    """The pages' policy. With single sign-on a form may also lead on to the provider:
    signing out (a POST) continues at its end_session_endpoint."""
    sources = " ".join(["'self'", *sso.form_action_origins(settings)])
    return CSP.replace("form-action 'self'", f"form-action {sources}")


async def security_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    path = scope.get("path", "")
    present = {name.lower() for name, _ in headers}
    extra = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (
            b"content-security-policy",
            (CSP_SCHEMA if path.startswith("/schema") else scope["litestar_app"].state.get("csp", CSP)).encode(),
        ),
    ]
    settings: Settings = scope["litestar_app"].state.settings
    if settings.cookie_secure:
        # Secure cookies mean the service is on https: browsers must never try plain http for it
        # again, where a network attacker could strip the TLS and read or plant a session.
        extra.append((b"strict-transport-security", f"max-age={settings.hsts_max_age_seconds}".encode()))
    if not path.startswith("/static/") and b"cache-control" not in present:
        # Pages carry personal data: never keep them in a shared or back-button cache.
        extra.append((b"cache-control", b"no-store"))
    headers.extend(pair for pair in extra if pair[0] not in present)
    message["headers"] = headers


def route_handlers() -> list[Any]:
    return [
        health,
        SigninPages,
        SessionApi,
        CodePages,
        SecondFactorPages,
        LinkPages,
        EmailChangePages,
        SsoPages,
        HomePages,
        AdminPages,
        IncidentApi,
        IncidentPages,
        PlanningApi,
        PlanningPages,
        CheckinApi,
        CheckinPages,
        AssessmentApi,
        CheckinRecordPages,
        SelfPages,
        ReferralApi,
        FlagApi,
        FlagPages,
        FlagReferralPages,
        ReferralPages,
        ServicePages,
        GroupPages,
        RecordApi,
        RecordPages,
        AuditPages,
        RequestApi,
        ConversationApi,
        PeerCareApi,
        GroupsApi,
        PeerCarePages,
        RequestPages,
        NotificationPages,
        CalendarFeeds,
        DashboardApi,
        DashboardPages,
        ReportsApi,
        ReportPages,
        SharedNoteApi,
        SharedNotePages,
        OfflinePages,
        create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
    ]


# Every area's navigation entries, in screen order (each area's NAV says where its own go).
NAV = web.compose_nav(
    followups_pages.NAV,
    planning_pages.NAV,
    requests_pages.NAV,
    incidents_pages.NAV,
    dashboard_pages.NAV,
    report_pages.NAV,
    flags_pages.NAV,
    referrals_pages.NAV,
    groups_pages.NAV,
    records_pages.NAV,
    sharing_pages.NAV,
    peers_pages.NAV,
    admin_pages.NAV,
)

# Each is called as (session, actor=, now=, settings=) and its answer handed to the overview.
OVERVIEW_PARTS = {"planning_due": planning_due}


_FROZEN: list[bool] = []


def _freeze_startup_objects() -> None:
    """Everything loaded by the first start-up of a process (modules, the app, its routes and
    models) lives as long as the process: out of the cyclic collector's sight, so a full
    collection walks only what requests made since. A full collection over the ~230,000
    start-up objects took up to 160 ms in the middle of a dashboard request
    (bench/dashboard_bench.py). Once per process: a test run starts many apps, and what a
    later one would freeze is the earlier tests' garbage."""
    if not _FROZEN:
        _FROZEN.append(True)
        gc.collect()
        gc.freeze()


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, check_migrations: bool = True
) -> Litestar:
    """The web application for these settings. Refuses to start on an unmigrated database."""
    settings = settings or get_settings()
    settings.require_production_secrets()
    load_instruments()  # a broken instrument file stops start-up with a message naming it
    configure_logging(settings.log_level, settings.log_file)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        # The sign-in read of every request is one statement (and at most one write), so on
        # PostgreSQL it runs without a transaction around it: no BEGIN and ROLLBACK round
        # trips. (SQLite keeps its BEGIN IMMEDIATE: the pysqlite driver manages no
        # transactions of its own here, see trim.db.)
        postgres = engine.dialect.name == "postgresql"
        signin_engine = engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else engine
        app.state.signin_sessionmaker = make_sessionmaker(signin_engine)
        # The dashboard and reports read here when it is current enough (trim.analytics).
        app.state.replica = open_replica(settings)
        try:
            if check_migrations:
                await ensure_migrated(engine)
            _freeze_startup_objects()
            if settings.run_worker_in_app:
                # The embedded demo: one process serves pages and sends the email.
                worker = Worker(app.state.sessionmaker, settings, sweeps=SWEEPS, clock=app.state.clock)
                async with running(worker) as task:
                    app.state.worker_task = task
                    yield
            else:
                yield
        finally:
            await close_listeners()
            if app.state.replica is not None:
                await app.state.replica.dispose()
            await engine.dispose()

    csrf = CSRFConfig(
        secret=settings.secret(),
        cookie_secure=settings.cookie_secure,
        cookie_samesite="lax",
        exclude_from_csrf_key="exclude_from_csrf",
    )
    app = Litestar(
        route_handlers=route_handlers(),
        request_class=web.TrimRequest,
        dependencies={
            "db": Provide(provide_db),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "analytics": Provide(provide_analytics),
        },
        middleware=[
            AccessLogMiddleware,
            AuthMiddleware,
            DefineMiddleware(TrimCSRFMiddleware, config=csrf),
        ],
        guards=[no_tokens_by_default, second_factor_gate],
        exception_handlers={Exception: web.handle_exception},
        before_send=[security_headers],
        lifespan=[lifespan],
        plugins=[OperationsPlugin(settings)],  # health probes and metrics (README, "Running it")
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_template_engine(settings)
        ),
        openapi_config=OpenAPIConfig(
            title="trim API",
            version="1.0.0",
            description="Peer support programme (TRiM): incidents, check-ins, flags, referrals, requests.",
            path="/schema",
            render_plugins=[
                RedocRenderPlugin(js_url="/static/vendor/redoc/redoc.standalone.js", path="/"),
                JsonRenderPlugin(),
            ],
        ),
        debug=False,
        logging_config=None,  # trim.logs configures JSON logs
    )
    app.state.settings = settings
    app.state.nav = NAV
    # Parts of the lead's overview that other areas provide, by template name.
    app.state.overview_parts = OVERVIEW_PARTS
    app.state.csp = page_csp(settings)
    app.state.clock = clock or utcnow
    return app


def create_app_from_env() -> Litestar:
    """The factory `trim run` hands to uvicorn (each worker process builds its own)."""
    return create_app(get_settings())
