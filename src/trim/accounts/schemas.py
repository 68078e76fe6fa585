"""API shapes for accounts."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class SigninIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    otp: str | None = Field(default=None, max_length=64)


class SessionOut(BaseModel):
    id: uuid.UUID
    name: str
    roles: list[str]
    # Their roles need a second factor they have not set up: nothing else answers until they do.
    enrolment_required: bool = False


class MeOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    staff_number: str
    roles: list[str]
    station_id: uuid.UUID | None


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str
    staff_number: str
    email: str
    station_id: uuid.UUID | None
    roles: list[str]


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every API error: what was wrong, and per-field messages where there are fields."""

    detail: str
    errors: list[ErrorItem] = []


class SigninErrorOut(ErrorOut):
    """A refused sign-in. otp_required: the password was right, and the code of the
    person's second factor is needed (or was wrong) in `otp`."""

    otp_required: bool = False
