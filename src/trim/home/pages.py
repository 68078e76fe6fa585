"""The home page (what needs this person now), their profile and their availability."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from trim.accounts import factors
from trim.accounts import service as accounts
from trim.accounts.rules import phone_display
from trim.deps import Conf, Db
from trim.errors import InvalidInput
from trim.followups import service as followups
from trim.guards import current_actor, requires, signed_in
from trim.home import service
from trim.web import form_data, now_of, page, redirect, settings_of


class HomePages(Controller):
    include_in_schema = False

    @get("/", guards=[signed_in])
    async def home(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        """A short list of what needs this person now, with counts and links."""
        actor = current_actor(request)
        sections = await service.home_for(db, actor=actor, now=now_of(request), settings=settings)
        return page(request, "home.html", sections=sections)

    @get("/profile", guards=[signed_in])
    async def profile(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return await self._profile(request, db)

    async def _profile(self, request: Request[Any, Any, Any], db: Db, *, status: int = 200, **context: Any) -> Template:
        actor = current_actor(request)
        person = await accounts.person_view(db, actor.person_id)
        stations = await accounts.station_names(db)
        region = settings_of(request).phone_region
        context.setdefault("values", {"phone": phone_display(person.phone, region=region) if person.phone else ""})
        return page(
            request,
            "accounts/profile.html",
            status=status,
            person=person,
            station=stations.get(person.station_id) if person.station_id else None,
            second_factor=await factors.status(db, actor.person_id),
            second_factor_required=bool(set(person.roles) & set(settings_of(request).mfa_required_roles)),
            **context,
        )

    @post("/profile/phone", guards=[signed_in])
    async def phone(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        """The person's own phone number: their peer uses it to call them."""
        form = await form_data(request)
        typed = form.get("phone", "")
        try:
            stored = await accounts.set_own_phone(
                db, actor=current_actor(request), phone=typed, now=now_of(request), settings=settings
            )
        except InvalidInput as exc:
            return await self._profile(
                request, db, status=422, values={"phone": typed}, errors=exc.field_messages(), error=exc.detail
            )
        return redirect(
            request, "/profile", "Your phone number is saved." if stored else "Your phone number is removed."
        )

    @post("/profile/availability", guards=[requires("peer")])
    async def availability(self, request: Request[Any, Any, Any], db: Db) -> Redirect:
        form = await form_data(request)
        available = form.get("available") == "yes"
        actor = current_actor(request)
        await accounts.set_availability(db, actor=actor, available=available, now=now_of(request))
        message = "You are available for new check-ins and requests."
        if not available:
            moved, left = await followups.reassign_open_of_peer(
                db, actor=actor, peer_id=actor.person_id, now=now_of(request), settings=settings_of(request)
            )
            message = "You are marked unavailable. Nobody new will be assigned to you until you switch back."
            if moved or left:
                message += f" Your open check-ins for {moved + left} people were handed on."
        return redirect(request, "/profile", message)
