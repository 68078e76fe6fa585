"""/api/shared-notes: the notes a colleague chose to share with the asking manager."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from trim.deps import Conf, Db
from trim.guards import current_actor, requires, signed_in
from trim.sharing import service
from trim.sharing.schemas import SharedNoteOut
from trim.web import Limit, Offset, api_errors


def note_out(view: service.NoteView) -> SharedNoteOut:
    return SharedNoteOut(
        id=view.id,
        access=view.level,
        status=view.status,
        shared_at=view.shared_at,
        withdrawn_at=view.withdrawn_at,
        text=view.text,
        person=view.person_name,
        manager=view.manager_name if view.level != "manager" else None,
    )


class SharedNoteApi(Controller):
    path = "/api/shared-notes"
    tags = ["shared notes"]

    @get(
        "/",
        guards=[requires("supervisor", "lead")],
        summary="Notes shared with me (a manager), or that notes were shared (the lead)",
        description="A manager gets each note a colleague shared with them, its text and date, until the "
        "colleague withdraws it. The lead gets that a note was shared, never its text. Newest first.",
        responses=api_errors(400, 401, 404),
    )
    async def index(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, limit: Limit = 100, offset: Offset = 0
    ) -> list[SharedNoteOut]:
        views = await service.notes_shared(
            db, actor=current_actor(request), settings=settings, limit=limit, offset=offset
        )
        return [note_out(v) for v in views]

    @get(
        "/{note_id:uuid}",
        guards=[signed_in],
        summary="One shared note, as the caller may see it",
        description="404 for a manager once the person has withdrawn it.",
        responses=api_errors(401, 404),
    )
    async def read(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, note_id: FromPath[uuid.UUID]
    ) -> SharedNoteOut:
        return note_out(await service.note(db, actor=current_actor(request), note_id=note_id, settings=settings))
