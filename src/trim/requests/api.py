"""/api/requests: asking for a peer, taking, closing and withdrawing a request; and
/api/conversations: the conversation between the requester and the peer who took it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from trim.deps import Conf, Db
from trim.guards import current_actor, requires, signed_in
from trim.requests import conversation, news, service
from trim.requests.schemas import (
    CloseRequestIn,
    ConversationOut,
    MessageIn,
    MessageOut,
    RequestCreated,
    RequestIn,
    RequestOut,
)
from trim.web import Limit, Offset, api_errors, now_of, settings_of


def request_out(view: service.RequestView) -> RequestOut:
    r = view.request
    return RequestOut(
        id=r.id,
        status=r.status,
        urgency=r.urgency,
        contact_method=r.contact_method,
        created_at=r.created_at,
        accepted_at=r.accepted_at,
        escalated=r.escalated_at is not None,
        access=view.level,
        requester=view.requester_name,
        anonymous=r.anonymous,
        contact=view.contact,
        message=view.message,
        preferred_background=r.preferred_background if view.level != "status" else None,
        conversation=view.conversation_state,
    )


class RequestApi(Controller):
    path = "/api/requests"
    tags = ["requests for a peer"]

    @post(
        "/",
        guards=[signed_in],
        status_code=201,
        summary="Ask for a peer",
        description="Matching peers see it at once. safety_concern true raises an urgent flag and the answer "
        "carries the organisation's crisis guidance.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def create(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, data: JSONBody[RequestIn]
    ) -> RequestCreated:
        created = await service.submit(
            db,
            actor=current_actor(request),
            now=now_of(request),
            settings=settings,
            data=service.RequestInput(**data.model_dump()),
        )
        return RequestCreated(
            id=created.id,
            status=created.status,
            crisis_guidance=settings.crisis_guidance if created.safety_concern else None,
        )

    @get("/", guards=[signed_in], summary="Requests in the caller's scope", responses=api_errors(400, 401, 404))
    async def index(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, limit: Limit = 100, offset: Offset = 0
    ) -> list[RequestOut]:
        views = await service.list_requests(
            db, actor=current_actor(request), settings=settings, now=now_of(request), limit=limit, offset=offset
        )
        return [request_out(v) for v in views]

    @get(
        "/{request_id:uuid}",
        guards=[signed_in],
        summary="One request, as the caller may see it",
        responses=api_errors(401, 404),
    )
    async def read(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, request_id: FromPath[uuid.UUID]
    ) -> RequestOut:
        view = await service.request_detail(
            db, actor=current_actor(request), request_id=request_id, settings=settings, now=now_of(request)
        )
        return request_out(view)

    @post(
        "/{request_id:uuid}/accept",
        guards=[requires("peer")],
        status_code=200,
        summary="Take a request (one peer wins)",
        responses=api_errors(401, 403, 404, 409),
    )
    async def accept(self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]) -> RequestCreated:
        taken = await service.accept(
            db, actor=current_actor(request), request_id=request_id, now=now_of(request), settings=settings_of(request)
        )
        return RequestCreated(id=taken.id, status=taken.status)

    @post(
        "/{request_id:uuid}/close",
        guards=[requires("peer")],
        status_code=200,
        summary="Close a request you took",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def close(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        request_id: FromPath[uuid.UUID],
        data: JSONBody[CloseRequestIn],
    ) -> RequestCreated:
        closed = await service.close(
            db,
            actor=current_actor(request),
            request_id=request_id,
            outcome=data.outcome,
            now=now_of(request),
            settings=settings,
        )
        return RequestCreated(id=closed.id, status=closed.status)

    @post(
        "/{request_id:uuid}/reveal",
        guards=[signed_in],
        status_code=200,
        summary="The requester shows their name to the peer who took their request",
        responses=api_errors(401, 403, 404, 409),
    )
    async def reveal(self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]) -> RequestCreated:
        done = await conversation.reveal_name(
            db, actor=current_actor(request), request_id=request_id, now=now_of(request)
        )
        return RequestCreated(id=done.id, status=done.status)

    @post(
        "/{request_id:uuid}/withdraw",
        guards=[signed_in],
        status_code=200,
        summary="The requester withdraws",
        responses=api_errors(401, 403, 404),
    )
    async def withdraw(
        self, request: Request[Any, Any, Any], db: Db, request_id: FromPath[uuid.UUID]
    ) -> RequestCreated:
        done = await service.withdraw(db, actor=current_actor(request), request_id=request_id, now=now_of(request))
        return RequestCreated(id=done.id, status=done.status)


Seen = Annotated[
    int | None,
    QueryParameter(ge=0, le=10**9, description="How many messages the caller already has (with wait)"),
]
Wait = Annotated[
    int,
    QueryParameter(
        ge=0,
        le=news.MAX_WAIT_SECONDS,
        description=f"With seen: wait up to this many seconds (at most {news.MAX_WAIT_SECONDS}) for a new "
        "message or a change of state; 204 if none came",
    ),
]


def message_out(m: conversation.MessageView) -> MessageOut:
    return MessageOut(id=m.id, client_id=m.client_id, mine=m.mine, author=m.author, body=m.body, sent_at=m.sent_at)


class ConversationApi(Controller):
    path = "/api/conversations/{request_id:uuid}/messages"
    tags = ["requests for a peer"]

    @get(
        "/",
        guards=[signed_in],
        summary="The conversation on a request",
        description="The requester and the peer who took the request only; 404 for everyone else (the lead "
        "included: the request itself says a conversation exists and its state). With seen=N and wait=S, the "
        "answer waits (up to S seconds) until there is a message beyond the N the caller has, or the "
        "conversation is no longer open, and is 204 with no body if nothing came: a client that asks again "
        "at once sees each message as it is written, without polling.",
        responses={
            204: ResponseSpec(data_container=None, description="Nothing new came within the wait"),
            **api_errors(400, 401, 404),
        },
    )
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        request_id: FromPath[uuid.UUID],
        seen: Seen = None,
        wait: Wait = 0,
    ) -> Response[ConversationOut]:
        actor = current_actor(request)
        if seen is not None and wait > 0:
            known = seen

            async def changed() -> bool:
                return await conversation.has_news(db, actor=actor, request_id=request_id, seen=known, was_open=True)

            if not await news.wait_for(db, request_id, changed, seconds=wait):
                return Response(content=None, status_code=204)  # type: ignore[arg-type]
        view = await conversation.read(db, actor=actor, request_id=request_id, settings=settings, now=now_of(request))
        return Response(self._out(view))

    @staticmethod
    def _out(view: conversation.ConversationView) -> ConversationOut:
        return ConversationOut(
            request_id=view.request.id,
            state=view.state,
            requester=view.requester_label,
            peer=view.peer_name,
            messages=[message_out(m) for m in view.messages],
        )

    @post(
        "/",
        guards=[signed_in],
        summary="Write in the conversation",
        description="201 with the new message; 200 with the stored one when the same client_id is sent again. "
        "409 before a peer takes the request and after it closes.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        request_id: FromPath[uuid.UUID],
        data: JSONBody[MessageIn],
    ) -> Response[MessageOut]:
        message, created = await conversation.send(
            db,
            actor=current_actor(request),
            request_id=request_id,
            body=data.body,
            client_id=data.client_id,
            settings=settings,
            now=now_of(request),
        )
        return Response(message_out(message), status_code=201 if created else 200)
