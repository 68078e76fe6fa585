"""Who is asking: a signed-in person or an integration token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from trim.accounts.models import Role


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID | None
    name: str
    email: str = ""
    roles: frozenset[str] = frozenset()
    station_id: uuid.UUID | None = None
    session_id: str | None = None
    token_id: uuid.UUID | None = None
    token_scopes: frozenset[str] = field(default_factory=frozenset)
    # Their roles need a second factor they have not set up: they reach only the set-up.
    must_enrol: bool = False

    @property
    def is_token(self) -> bool:
        return self.token_id is not None

    @property
    def person_id(self) -> uuid.UUID:
        """The person behind a session (tokens have none)."""
        if self.id is None:
            raise LookupError("an integration token is not a person")
        return self.id

    @property
    def audit_id(self) -> str:
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return "system" if self.id is None else str(self.id)

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_responder(self) -> bool:
        return Role.responder in self.roles

    @property
    def is_peer(self) -> bool:
        return Role.peer in self.roles

    @property
    def is_trim_manager(self) -> bool:
        return Role.trim_manager in self.roles

    @property
    def is_lead(self) -> bool:
        return Role.lead in self.roles

    @property
    def is_clinician(self) -> bool:
        return Role.clinician in self.roles

    @property
    def is_supervisor(self) -> bool:
        return Role.supervisor in self.roles

    @property
    def is_admin(self) -> bool:
        return Role.admin in self.roles


SYSTEM = Actor(id=None, name="system")
