"""The admin's pages: people, stations, roster import, settings (the lead may read them).

Above the areas, like records/: a person's page shows their accounts and their check-ins
(followups), so it lives in neither."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from trim.accounts import edits, email_change, factors, links, roster, service
from trim.accounts.rules import ACCESS_LABELS, normalize_email, phone_display
from trim.config import ROLES
from trim.deps import Conf, Db
from trim.errors import InvalidInput
from trim.followups import service as followups
from trim.groups import service as exposure_groups
from trim.guards import current_actor, requires
from trim.notifications import service as notifications
from trim.peers import service as peers
from trim.web import PageNumber, form_data, form_list, nav_item, now_of, page, redirect, settings_of

PAGE_SIZE = 50


# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (
    nav_item("People", "/admin/people", "admin", "lead", place=130),
    nav_item("Stations", "/admin/stations", "admin", place=140),
    nav_item("Import roster", "/admin/roster", "admin", place=150),
    nav_item("Settings", "/admin/settings", "admin", place=160),
)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput.field("station_id", "Choose a station from the list.") from None


async def _person_input(request: Request[Any, Any, Any]) -> tuple[service.PersonInput, dict[str, Any]]:
    form = await form_data(request)
    roles = await form_list(request, "roles")
    values: dict[str, Any] = dict(form)
    values["roles"] = roles
    data = service.PersonInput(
        staff_number=form.get("staff_number", ""),
        name=form.get("name", ""),
        email=form.get("email", ""),
        station_id=None,
        roles=roles,
        background=form.get("background"),
        manager_staff_number=form.get("manager_staff_number"),
        phone=form.get("phone"),
    )
    data.station_id = _uuid_or_none(form.get("station_id"))
    return data, values


class AdminPages(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/people", guards=[requires("admin", "lead")])
    async def people(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        q: FromQuery[str | None] = None,
        page_number: PageNumber = 1,
        access: FromQuery[str | None] = None,
    ) -> Template:
        page_number = max(1, page_number)
        actor = current_actor(request)
        now = now_of(request)
        access = access if access in service.ACCESS_FILTERS else None
        condition = service.access_condition(access, now=now, valid=settings.invitation_valid) if access else None
        people = await service.search_people(
            db,
            actor=actor,
            q=q,
            include_inactive=True,
            limit=PAGE_SIZE,
            offset=(page_number - 1) * PAGE_SIZE,
            access=condition,
        )
        total = await service.count_people(db, q=q, access=condition)
        return page(
            request,
            "admin/people.html",
            people=people,
            access_of={p.id: p.access(now=now, valid=settings.invitation_valid) for p in people},
            phones={p.id: phone_display(p.phone, region=settings.phone_region) for p in people if p.phone},
            access=access or "",
            access_labels=ACCESS_LABELS,
            q=q or "",
            total=total,
            page_number=page_number,
            pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
            stations=await service.station_names(db),
            counts=await service.count_by_role(db),
        )

    @get("/people/new", guards=[requires("admin")])
    async def new_person(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return page(
            request,
            "admin/person_form.html",
            person=None,
            roles=ROLES,
            stations=await service.list_stations(db),
            values={"roles": ["responder"]},
        )

    @post("/people", guards=[requires("admin")])
    async def create_person(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        values: dict[str, Any] = {}
        try:
            data, values = await _person_input(request)
            person = await service.create_person(
                db, actor=current_actor(request), data=data, now=now_of(request), phone_region=settings.phone_region
            )
        except InvalidInput as exc:
            return page(
                request,
                "admin/person_form.html",
                status=422,
                person=None,
                roles=ROLES,
                stations=await service.list_stations(db),
                values=values,
                errors=exc.field_messages(),
                error=exc.detail,
            )
        return redirect(request, f"/admin/people/{person.id}", f"{person.name} has been added.")

    @get("/people/{person_id:uuid}", guards=[requires("admin", "lead")])
    async def person(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, person_id: FromPath[uuid.UUID]
    ) -> Template:
        person = await service.person_view(db, person_id)
        values = {
            "staff_number": person.staff_number,
            "name": person.name,
            "email": person.email,
            "station_id": str(person.station_id or ""),
            "roles": person.roles,
            "background": person.background or "",
            "manager_staff_number": person.manager_staff_number or "",
            "phone": phone_display(person.phone, region=settings.phone_region) if person.phone else "",
        }
        return page(
            request,
            "admin/person_form.html",
            person=person,
            roles=ROLES,
            values=values,
            stations=await service.list_stations(db, include_inactive=True),
            read_only=not current_actor(request).is_admin,
            **await _getting_in(request, db, settings, person),
        )

    @post("/people/{person_id:uuid}", guards=[requires("admin")])
    async def update_person(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, person_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        person = await service.person_view(db, person_id)
        values: dict[str, Any] = {}
        try:
            data, values = await _person_input(request)
            updated = await edits.update_person(
                db, actor=current_actor(request), person_id=person_id, data=data, now=now_of(request), settings=settings
            )
        except InvalidInput as exc:
            return page(
                request,
                "admin/person_form.html",
                status=422,
                person=person,
                roles=ROLES,
                stations=await service.list_stations(db, include_inactive=True),
                values=values,
                errors=exc.field_messages(),
                error=exc.detail,
                **await _getting_in(request, db, settings, person),
            )
        message = "Changes saved."
        if updated.pending_email is not None and normalize_email(data.email) != person.email:
            message += (
                " The new email address takes effect when they confirm it from that address; until then they "
                "sign in with the old one, which has been told of the change."
            )
        return redirect(request, f"/admin/people/{person_id}", message)

    @post("/people/{person_id:uuid}/email/cancel", guards=[requires("admin")])
    async def cancel_email_change(
        self, request: Request[Any, Any, Any], db: Db, person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """Drop a change of sign-in email that is still waiting for confirmation."""
        await service.get_person(db, person_id)
        done = await email_change.cancel(db, actor=current_actor(request), person_id=person_id, now=now_of(request))
        message = (
            "The change of email is cancelled; they keep their old address."
            if done
            else "No change of email was waiting."
        )
        return redirect(request, f"/admin/people/{person_id}", message)

    @post("/people/{person_id:uuid}/active", guards=[requires("admin")])
    async def set_active(self, request: Request[Any, Any, Any], db: Db, person_id: FromPath[uuid.UUID]) -> Redirect:
        form = await form_data(request)
        active = form.get("active") == "yes"
        try:
            person = await service.set_active(
                db, actor=current_actor(request), person_id=person_id, active=active, now=now_of(request)
            )
            if not active:
                # A peer who leaves hands their open check-ins on by the usual rules.
                await followups.reassign_open_of_peer(
                    db,
                    actor=current_actor(request),
                    peer_id=person_id,
                    now=now_of(request),
                    settings=settings_of(request),
                )
        except InvalidInput as exc:
            return redirect(request, f"/admin/people/{person_id}", exc.detail, "error")
        message = (
            f"{person.name} can sign in again."
            if active
            else f"{person.name} is deactivated and has been signed out everywhere."
        )
        return redirect(request, f"/admin/people/{person_id}", message)

    @post("/people/{person_id:uuid}/invite", guards=[requires("admin")])
    async def invite(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """Send (or send again) an invitation to choose a password."""
        try:
            person = await links.invite(
                db, actor=current_actor(request), person_id=person_id, now=now_of(request), settings=settings
            )
        except InvalidInput as exc:
            return redirect(request, f"/admin/people/{person_id}", exc.detail, "error")
        return redirect(request, f"/admin/people/{person_id}", f"An invitation is on its way to {person.name}.")

    @post("/people/{person_id:uuid}/second-factor/reset", guards=[requires("admin")])
    async def reset_second_factor(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """Remove a person's authenticator app (a lost phone); they set one up again."""
        try:
            done = await factors.reset(
                db, actor=current_actor(request), person_id=person_id, now=now_of(request), settings=settings
            )
        except InvalidInput as exc:
            return redirect(request, f"/admin/people/{person_id}", exc.detail, "error")
        message = (
            "Their second factor is removed and they are signed out everywhere. They have been told by email."
            if done
            else "They had no second factor to reset."
        )
        return redirect(request, f"/admin/people/{person_id}", message)

    @get("/stations", guards=[requires("admin", "lead")])
    async def stations(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return page(request, "admin/stations.html", stations=await service.list_stations(db, include_inactive=True))

    @post("/stations", guards=[requires("admin")])
    async def create_station(self, request: Request[Any, Any, Any], db: Db) -> Template | Redirect:
        form = await form_data(request)
        try:
            station = await service.create_station(db, actor=current_actor(request), name=form.get("name", ""))
        except InvalidInput as exc:
            return page(
                request,
                "admin/stations.html",
                status=422,
                stations=await service.list_stations(db, include_inactive=True),
                errors=exc.field_messages(),
                values=form,
            )
        return redirect(request, "/admin/stations", f"{station.name} has been added.")

    @post("/stations/{station_id:uuid}", guards=[requires("admin")])
    async def update_station(
        self, request: Request[Any, Any, Any], db: Db, station_id: FromPath[uuid.UUID]
    ) -> Redirect:
        form = await form_data(request)
        try:
            station = await service.update_station(
                db,
                actor=current_actor(request),
                station_id=station_id,
                name=form.get("name", ""),
                active=form.get("active") == "yes",
            )
        except InvalidInput as exc:
            return redirect(request, "/admin/stations", exc.detail, "error")
        return redirect(request, "/admin/stations", f"{station.name} saved.")

    @get("/roster", guards=[requires("admin")])
    async def roster_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "admin/roster.html", report=None)

    @post("/roster", guards=[requires("admin")])
    async def roster_upload(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        form = await request.form()
        upload = form.get("file")
        invite = form.get("invite") == "yes"
        if not isinstance(upload, UploadFile):
            return page(
                request, "admin/roster.html", status=422, report=None, errors={"file": "Choose a CSV file to import."}
            )
        content = await upload.read()
        try:
            report = await roster.import_roster(
                db,
                actor=current_actor(request),
                data=content,
                now=now_of(request),
                settings=settings,
                invite=invite,
                record_course=peers.record_course,
                record_groups=exposure_groups.set_person_groups,
            )
        except InvalidInput as exc:
            return page(request, "admin/roster.html", status=422, report=None, errors=exc.field_messages())
        return page(request, "admin/roster.html", report=report, filename=upload.filename)

    @get("/settings", guards=[requires("admin", "lead")])
    async def settings_page(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        refused = await notifications.refused_addresses(db, actor=current_actor(request))
        return page(request, "admin/settings.html", rows=settings_rows(settings), refused=refused)


SECRET_SETTINGS = {"secret_key", "encryption_keys", "smtp_url", "oidc_client_secret", "metrics_token"}
DATABASE_SETTINGS = {"database_url", "database_replica_url"}


async def _getting_in(
    request: Request[Any, Any, Any], db: Db, settings: Conf, person: service.PersonView
) -> dict[str, Any]:
    """What the person page shows about getting in: invitation, joining, second factor."""
    now = now_of(request)
    return {
        "access": person.access(now=now, valid=settings.invitation_valid),
        "access_labels": ACCESS_LABELS,
        "invitation_expires": person.invited_at + settings.invitation_valid if person.invited_at else None,
        "second_factor": await factors.status(db, person.id),
        "second_factor_required": bool(set(person.roles) & set(settings.mfa_required_roles)),
        "password_signin": settings.password_signin_enabled,
        "email_change_expires": person.pending_email_at + settings.email_change_valid
        if person.pending_email_at
        else None,
    }


def settings_rows(settings: Conf) -> list[tuple[str, str]]:
    """Every setting by its environment name, with secrets shown only as set / not set."""
    rows = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name in DATABASE_SETTINGS and value and "@" in value:
            # A database URL can carry its password: shown without who and with what.
            scheme, _, rest = value.partition("://")
            shown = f"{scheme}://…@{rest.rsplit('@', 1)[-1]}"
        elif name in SECRET_SETTINGS:
            shown = "set" if value else "not set"
            if name == "encryption_keys":
                shown = f"{len(value)} key(s)"
            if name == "smtp_url" and value:
                shown = value.split("@")[-1] if "@" in value else value
        else:
            shown = str(value)
        rows.append((f"TRIM_{name.upper()}", shown))
    return rows
