"""Asking for a peer: the calm phone form and the peers' list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from trim.accounts import service as accounts
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.guards import current_actor, requires, signed_in
from trim.reports import feedback
from trim.requests import conversation, news, service
from trim.requests.models import CONTACT_LABELS, OUTCOME_LABELS, URGENCY_LABELS
from trim.web import actor_of, form_data, nav_item, now_of, page, redirect, settings_of

# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (
    nav_item("Requests", "/requests", "peer", "lead", place=20),
    nav_item("Ask for a peer", "/requests/new", "responder", "supervisor", "clinician", place=30),
)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        raise InvalidInput.field("preferred_peer_id", "Choose a peer supporter from the list.") from None


class RequestPages(Controller):
    include_in_schema = False

    @get("/ask")
    async def poster(self, request: Request[Any, Any, Any], settings: Conf) -> Template | Redirect:
        """The short link for a station poster: straight to the form when signed in; before
        sign-in, what asking means (confidential, and its one limit) and the crisis numbers."""
        if actor_of(request) is not None:
            return Redirect(path="/requests/new", status_code=303)
        return page(request, "requests/ask.html", crisis_guidance=settings.crisis_guidance)

    @get("/requests/new", guards=[signed_in])
    async def new(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return await self._form(request, db, values={"urgency": "this_week", "contact_method": "phone"})

    async def _form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        *,
        values: dict[str, str],
        status: int = 200,
        errors: dict[str, str] | None = None,
        error: str | None = None,
    ) -> Template:
        actor = current_actor(request)
        peers = [p for p in await accounts.peer_supporters(db) if p.id != actor.id]
        return page(
            request,
            "requests/new.html",
            status=status,
            values=values,
            errors=errors or {},
            error=error,
            peers=peers,
            urgencies=URGENCY_LABELS,
            methods=CONTACT_LABELS,
            crisis_guidance=settings_of(request).crisis_guidance,
        )

    @post("/requests/new", guards=[signed_in])
    async def submit(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        form = await form_data(request)
        try:
            created = await service.submit(
                db,
                actor=current_actor(request),
                now=now_of(request),
                settings=settings,
                data=service.RequestInput(
                    urgency=form.get("urgency", ""),
                    contact_method=form.get("contact_method", ""),
                    contact=form.get("contact"),
                    safety_concern=form.get("safety_concern") == "yes",
                    avoid_own_station=form.get("avoid_own_station") == "yes",
                    preferred_peer_id=_uuid(form.get("preferred_peer_id")),
                    preferred_background=form.get("preferred_background"),
                    message=form.get("message"),
                    anonymous=form.get("anonymous") == "yes",
                    safety_answered=form.get("safety_concern") in ("yes", "no"),
                ),
            )
        except InvalidInput as exc:
            return await self._form(request, db, values=form, status=422, errors=exc.field_messages(), error=exc.detail)
        return redirect(
            request,
            f"/requests/{created.id}",
            "Thank you for asking. A peer supporter will be in touch."
            if not created.safety_concern
            else "Thank you for telling us. Someone will contact you as soon as possible.",
        )

    @get("/requests", guards=[signed_in])
    async def index(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        actor = current_actor(request)
        views = await service.list_requests(db, actor=actor, settings=settings, now=now_of(request))
        peers = await accounts.search_people(db, actor=actor, role="peer", limit=500) if actor.is_lead else []
        return page(
            request, "requests/list.html", views=views, urgencies=URGENCY_LABELS, methods=CONTACT_LABELS, peers=peers
        )

    @get("/requests/{request_id:uuid}", guards=[signed_in])
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, request_id: FromPath[uuid.UUID]
    ) -> Template:
        return await self._detail(request, db, settings, request_id)

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        request_id: uuid.UUID,
        *,
        status: int = 200,
        conversation_error: str | None = None,
        conversation_errors: dict[str, str] | None = None,
        conversation_values: dict[str, str] | None = None,
    ) -> Template:
        actor, now = current_actor(request), now_of(request)
        view = await service.request_detail(db, actor=actor, request_id=request_id, settings=settings, now=now)
        talk = None
        if view.level in ("own", "taken"):
            talk = await conversation.read(db, actor=actor, request_id=request_id, settings=settings, now=now)
        feedback_open = view.level == "own" and await feedback.is_open(
            db, actor=actor, about="request", subject_id=request_id, settings=settings
        )
        return page(
            request,
            "requests/detail.html",
            status=status,
            view=view,
            feedback_open=feedback_open,
            urgencies=URGENCY_LABELS,
            methods=CONTACT_LABELS,
            outcomes=OUTCOME_LABELS,
            crisis_guidance=settings.crisis_guidance,
            conversation=talk,
            client_id=(conversation_values or {}).get("client_id") or uuid.uuid4().hex,
            message_max=settings.conversation_message_max,
            poll_seconds=settings.conversation_poll_seconds,
            wait_seconds=news.PAGE_WAIT_SECONDS,
            conversation_error=conversation_error,
            conversation_errors=conversation_errors,
            conversation_values=conversation_values,
        )

    @get("/requests/{request_id:uuid}/messages", guards=[signed_in])
    async def messages(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        request_id: FromPath[uuid.UUID],
        seen: FromQuery[int] = 0,
        live: FromQuery[int] = 1,
        wait: Annotated[int, QueryParameter(ge=0, le=news.MAX_WAIT_SECONDS)] = 0,
        named: FromQuery[int | None] = None,
    ) -> Response[Any]:
        """What the conversation's poller asks: 204 while nothing has changed, else the
        messages. With `wait`, it waits that long for a change first (answered the moment the
        other side writes), so an open page shows a message as soon as it is sent."""
        actor = current_actor(request)

        async def changed() -> bool:
            return await conversation.has_news(
                db,
                actor=actor,
                request_id=request_id,
                seen=seen,
                was_open=live == 1,
                was_named=None if named is None else named == 1,
            )

        if not await news.wait_for(db, request_id, changed, seconds=wait):
            return Response(content=None, status_code=204)
        talk = await conversation.read(db, actor=actor, request_id=request_id, settings=settings, now=now_of(request))
        return Template(
            template_name="requests/_messages.html",
            context={
                "conversation": talk,
                "poll_seconds": settings.conversation_poll_seconds,
                "wait_seconds": news.PAGE_WAIT_SECONDS,
            },
        )

    @post("/requests/{request_id:uuid}/messages", guards=[signed_in])
    async def send_message(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, request_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        try:
            await conversation.send(
                db,
                actor=current_actor(request),
                request_id=request_id,
                body=form.get("body"),
                client_id=form.get("client_id"),
                settings=settings,
                now=now_of(request),
            )
        except InvalidInput as exc:
            return await self._detail(
                request,
                db,
                settings,
                request_id,
                status=422,
                conversation_error=exc.detail,
                conversation_errors=exc.field_messages(),
                conversation_values=form,
            )
        except Conflict as exc:
            return await self._detail(request, db, settings, request_id, status=409, conversation_error=exc.detail)
        return Redirect(path=f"/requests/{request_id}#conversation", status_code=303)

    @post("/requests/{request_id:uuid}/reveal", guards=[signed_in])
    async def reveal(self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]) -> Redirect:
        return await self._act(
            request,
            request_id,
            lambda: conversation.reveal_name(
                db, actor=current_actor(request), request_id=request_id, now=now_of(request)
            ),
            "Your peer supporter now sees your name.",
        )

    async def _act(
        self, request: Request[Any, Any, Any], request_id: uuid.UUID, action: Any, done: str, target: str | None = None
    ) -> Redirect:
        try:
            await action()
        except (Conflict, InvalidInput) as exc:
            back = "/requests" if isinstance(exc, Conflict) else f"/requests/{request_id}"
            return redirect(request, target or back, exc.detail, "warning")
        return redirect(request, target or f"/requests/{request_id}", done)

    @post("/requests/{request_id:uuid}/accept", guards=[requires("peer")])
    async def accept(self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]) -> Redirect:
        return await self._act(
            request,
            request_id,
            lambda: service.accept(
                db,
                actor=current_actor(request),
                request_id=request_id,
                now=now_of(request),
                settings=settings_of(request),
            ),
            "It's yours. Contact them the way they asked, soon.",
        )

    @post("/requests/{request_id:uuid}/contact", guards=[requires("peer")])
    async def contact(self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]) -> Redirect:
        return await self._act(
            request,
            request_id,
            lambda: service.record_contact(
                db, actor=current_actor(request), request_id=request_id, now=now_of(request)
            ),
            "First contact recorded.",
        )

    @post("/requests/{request_id:uuid}/close", guards=[requires("peer")])
    async def close(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, request_id: FromPath[uuid.UUID]
    ) -> Redirect:
        form = await form_data(request)
        return await self._act(
            request,
            request_id,
            lambda: service.close(
                db,
                actor=current_actor(request),
                request_id=request_id,
                outcome=form.get("outcome", ""),
                now=now_of(request),
                settings=settings,
            ),
            "Closed. Thank you.",
        )

    @post("/requests/{request_id:uuid}/withdraw", guards=[signed_in])
    async def withdraw(self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]) -> Redirect:
        return await self._act(
            request,
            request_id,
            lambda: service.withdraw(db, actor=current_actor(request), request_id=request_id, now=now_of(request)),
            "Withdrawn. You can ask again at any time.",
        )

    @post("/requests/{request_id:uuid}/offer", guards=[requires("lead")])
    async def offer(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, request_id: FromPath[uuid.UUID]
    ) -> Redirect:
        form = await form_data(request)
        peer_id = _uuid(form.get("peer_id"))
        if peer_id is None:
            return redirect(request, "/requests", "Choose a peer supporter.", "error")

        async def offer() -> Any:
            return await service.offer_to(
                db,
                actor=current_actor(request),
                request_id=request_id,
                peer_id=peer_id,
                now=now_of(request),
                settings=settings,
            )

        return await self._act(request, request_id, offer, "Offered to that peer first.", target="/requests")
