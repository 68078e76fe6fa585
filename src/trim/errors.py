"""Domain errors that services raise; app.py turns them into the API's JSON or a page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message}


class TrimError(Exception):
    status_code = 400

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra: dict[str, Any] = {}  # more fields for the API's JSON error

    def field_messages(self) -> dict[str, str]:
        return {e.field: e.message for e in self.errors}


class NotFound(TrimError):
    """Missing, or not the caller's: the answer is the same."""

    status_code = 404

    def __init__(self, detail: str = "Not found") -> None:
        super().__init__(detail)


class InvalidInput(TrimError):
    status_code = 422

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        return cls(message, [FieldError(field, message)])


class Conflict(TrimError):
    status_code = 409


class NotYet(Conflict):
    """Too early to record: the answer says from when it can be."""

    def __init__(self, detail: str, *, recordable_from: str, due_at: str) -> None:
        super().__init__(detail)
        self.extra = {"recordable_from": recordable_from, "due_at": due_at}


class TooManyAttempts(TrimError):
    status_code = 429

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class EnrolmentRequired(TrimError):
    """Signed in, but their roles need a second factor they have not set up yet."""

    status_code = 401
    path = "/account/second-factor"

    def __init__(self) -> None:
        super().__init__(
            "Set up a second factor first: your role needs one. Open /account/second-factor in a browser "
            "and follow the steps; until then only that page and signing out work."
        )
