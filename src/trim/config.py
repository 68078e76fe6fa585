"""Settings: one object, read from TRIM_* environment variables or a .env file."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

ROLES = ("responder", "peer", "trim_manager", "lead", "clinician", "supervisor", "admin")

DEFAULT_CRISIS_GUIDANCE = (
    "If someone is in immediate danger, call 999 (or your local emergency number) now. "
    "Stay with the person if it is safe to do so, remove anything they could use to hurt "
    "themselves, and tell the programme lead straight away. Samaritans: 116 123, any time."
)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseSettings):
    """Everything an operator can change, grouped by concern."""

    model_config = SettingsConfigDict(
        env_prefix="TRIM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # -- running ---------------------------------------------------------
    environment: Literal["production", "demo", "test"] = "production"
    database_url: str = "sqlite+aiosqlite:///./trim.db"
    # Connections one web process keeps (and as many again at a peak): size it against
    # PostgreSQL's max_connections (README, "Connections").
    database_pool_size: int = Field(default=10, ge=1, le=500)
    base_url: str = "http://127.0.0.1:8000"
    organisation_name: str = "Peer support"
    timezone: str = "Europe/London"
    # Where a phone number typed without a country code is (ISO 3166 region, e.g. GB, IE, US).
    phone_region: str = Field(default="GB", min_length=2, max_length=2)
    log_level: str = "INFO"
    # JSON logs go to standard error, or to this file when set (the demo keeps them in its folder).
    log_file: Path | None = None
    # A JSON body nested deeper than this is refused with 400 (no trim request needs more than a few).
    max_json_depth: int = Field(default=64, ge=4, le=1000)

    # -- a read replica for the dashboard and reports ------------------
    # (README, "Deploying with a read replica")
    # A PostgreSQL streaming standby of TRIM_DATABASE_URL. The dashboard and reports read
    # there while it is at most replica_max_lag_seconds behind; further behind, down or
    # refusing, they read the primary.
    database_replica_url: str | None = None
    replica_max_lag_seconds: int = Field(default=60, ge=0)
    # A replica that has not yet replayed the last commit (streaming takes milliseconds) is
    # given this long to catch up before its figures are called "as of" its last one.
    replica_catch_up_ms: int = Field(default=50, ge=0, le=5000)
    # A replica that does not answer within this is taken as down for this request...
    replica_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # ...and for this long after, in this process: the primary serves until it is tried again.
    replica_retry_seconds: int = Field(default=30, ge=1, le=3600)

    # -- secrets ---------------------------------------------------------
    secret_key: SecretStr | None = None
    # A JSON list of Fernet keys: the first encrypts, all decrypt.
    encryption_keys: list[SecretStr] = Field(default_factory=list)

    # -- the audit chain -------------------------------------------------
    # The HMAC key that seals audit events; unset, one is derived from TRIM_SECRET_KEY.
    audit_key: SecretStr | None = None
    # Keys that sealed earlier events (a JSON list): kept so the old part of the chain and
    # its anchors still verify after TRIM_AUDIT_KEY is replaced. They never seal.
    audit_old_keys: list[SecretStr] = Field(default_factory=list)
    # Every sealing that moves the chain's head (and at least hourly) appends an anchor here.
    audit_anchor_file: Path = Path("audit-anchors.jsonl")
    audit_anchor_every_minutes: int = Field(default=60, ge=1)
    # Events sealed per worker round at most (the rest wait for the next round, at once).
    audit_seal_batch_size: int = Field(default=2000, ge=1, le=100_000)

    # -- sessions and signing in ----------------------------------------
    cookie_secure: bool = True
    # Sent as Strict-Transport-Security whenever cookies are secure (one year by default).
    hsts_max_age_seconds: int = Field(default=365 * 24 * 3600, ge=0)
    session_idle_minutes: int = Field(default=12 * 60, ge=5)
    session_max_hours: int = Field(default=7 * 24, ge=1)
    signin_max_failures: int = Field(default=10, ge=1)
    signin_window_minutes: int = Field(default=15, ge=1)
    # Per address the limit is higher: many people can share one address (a station's NAT).
    signin_max_failures_per_address: int = Field(default=50, ge=1)
    mfa_required_roles: list[str] = Field(
        default_factory=lambda: ["peer", "trim_manager", "lead", "clinician", "admin"]
    )
    password_min_length: int = Field(default=12, ge=8)
    argon2_profile: Literal["default", "cheapest"] = "default"
    # Emailed single-use links: an invitation to choose a password, and a password reset.
    invitation_valid_days: int = Field(default=7, ge=1)
    password_reset_valid_minutes: int = Field(default=60, ge=5)
    # A change of sign-in email waits this long for the new address to confirm it; for the
    # notice period after a change, password and second-factor notices also go to the old one.
    email_change_valid_hours: int = Field(default=72, ge=1)
    email_change_notice_days: int = Field(default=30, ge=0)
    # Between the password and the code of a second factor, the half-signed-in state lasts this long.
    signin_code_minutes: int = Field(default=10, ge=1)
    # Off only when single sign-on is set up: then /signin offers SSO alone.
    password_signin_enabled: bool = True

    # -- single sign-on (OpenID Connect) --------------------------------
    # All three set: /signin offers "Sign in with <organisation>". The issuer's discovery
    # document (<issuer>/.well-known/openid-configuration) names every endpoint.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    # The button's words; default "Sign in with <organisation name>".
    oidc_button_label: str | None = None
    # Whether a sign-in through the identity provider stands in for trim's own second factor
    # (true when the provider enforces one for everybody). Off by default: people in
    # TRIM_MFA_REQUIRED_ROLES then still enter a code from their app after SSO.
    oidc_satisfies_mfa: bool = False
    oidc_timeout_seconds: float = Field(default=10.0, gt=0)
    # A first sign-in is matched to a person by email only when the provider says it verified
    # the address (email_verified true). True accepts addresses it does not say are verified:
    # only for a provider whose addresses the organisation itself assigns and that never sends
    # the claim. Once linked, a person is known by the provider's subject id, never by email.
    oidc_allow_unverified_email: bool = False

    # -- schedule --------------------------------------------------------
    checkin_offsets_days: list[int] = Field(default_factory=lambda: [3, 28, 90])
    # Offsets in this list are scheduled only when optional_checkins_enabled.
    optional_checkin_offsets_days: list[int] = Field(default_factory=lambda: [90])
    optional_checkins_enabled: bool = False
    # A return-to-work follow-up (design section 18): check-ins this many days after the
    # day the person says they are back at work, with the same peer, instruments and rules.
    return_checkin_days: list[int] = Field(default_factory=lambda: [7, 28])
    # How far from today a return date may be: a typo years out is refused, not scheduled.
    return_max_past_days: int = Field(default=90, ge=0)
    return_max_future_days: int = Field(default=60, ge=0)
    due_window_days: int = Field(default=2, ge=0)
    # A check-in can be recorded from this many hours before it is due, not earlier
    # (TRiM's first interview is no sooner than 72 hours; the TSQ a month or more after).
    early_record_hours: int = Field(default=12, ge=0, le=24 * 7)
    # A check-in form posted with a connection that carries nothing (design section 16): with
    # no answer after this many seconds, the phone stops waiting, keeps it and sends it itself.
    offline_post_timeout_seconds: int = Field(default=20, ge=3, le=300)
    # A person who said "no more check-ins" can take it back for this long.
    opt_out_undo_hours: int = Field(default=24, ge=0, le=24 * 30)
    missed_grace_days: int = Field(default=7, ge=0)
    assign_avoid_same_station: bool = True
    max_future_incident_hours: int = Field(default=24, ge=0)
    max_past_incident_days: int = Field(default=10 * 366, ge=1)

    # -- looking after the peer supporters (section 13) -----------------
    # Open people a peer carries at most (each peer's own cap, set by the lead, wins).
    peer_caseload_cap: int = Field(default=8, ge=1, le=500)
    # The lead is told this many days before a peer's refresher falls due, and on the day.
    peer_lapse_notice_days: int = Field(default=60, ge=1, le=366)
    # A peer's supervision falls due this many days after the last one held.
    peer_supervision_days: int = Field(default=90, ge=1, le=3660)
    # A debrief a peer asks for ("I'd like to talk this one over") is due within this many days.
    peer_debrief_days: int = Field(default=7, ge=1, le=90)
    # A check-in overdue by this many days with no record and no contact logged moves on.
    quiet_peer_days: int = Field(default=3, ge=1, le=90)
    # The course a roster's trained_on / refresher_due columns record.
    peer_roster_course_name: str = Field(default="TRiM practitioner", min_length=1, max_length=120)
    # The longest "resting until" a peer can set (a typo years out is refused).
    peer_rest_max_days: int = Field(default=180, ge=1, le=3660)
    # -- the planning meeting (section 12) -------------------------------
    # An incident this many hours old without a planning record is "planning due" on the
    # lead's overview and home; planning held within it counts as on time on the dashboard.
    planning_due_hours: int = Field(default=48, ge=1, le=24 * 28)
    # Planning due is shown for incidents at most this many days old (older ones are past
    # the point where a planning meeting would change who is seen).
    planning_due_within_days: int = Field(default=28, ge=1, le=366)

    # -- a note the person shares with a manager (section 18) ------------
    shared_note_max_chars: int = Field(default=500, ge=20, le=2000)

    # -- flags -----------------------------------------------------------
    consecutive_elevated_for_flag: int = Field(default=2, ge=1)
    # A check-in counts toward persistence when its after-phase items score at least this.
    persistent_after_score: int = Field(default=2, ge=1)
    cumulative_incidents_for_flag: int = Field(default=3, ge=2)
    cumulative_window_days: int = Field(default=90, ge=1)
    urgent_ack_minutes: int = Field(default=30, ge=1)
    # Watchful waiting (design section 4): an extra check-in with the same peer this many
    # days after the flag is put on monitor; the peer picks within the bounds.
    monitor_default_days: int = Field(default=14, ge=1)
    monitor_min_days: int = Field(default=7, ge=1)
    monitor_max_days: int = Field(default=28, ge=1)
    # The interim check-in offered after a first check-in that counts toward persistence:
    # this many days after it by default, always before the next scheduled one.
    interim_default_days: int = Field(default=10, ge=1)
    oncall_emails: list[str] = Field(default_factory=list)
    crisis_guidance: str = DEFAULT_CRISIS_GUIDANCE

    # -- requests for a peer --------------------------------------------
    named_peer_window_minutes: int = Field(default=60, ge=0)
    request_escalate_minutes_today: int = Field(default=120, ge=1)
    request_escalate_minutes_this_week: int = Field(default=24 * 60, ge=1)
    request_escalate_minutes_when_convenient: int = Field(default=3 * 24 * 60, ge=1)
    # The conversation on a request: at most one "new message" email per person per this long.
    conversation_email_minutes: int = Field(default=15, ge=1)
    conversation_message_max: int = Field(default=2000, ge=1, le=10000)
    # How often an open conversation asks for new messages (seconds).
    conversation_poll_seconds: int = Field(default=3, ge=1, le=60)

    # -- metrics (Prometheus text format; never public) ------------------
    # The web processes' figures on a port of their own (`trim run` serves it), and/or at
    # /metrics on the main port for a caller with this bearer token. Neither set: no metrics.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_token: SecretStr | None = None
    # The address the metrics ports listen on: loopback unless a private network reaches it.
    metrics_host: str = "127.0.0.1"
    # The worker's own figures (sweeps, sending, sealing), on this port of `trim worker`.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # -- mail ------------------------------------------------------------
    # smtp://[user:pass@]host[:port][?starttls=1|0][&timeout=SECONDS] or smtps://... (TLS from
    # the first byte). Without starttls=, STARTTLS is used whenever the server offers it.
    smtp_url: str = "smtp://127.0.0.1:1025"
    mail_from: str = "trim <no-reply@trim.invalid>"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    worker_poll_seconds: float = Field(default=5.0, gt=0)
    run_worker_in_app: bool = False
    # Messages one worker claims at a time, and how long its claim lasts: renewed every
    # third of it while the batch is sent, so a worker that dies mid-batch leaves its
    # messages to another worker within one lease.
    mail_batch_size: int = Field(default=50, ge=1, le=1000)
    mail_lease_seconds: int = Field(default=30, ge=3)
    # Exponential backoff after a failed attempt: base * 2**(attempts-1), capped.
    mail_retry_base_seconds: int = Field(default=30, ge=1)
    mail_retry_max_seconds: int = Field(default=3600, ge=1)
    # A message the server rejects outright (5xx) is given up after this many tries (the
    # lead is told daily which addresses refuse); while the server is unreachable or says
    # "try later" (4xx), messages wait however long it takes.
    mail_max_attempts: int = Field(default=2, ge=1)
    outbox_retention_days: int = Field(default=30, ge=1)

    # -- reminders -------------------------------------------------------
    # Each sweep re-reads this much before its last mark, so a change committed a little
    # after the clock it read is still seen (the unique reminder keeps it to one email).
    reminder_overlap_minutes: int = Field(default=15, ge=1)
    sweep_batch_size: int = Field(default=500, ge=1)
    # Local hour (organisation's zone) after which the daily digest goes out.
    digest_hour: int = Field(default=7, ge=0, le=23)
    calendar_event_minutes: int = Field(default=30, ge=5)

    # -- reporting and retention ----------------------------------------
    small_cell_k: int = Field(default=5, ge=2)
    # People ids kept per dashboard rollup cell (dashboard.samples): counts below this are
    # exact, above it proven "at least"; it must be at least small_cell_k, or the dashboard
    # counts the check-in figures live. Changing it rebuilds the rollups on the next sweep.
    dashboard_sample_size: int = Field(default=10, ge=2, le=100)
    # The rollup sweep runs at most this often (every worker tick otherwise): changes coalesce
    # into one rebuild per incident, day and month, so keeping the figures costs the
    # recording path little, and the figures are at most about this many seconds behind.
    dashboard_refresh_seconds: float = Field(default=30.0, ge=0, le=300)
    # The board's report leaves the lead's desk: a larger k (design section 17).
    report_small_cell_k: int = Field(default=10, ge=2)
    retention_days: int = Field(default=6 * 365, ge=30)
    # Keep less (design section 4): item-level answers and notes of an exposure are deleted
    # this many days after its last check-in is done and its flags are resolved.
    answer_retention_days: int = Field(default=180, ge=1)
    # An Idempotency-Key (and the answer it replays, which can hold a score) lasts this long.
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "use at least 32 random characters: `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/London)") from exc
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers  # here: config is imported by everything, phonenumbers is large

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (use a two-letter country code such as GB)")
        return region

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not (value.startswith("postgresql+asyncpg://") or value.startswith("sqlite+aiosqlite://")):
            raise ValueError("use postgresql+asyncpg://... or sqlite+aiosqlite:///path")
        return value

    @field_validator("database_replica_url")
    @classmethod
    def _replica_is_postgres(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("a read replica is a PostgreSQL standby: use postgresql+asyncpg://...")
        return value

    @model_validator(mode="after")
    def _replica_of_postgres(self) -> Settings:
        if self.database_replica_url and self.is_sqlite:
            raise ValueError("TRIM_DATABASE_REPLICA_URL needs TRIM_DATABASE_URL to be the PostgreSQL primary")
        return self

    @field_validator("encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for index, key in enumerate(value):
            try:
                Fernet(key.get_secret_value())
            except (ValueError, TypeError) as exc:
                raise ValueError(f"key {index + 1} is not a Fernet key (44 characters of url-safe base64)") from exc
        return value

    @field_validator("audit_key")
    @classmethod
    def _audit_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("the audit key must be at least 32 characters")
        return value

    @field_validator("audit_old_keys")
    @classmethod
    def _old_audit_keys_long_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        for index, key in enumerate(value):
            if len(key.get_secret_value()) < 32:
                raise ValueError(f"key {index + 1} is shorter than 32 characters")
        return value

    @field_validator("mfa_required_roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles {unknown}; roles are {list(ROLES)}")
        return value

    @field_validator("checkin_offsets_days")
    @classmethod
    def _offsets(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one offset is needed")
        if any(day < 1 for day in value):
            raise ValueError("offsets are whole days after the incident, 1 or more")
        if len(set(value)) != len(value):
            raise ValueError("offsets must not repeat")
        return sorted(value)

    @field_validator("return_checkin_days")
    @classmethod
    def _return_days(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one return-to-work check-in is needed")
        if any(day < 1 for day in value):
            raise ValueError("return-to-work check-ins are whole days after the return, 1 or more")
        if len(set(value)) != len(value):
            raise ValueError("return-to-work days must not repeat")
        return sorted(value)

    @model_validator(mode="after")
    def _monitor_days_in_order(self) -> Settings:
        if not self.monitor_min_days <= self.monitor_default_days <= self.monitor_max_days:
            raise ValueError("TRIM_MONITOR_MIN_DAYS <= TRIM_MONITOR_DEFAULT_DAYS <= TRIM_MONITOR_MAX_DAYS")
        return self

    @model_validator(mode="after")
    def _secret_long_enough(self) -> Settings:
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("TRIM_SECRET_KEY must be at least 32 characters")
        return self

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("the issuer must be an https:// URL (plain http only for localhost)")
        # Kept exactly as given, a trailing "/" included: the ID token's `iss` must equal it.
        return value

    @model_validator(mode="after")
    def _sso_complete(self) -> Settings:
        given = {
            "TRIM_OIDC_ISSUER": self.oidc_issuer,
            "TRIM_OIDC_CLIENT_ID": self.oidc_client_id,
            "TRIM_OIDC_CLIENT_SECRET": self.oidc_client_secret,
        }
        missing = [name for name, value in given.items() if not value]
        if 0 < len(missing) < len(given):
            raise ValueError(f"single sign-on needs {', '.join(missing)} as well")
        if not self.password_signin_enabled and missing:
            raise ValueError("TRIM_PASSWORD_SIGNIN_ENABLED=false needs single sign-on (TRIM_OIDC_*) set up")
        return self

    # -- derived ---------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def scheduled_offsets_days(self) -> list[int]:
        """The offsets actually scheduled, in order."""
        if self.optional_checkins_enabled:
            return list(self.checkin_offsets_days)
        return [d for d in self.checkin_offsets_days if d not in self.optional_checkin_offsets_days]

    @property
    def due_window(self) -> timedelta:
        return timedelta(days=self.due_window_days)

    @property
    def early_record(self) -> timedelta:
        return timedelta(hours=self.early_record_hours)

    @property
    def opt_out_undo(self) -> timedelta:
        return timedelta(hours=self.opt_out_undo_hours)

    @property
    def missed_grace(self) -> timedelta:
        return timedelta(days=self.missed_grace_days)

    @property
    def mail_lease(self) -> timedelta:
        return timedelta(seconds=self.mail_lease_seconds)

    @property
    def reminder_overlap(self) -> timedelta:
        return timedelta(minutes=self.reminder_overlap_minutes)

    @property
    def sso_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @property
    def sso_button_label(self) -> str:
        return self.oidc_button_label or f"Sign in with {self.organisation_name}"

    @property
    def invitation_valid(self) -> timedelta:
        return timedelta(days=self.invitation_valid_days)

    @property
    def password_reset_valid(self) -> timedelta:
        return timedelta(minutes=self.password_reset_valid_minutes)

    @property
    def email_change_valid(self) -> timedelta:
        return timedelta(hours=self.email_change_valid_hours)

    @property
    def email_change_notice(self) -> timedelta:
        return timedelta(days=self.email_change_notice_days)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def request_escalate_after(self, urgency: str) -> timedelta:
        minutes = {
            "today": self.request_escalate_minutes_today,
            "this_week": self.request_escalate_minutes_this_week,
            "when_convenient": self.request_escalate_minutes_when_convenient,
        }[urgency]
        return timedelta(minutes=minutes)

    def secret(self) -> str:
        if self.secret_key is None:
            raise SettingsError("TRIM_SECRET_KEY is not set")
        return self.secret_key.get_secret_value()

    def fernet_keys(self) -> list[str]:
        return [k.get_secret_value() for k in self.encryption_keys]

    def require_production_secrets(self) -> None:
        """Stop start-up, naming the setting, when a key the server needs is missing."""
        if self.secret_key is None:
            raise SettingsError(
                "TRIM_SECRET_KEY is not set: generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if not self.encryption_keys:
            raise SettingsError(
                "TRIM_ENCRYPTION_KEYS is not set: a JSON list of Fernet keys, e.g. "
                "'[\"<key>\"]' (generate with `trim keys generate`)"
            )


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a message that names each setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "TRIM_" + "_".join(str(p) for p in error["loc"] if isinstance(p, str)).upper()
            if name == "TRIM_":
                name = "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
    except SourceError as exc:
        # pydantic-settings reads list settings as JSON; say which one failed to parse.
        raise SettingsError(f'invalid settings: {exc} (list settings are JSON, e.g. \'["a","b"]\')') from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def demo_folder() -> Path:
    return Path.cwd() / "trim-demo"
