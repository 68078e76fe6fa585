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


class TooManyAttempts(TrimError):
    status_code = 429

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds
