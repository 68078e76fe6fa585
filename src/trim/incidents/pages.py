"""Incident pages: the list, logging an incident, its detail, editing and the people on it."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from trim.accounts import service as accounts
from trim.config import Settings
from trim.db import AsyncSession
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput, NotFound
from trim.followups import service as followups
from trim.guards import current_actor, requires
from trim.incidents import service
from trim.incidents.models import EXPOSURE_LABELS, KIND_LABELS
from trim.planning import service as planning
from trim.privacy.policy import INCIDENT_LOGGERS
from trim.web import PageNumber, form_data, form_list, nav_item, now_of, page, redirect, settings_of

# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (
    nav_item("Incidents", "/incidents", "lead", "peer", "supervisor", place=50),
    nav_item("Log an incident", "/incidents/new", "supervisor", place=70),
)

PAGE_SIZE = 30


def parse_local(value: str, settings: Any) -> datetime | None:
    """A datetime-local form value, read in the organisation's zone."""
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput.field("occurred_at", "Enter the date and time like 2026-11-26 14:30.") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=settings.zone, fold=0)


def _uuid(value: str | None, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput.field(field, "Choose from the list.") from None


class LogForm:
    """The state of the 'log an incident' form across its search and add steps."""

    def __init__(self, form: dict[str, str], chosen: list[str]) -> None:
        self.values = form
        self.chosen = [c for c in dict.fromkeys(chosen) if c]

    def exposure_of(self, person_id: str) -> str:
        value = self.values.get(f"exposure_{person_id}", "direct")
        return value if value in EXPOSURE_LABELS else "direct"


class IncidentPages(Controller):
    path = "/incidents"
    include_in_schema = False

    @get("/", guards=[requires("lead", "peer", "supervisor")])
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        station_id: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        page_number: PageNumber = 1,
    ) -> Template:
        actor = current_actor(request)
        page_number = max(1, page_number)
        station = _uuid(station_id, "station_id")
        kind = kind if kind in KIND_LABELS else None
        incidents, total = await service.list_incidents(
            db, actor=actor, station_id=station, kind=kind, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE
        )
        counts = await service.exposure_counts(db, [i.id for i in incidents]) if actor.is_lead else {}
        return page(
            request,
            "incidents/list.html",
            incidents=incidents,
            total=total,
            page_number=page_number,
            pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
            counts=counts,
            stations=await accounts.list_stations(db),
            kinds=KIND_LABELS,
            filters={"station_id": station_id or "", "kind": kind or ""},
        )

    @get("/new", guards=[requires(*INCIDENT_LOGGERS)])
    async def new(self, request: Request[Any, Any, Any], db: Db) -> Template:
        actor = current_actor(request)
        values = {
            "station_id": str(actor.station_id or ""),
            "occurred_at": now_of(request).astimezone(settings_of(request).zone).strftime("%Y-%m-%dT%H:%M"),
        }
        return await self._render_form(request, db, LogForm(values, []), results=None)

    async def _render_form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        state: LogForm,
        *,
        results: list[Any] | None,
        status: int = 200,
        errors: dict[str, str] | None = None,
        error: str | None = None,
    ) -> Template:
        actor = current_actor(request)
        chosen = []
        for pid in state.chosen:
            try:
                chosen.append(await accounts.person_view(db, uuid.UUID(pid)))
            except (ValueError, NotFound):
                continue
        stations = await accounts.list_stations(db)
        return page(
            request,
            "incidents/new.html",
            status=status,
            values=state.values,
            chosen=chosen,
            state=state,
            results=results,
            stations=stations,
            station_names={s.id: s.name for s in stations},
            kinds=KIND_LABELS,
            exposure_labels=EXPOSURE_LABELS,
            errors=errors or {},
            error=error,
            actor=actor,
        )

    @post("/new", guards=[requires(*INCIDENT_LOGGERS)])
    async def submit(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        actor = current_actor(request)
        form = await form_data(request)
        state = LogForm(form, await form_list(request, "person"))
        action = form.get("action", "save")
        if action.startswith("remove:"):
            state.chosen = [c for c in state.chosen if c != action.split(":", 1)[1]]
            return await self._render_form(request, db, state, results=None)
        if action.startswith("add:"):
            state.chosen.append(action.split(":", 1)[1])
            # The search stays, with its matches, so several can be added from one search.
            q = form.get("q", "")
            found = await accounts.search_people(db, actor=actor, q=q, limit=25) if q.strip() else None
            return await self._render_form(request, db, state, results=found)
        if action == "search":
            found = await accounts.search_people(db, actor=actor, q=form.get("q", ""), limit=25)
            return await self._render_form(request, db, state, results=found)
        if action == "add_station":
            station = _uuid(form.get("whole_station"), "whole_station")
            if station:
                everyone = await accounts.search_people(db, actor=actor, station_id=station, limit=1000)
                state.chosen.extend(str(p.id) for p in everyone)
            return await self._render_form(request, db, state, results=None)
        try:
            data = service.IncidentInput(
                occurred_at=parse_local(form.get("occurred_at", ""), settings),
                kind=form.get("kind", ""),
                kind_other=form.get("kind_other"),
                station_id=_uuid(form.get("station_id"), "station_id"),
                summary=form.get("summary", ""),
                exposures=[service.ExposureRef(state.exposure_of(pid), uuid.UUID(pid)) for pid in state.chosen],
            )
            incident = await service.log_incident(db, actor=actor, data=data, now=now_of(request), settings=settings)
        except (InvalidInput, ValueError) as exc:
            messages = exc.field_messages() if isinstance(exc, InvalidInput) else {}
            detail = exc.detail if isinstance(exc, InvalidInput) else "Check the people listed."
            return await self._render_form(request, db, state, results=None, status=422, errors=messages, error=detail)
        people = len(state.chosen)
        return redirect(
            request,
            f"/incidents/{incident.id}",
            f"Incident logged. {people} {'person' if people == 1 else 'people'} will be offered peer check-ins.",
        )

    @get("/people-search", guards=[requires(*INCIDENT_LOGGERS)])
    async def people_search(
        self, request: Request[Any, Any, Any], db: Db, q: FromQuery[str] = "", pick: FromQuery[str] = ""
    ) -> Template:
        """The live search fragment for the picker (htmx); the form works without it. With
        pick=1 each match is a tick box, so many can be added from one search."""
        found = await accounts.search_people(db, actor=current_actor(request), q=q, limit=25) if q.strip() else []
        stations = await accounts.station_names(db)
        return page(request, "incidents/_people_results.html", results=found, station_names=stations, pick=pick == "1")

    @get("/{incident_id:uuid}", guards=[requires("lead", "peer", "supervisor", "responder")])
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Template:
        return await _detail_page(request, db, settings, incident_id)

    @get("/{incident_id:uuid}/edit", guards=[requires(*INCIDENT_LOGGERS)])
    async def edit(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Template:
        actor = current_actor(request)
        detail = await service.incident_detail(
            db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
        )
        if not detail.can_manage:
            raise NotFound()
        i = detail.incident
        values = {
            "occurred_at": i.occurred_at.astimezone(settings.zone).strftime("%Y-%m-%dT%H:%M"),
            "kind": i.kind,
            "kind_other": i.kind_other or "",
            "station_id": str(i.station_id),
            "summary": i.summary,
        }
        return page(
            request,
            "incidents/edit.html",
            detail=detail,
            values=values,
            kinds=KIND_LABELS,
            stations=await accounts.list_stations(db),
        )

    @post("/{incident_id:uuid}/edit", guards=[requires(*INCIDENT_LOGGERS)])
    async def save_edit(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        actor = current_actor(request)
        form = await form_data(request)
        try:
            data = service.IncidentInput(
                occurred_at=parse_local(form.get("occurred_at", ""), settings),
                kind=form.get("kind", ""),
                kind_other=form.get("kind_other"),
                station_id=_uuid(form.get("station_id"), "station_id"),
                summary=form.get("summary", ""),
            )
            await service.change_incident(
                db, actor=actor, incident_id=incident_id, data=data, now=now_of(request), settings=settings
            )
        except InvalidInput as exc:
            detail = await service.incident_detail(
                db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
            )
            return page(
                request,
                "incidents/edit.html",
                status=422,
                detail=detail,
                values=form,
                kinds=KIND_LABELS,
                stations=await accounts.list_stations(db),
                errors=exc.field_messages(),
                error=exc.detail,
            )
        return redirect(request, f"/incidents/{incident_id}", "Incident updated. Open check-ins follow the new time.")

    @post("/{incident_id:uuid}/people", guards=[requires(*INCIDENT_LOGGERS)])
    async def add_person(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Redirect | Template:
        """Add one or many: people ticked in a name search, and staff numbers pasted as a list
        (one per line, or separated by commas or spaces). Each is added or said why not."""
        form = await form_data(request)
        back = f"/incidents/{incident_id}"
        kind = form.get("exposure", "direct")
        refs: list[tuple[str, service.ExposureRef]] = []
        try:
            ids = [_uuid(v, "pick") for v in await form_list(request, "pick")]
            ids.append(_uuid(form.get("person_id"), "person_id"))
        except InvalidInput as exc:
            return redirect(request, back, exc.detail, "error")
        for pid in dict.fromkeys(i for i in ids if i is not None):
            refs.append(("", service.ExposureRef(kind, pid)))
        numbers = " ".join((form.get("staff_numbers", ""), form.get("staff_number", "")))
        for number in dict.fromkeys(n for n in re.split(r"[\s,;]+", numbers) if n):
            refs.append((number, service.ExposureRef(kind, None, number)))
        if not refs:
            return redirect(request, back, "Tick someone found by name, or type their staff numbers.", "error")
        added: list[uuid.UUID] = []
        refused: list[str] = []
        refused_numbers: list[str] = []
        for label, ref in refs:
            try:
                exposure = await service.add_exposure(
                    db,
                    actor=current_actor(request),
                    incident_id=incident_id,
                    ref=ref,
                    now=now_of(request),
                    settings=settings,
                )
            except InvalidInput as exc:
                refused.append(f"{label}: {exc.detail}" if label else exc.detail)
                if label:
                    refused_numbers.append(label)
            else:
                added.append(exposure.person_id)
        names = await accounts.names_of(db, added)
        message = ""
        if added:  # a flash is a cookie: a long list is counted, not spelt out
            who = ", ".join(names.get(p, "") for p in added) if len(added) <= 8 else f"{len(added)} people"
            message = f"Added {who}. Their check-ins are scheduled."
        if refused:
            more = f" (and {len(refused) - 8} more)" if len(refused) > 8 else ""
            message += (" " if message else "") + "Not added: " + " ".join(refused[:8]) + more
        level = "error" if refused and not added else "success"
        if refused_numbers:  # what was typed and refused is given back to correct, never lost
            return await _detail_page(
                request,
                db,
                settings,
                incident_id,
                status=422 if not added else 200,
                flash=(level, message),
                refill_staff_numbers="\n".join(refused_numbers),
                refill_exposure=kind,
            )
        return redirect(request, back, message, level)

    @post("/{incident_id:uuid}/people/{person_id:uuid}/remove", guards=[requires(*INCIDENT_LOGGERS)])
    async def remove_person(
        self, request: Request[Any, Any, Any], db: Db, incident_id: FromPath[uuid.UUID], person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        await service.remove_exposure(
            db, actor=current_actor(request), incident_id=incident_id, person_id=person_id, now=now_of(request)
        )
        return redirect(
            request,
            f"/incidents/{incident_id}",
            "Removed from this incident. Open check-ins were cancelled; anything done is kept.",
        )

    @post("/{incident_id:uuid}/people/{person_id:uuid}/peer", guards=[requires("lead")])
    async def reassign(
        self, request: Request[Any, Any, Any], db: Db, incident_id: FromPath[uuid.UUID], person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        actor = current_actor(request)
        form = await form_data(request)
        try:
            peer_id = _uuid(form.get("peer_id"), "peer_id")
            if peer_id is None:
                raise InvalidInput.field("peer_id", "Choose a peer supporter.")
            exposure_id = await service.exposure_id_for(db, actor=actor, incident_id=incident_id, person_id=person_id)
            await followups.reassign_exposure(
                db,
                actor=actor,
                exposure_id=exposure_id,
                peer_id=peer_id,
                now=now_of(request),
                settings=settings_of(request),
            )
        except (InvalidInput, Conflict) as exc:
            return redirect(request, f"/incidents/{incident_id}", exc.detail, "error")
        return redirect(request, f"/incidents/{incident_id}", "Reassigned. Their open check-ins moved with them.")


async def _detail_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    settings: Settings,
    incident_id: uuid.UUID,
    *,
    status: int = 200,
    **extra: Any,
) -> Template:
    """The incident's page; `extra` refills the add-people form after some were refused."""
    actor = current_actor(request)
    detail = await service.incident_detail(
        db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
    )
    peers = await followups.peer_loads(db, actor=actor) if actor.is_lead else []
    section = None
    if actor.is_lead:  # the lead's incident page is where the planning review happens (a TRiM
        try:  # manager has the incident's planning page); a support contact has none
            section = await planning.planning_section(
                db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
            )
        except NotFound:
            section = None
    return page(
        request,
        "incidents/detail.html",
        status=status,
        detail=detail,
        peers=peers,
        exposure_labels=EXPOSURE_LABELS,
        planning_held=await planning.held_on(db, incident_id=incident_id),
        routes=await planning.routes_for_incident_page(db, actor=actor, incident_id=incident_id),
        section=section,
        back="incident",
        **extra,
    )
