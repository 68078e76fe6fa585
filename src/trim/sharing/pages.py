"""The person's notes for a manager (write, approve a suggestion, withdraw) and the
manager's page of notes shared with them."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.guards import current_actor, requires, signed_in
from trim.sharing import service
from trim.sharing.rules import STATUS_LABELS
from trim.web import form_data, nav_item, now_of, page, redirect

# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (nav_item("Shared notes", "/shared-notes", "supervisor", "lead", place=97),)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class SharedNotePages(Controller):
    include_in_schema = False

    @get("/me/notes", guards=[signed_in])
    async def mine(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        return await self._mine(request, db, settings)

    async def _mine(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        *,
        status: int = 200,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        failed_note: str | None = None,
    ) -> Template:
        actor = current_actor(request)
        return page(
            request,
            "sharing/mine.html",
            status=status,
            notes=await service.own_notes(db, actor=actor, settings=settings),
            choices=await service.manager_choices(db, actor=actor),
            labels=STATUS_LABELS,
            max_chars=settings.shared_note_max_chars,
            values=values or {},
            errors=errors or {},
            failed_note=failed_note,
        )

    @post("/me/notes", guards=[signed_in])
    async def share(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        form = await form_data(request)
        try:
            await service.share_note(
                db,
                actor=current_actor(request),
                text=form.get("text"),
                manager_id=_uuid(form.get("manager_id")),
                settings=settings,
                now=now_of(request),
            )
        except InvalidInput as exc:
            return await self._mine(request, db, settings, status=422, values=form, errors=exc.field_messages())
        return redirect(request, "/me/notes", "Shared. Your manager can read this note until you withdraw it.")

    @post("/me/notes/{note_id:uuid}/approve", guards=[signed_in])
    async def approve(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, note_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        try:
            await service.approve_suggestion(
                db,
                actor=current_actor(request),
                note_id=note_id,
                text=form.get("text"),
                manager_id=_uuid(form.get("manager_id")),
                settings=settings,
                now=now_of(request),
            )
        except InvalidInput as exc:
            return await self._mine(
                request, db, settings, status=422, values=form, errors=exc.field_messages(), failed_note=str(note_id)
            )
        except Conflict as exc:
            return redirect(request, "/me/notes", exc.detail, "warning")
        return redirect(request, "/me/notes", "Shared. Your manager can read this note until you withdraw it.")

    @post("/me/notes/{note_id:uuid}/withdraw", guards=[signed_in])
    async def withdraw(self, request: Request[Any, Any, Any], db: Db, note_id: FromPath[uuid.UUID]) -> Redirect:
        try:
            await service.withdraw_note(db, actor=current_actor(request), note_id=note_id, now=now_of(request))
        except Conflict as exc:
            return redirect(request, "/me/notes", exc.detail, "warning")
        return redirect(request, "/me/notes", "Withdrawn. Your manager can no longer see this note.")

    @get("/shared-notes", guards=[requires("supervisor", "lead")])
    async def shared_with_me(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        views = await service.notes_shared(db, actor=current_actor(request), settings=settings)
        return page(request, "sharing/shared_with_me.html", views=views)

    @post("/checkins/{checkin_id:uuid}/note-suggestion", guards=[requires("peer")])
    async def suggest(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        form = await form_data(request)
        try:
            await service.suggest_note(
                db,
                actor=current_actor(request),
                checkin_id=checkin_id,
                text=form.get("text"),
                settings=settings,
                now=now_of(request),
            )
        except InvalidInput as exc:
            return redirect(request, f"/checkins/{checkin_id}", exc.detail, "error")
        return redirect(
            request,
            f"/checkins/{checkin_id}",
            "Suggested. Nothing is shared unless they choose to share it themselves.",
        )
