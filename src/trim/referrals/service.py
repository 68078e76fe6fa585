"""Flags become referrals with consent (trim.flags resolves the flag); clinicians record
uptake; people can withdraw."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.assessments import service as assessments
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.errors import Conflict, FieldError, InvalidInput, NotFound
from trim.flags import service as flags
from trim.followups.models import CheckIn
from trim.notifications import service as notifications
from trim.privacy import audit, crypto, policy
from trim.referrals import rules
from trim.referrals.models import (
    OPEN_REFERRAL_STATUSES,
    REFERRAL_STATUS_LABELS,
    Referral,
    ReferralService,
    ReferralStatus,
)

CLINICIAN_STATUSES = ("contact_made", "taken_up", "not_taken_up", "closed")
STATUS_LABELS = REFERRAL_STATUS_LABELS


async def offer_referral(
    session: AsyncSession,
    *,
    actor: Actor,
    flag_id: uuid.UUID,
    consent: bool,
    share_assessment: bool,
    now: datetime,
    clinician_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
) -> Referral:
    """Record the conversation: a referral offered, the person's answer, and where it goes.
    A 'no' is recorded and respected; nothing is sent."""
    flag = await flags.open_flag_to_act_on(session, actor=actor, flag_id=flag_id)
    if consent:
        if (clinician_id is None) == (service_id is None):
            raise InvalidInput.field("clinician_id", "Choose one clinician or one service from the directory.")
        if clinician_id is not None and clinician_id == actor.id:
            # Whoever records the conversation never receives the referral (nor what is shared).
            raise InvalidInput.field(
                "clinician_id", "You cannot refer someone to yourself. Choose another clinician or a service."
            )
        if clinician_id is not None:
            await accounts.ensure_role_holder(session, clinician_id, "clinician")
            if await policy.flag_name_hidden(session, flag):
                raise InvalidInput.field(
                    "clinician_id",
                    "A clinician needs their name, which they have not shown. Ask them in the conversation, "
                    "or give them a service from the directory to contact themselves.",
                )
        if share_assessment and clinician_id is None:
            raise InvalidInput.field(
                "share_assessment",
                "Check-in answers can be shared only with a clinician who uses trim, not with a directory service.",
            )
        if service_id is not None:
            found = await session.get(ReferralService, service_id)
            if found is None or not found.active:
                raise InvalidInput.field("service_id", "Choose a service from the directory.")
    referral = Referral(
        flag_id=flag.id,
        person_id=flag.person_id,
        clinician_id=clinician_id if consent else None,
        service_id=service_id if consent else None,
        consent=consent,
        # Asked for, never granted here: the person confirms sharing themselves.
        share_assessment=False,
        share_requested_at=now if share_assessment and consent else None,
        status="referred" if consent else "declined",
        created_at=now,
        created_by_id=actor.id,
        updated_at=now,
    )
    session.add(referral)
    await flags.resolve_by_referral(session, actor=actor, flag=flag, consent=consent, now=now)
    await session.flush()
    if referral.clinician_id is not None:
        await notifications.enqueue(
            session,
            person_id=referral.clinician_id,
            kind="referral",
            subject="A new confidential referral",
            link=f"/referrals/{referral.id}",
            body="A referral has been made to you, with the person's consent.",
            now=now,
        )
    audit.record_row(
        session,
        actor=actor,
        action="referral.offered",
        row=referral,
        details={
            "flag_id": flag.id,
            "consent": consent,
            "share_requested": referral.share_requested_at is not None,
            "clinician_id": clinician_id,
            "service_id": service_id,
        },
        at=now,
    )
    if referral.share_requested_at is not None:
        await _ask_person_to_share(session, actor=actor, referral=referral, now=now)
    return referral


async def _ask_person_to_share(session: AsyncSession, *, actor: Actor, referral: Referral, now: datetime) -> None:
    """The share waits for the person's own OK: tell them something is waiting (no content)."""
    await notifications.enqueue(
        session,
        person_id=referral.person_id,
        kind="consent",
        subject="Something is waiting for your OK",
        link="/me#referrals",
        body="There is something on your record that waits for your OK. Nothing happens until you choose.",
        now=now,
    )
    audit.record_row(session, actor=actor, action="referral.share_requested", row=referral, at=now)


async def confirm_share(session: AsyncSession, *, actor: Actor, referral_id: uuid.UUID, now: datetime) -> Referral:
    """The person agrees, themselves, to share their check-in answers and their peer's notes
    with the clinician the referral went to. Nobody else can (404 for anyone else)."""
    referral = await policy.access_referral(session, actor, referral_id)
    if not policy.can_confirm_share(actor, referral):
        raise NotFound()
    if referral.share_assessment and referral.share_confirmed_at is not None:
        return referral  # already agreed: a second click changes nothing
    if referral.status not in OPEN_REFERRAL_STATUSES:
        raise Conflict("This referral is closed, so nothing can be shared.")
    if referral.share_requested_at is None:
        raise Conflict("Nobody has asked to share anything on this referral.")
    referral.share_assessment = True
    referral.share_confirmed_at = now
    referral.updated_at = now
    session.add(referral)
    audit.record_row(session, actor=actor, action="referral.share_confirmed", row=referral, at=now)
    if referral.clinician_id is not None:
        await notifications.enqueue(
            session,
            person_id=referral.clinician_id,
            kind="referral",
            subject="A referral has been updated",
            link=f"/referrals/{referral.id}",
            body="A referral to you has been updated. Open it to see what has changed.",
            now=now,
        )
    return referral


async def set_status(
    session: AsyncSession, *, actor: Actor, referral_id: uuid.UUID, status: str, now: datetime
) -> Referral:
    """The clinician records contact made, taken up, not taken up, or closed."""
    referral = await policy.access_referral(session, actor, referral_id)
    if referral.clinician_id != actor.id:
        raise NotFound()
    if not status:
        raise InvalidInput.field("status", "Choose what happened with this referral; nothing was recorded.")
    if status not in CLINICIAN_STATUSES:
        raise InvalidInput.field("status", f"Use one of: {', '.join(CLINICIAN_STATUSES)}.")
    if referral.status in (ReferralStatus.closed, ReferralStatus.withdrawn, ReferralStatus.declined):
        raise Conflict("This referral is closed.")
    old = referral.status
    referral.status = status
    referral.updated_at = now
    if status == ReferralStatus.contact_made and referral.contact_made_at is None:
        referral.contact_made_at = now
    if status in (ReferralStatus.taken_up, ReferralStatus.not_taken_up, ReferralStatus.closed):
        referral.contact_made_at = referral.contact_made_at or now
    if status == ReferralStatus.closed:
        referral.closed_at = now
    session.add(referral)
    audit.record_row(
        session,
        actor=actor,
        action="referral.status_changed",
        row=referral,
        details={"from": old, "to": status},
        at=now,
    )
    return referral


async def withdraw(session: AsyncSession, *, actor: Actor, referral_id: uuid.UUID, now: datetime) -> Referral:
    """The person withdraws consent: the referral closes and the clinician loses access."""
    referral = await policy.access_referral(session, actor, referral_id)
    if referral.person_id != actor.id:
        raise NotFound()
    if referral.status in (ReferralStatus.withdrawn, ReferralStatus.declined):
        return referral
    referral.status = "withdrawn"
    referral.withdrawn_at = now
    referral.closed_at = referral.closed_at or now
    referral.share_assessment = False
    referral.updated_at = now
    session.add(referral)
    audit.record_row(session, actor=actor, action="referral.withdrawn", row=referral, at=now)
    return referral


# -- reading ---------------------------------------------------------------------------


@dataclass
class SharedAssessment:
    kind: str
    recorded_at: datetime
    outcome: str
    band: str | None
    score: int | None
    results: list[assessments.ResultView]
    notes: str | None


@dataclass
class ReferralView:
    referral: Referral
    person_name: str
    clinician_name: str | None
    service_name: str | None
    flag_cause: str | None
    shared: list[SharedAssessment] = field(default_factory=list)
    unnamed: bool = False  # person_name is a pseudonym: the person's id is not shown either
    # How to reach the person: only for the clinician on a referral the person consented to.
    contact: accounts.PersonContact | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.referral.status, self.referral.status)

    @property
    def share_pending(self) -> bool:
        return rules.share_pending(self.referral)


async def referral_views(session: AsyncSession, referrals: list[Referral], *, actor: Actor) -> list[ReferralView]:
    """Referrals with the names a page shows (no access check: pass only visible ones). A
    referral from a request made without a name shows its pseudonym to whoever the request
    would (the peer who took it), as the flag does."""
    names = await accounts.names_of(session, [r.person_id for r in referrals] + [r.clinician_id for r in referrals])
    services = {s.id: s.name for s in await session.exec(select(ReferralService))}
    flag_ids = [r.flag_id for r in referrals if r.flag_id]
    causes = await flags.flag_causes(session, flag_ids=flag_ids)
    pseudonyms = await flags.pseudonyms_of_flags(session, actor=actor, flag_ids=flag_ids)
    return [
        ReferralView(
            referral=r,
            person_name=(pseudonyms.get(r.flag_id) if r.flag_id else None) or names.get(r.person_id, ""),
            clinician_name=names.get(r.clinician_id) if r.clinician_id else None,
            service_name=services.get(r.service_id) if r.service_id else None,
            flag_cause=causes.get(r.flag_id) if r.flag_id else None,
            unnamed=r.flag_id in pseudonyms,
        )
        for r in referrals
    ]


async def list_referrals(
    session: AsyncSession,
    *,
    actor: Actor,
    addressed_to_me: bool = False,
    person_id: uuid.UUID | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[ReferralView]:
    """Referrals in the actor's scope, newest first."""
    stmt = policy.visible_referrals(actor)
    if addressed_to_me:
        stmt = stmt.where(Referral.clinician_id == actor.id)
    if person_id is not None:
        stmt = stmt.where(Referral.person_id == person_id)
    stmt = stmt.order_by(col(Referral.created_at).desc()).limit(limit).offset(offset)
    return await referral_views(session, list(await session.exec(stmt)), actor=actor)


async def shared_assessments(
    session: AsyncSession, *, actor: Actor, referral: Referral, settings: Settings, now: datetime
) -> list[SharedAssessment]:
    """What the person agreed to share with this clinician: the recorded check-ins behind
    the flag (answers, scores and the peer's notes). Reading them is audited."""
    if not policy.can_read_shared_assessment(actor, referral):
        return []
    flag = await flags.flag_of_shared_referral(session, actor=actor, referral=referral)
    if flag is None:
        return []
    stmt = (
        select(Assessment, CheckIn.kind)
        .join(CheckIn, col(CheckIn.id) == col(Assessment.checkin_id))
        .where(col(Assessment.is_current).is_(True), Assessment.person_id == referral.person_id)
        .order_by(col(Assessment.recorded_at))
    )
    if flag.exposure_id is not None:
        stmt = stmt.where(CheckIn.exposure_id == flag.exposure_id)
    elif flag.source_assessment_id is not None:
        stmt = stmt.where(Assessment.id == flag.source_assessment_id)
    else:
        return []
    shared = []
    for assessment, kind in await session.exec(stmt):
        shared.append(
            SharedAssessment(
                kind=kind,
                recorded_at=assessment.recorded_at,
                outcome=assessment.outcome,
                band=assessment.band,
                score=assessment.score,
                results=await assessments.results_of(session, actor=actor, assessment=assessment, shared_on=referral),
                notes=crypto.decrypt(settings, assessment.notes_encrypted),
            )
        )
    audit.record_row(session, actor=actor, action="referral.assessment_read", row=referral, at=now)
    return shared


async def referral_detail(
    session: AsyncSession, *, actor: Actor, referral_id: uuid.UUID, settings: Settings, now: datetime
) -> ReferralView:
    referral = await policy.access_referral(session, actor, referral_id)
    view = (await referral_views(session, [referral], actor=actor))[0]
    view.shared = await shared_assessments(session, actor=actor, referral=referral, settings=settings, now=now)
    if policy.can_see_contact_on_referral(actor, referral) and not view.unnamed:
        view.contact = await accounts.contact_of(session, referral.person_id)
    audit.record_row(session, actor=actor, action="referral.viewed", row=referral, at=now)
    return view


# -- the service directory ----------------------------------------------------------------


async def list_services(session: AsyncSession, *, include_inactive: bool = False) -> list[ReferralService]:
    stmt = select(ReferralService).order_by(col(ReferralService.name))
    if not include_inactive:
        stmt = stmt.where(col(ReferralService.active).is_(True))
    return list(await session.exec(stmt))


def _clean_service(name: str, service: str, contact: str) -> tuple[str, str, str]:
    errors = []
    name, service, contact = " ".join(name.split()), service.strip(), contact.strip()
    if not name or len(name) > 120:
        errors.append(FieldError("name", "Give a name of up to 120 characters."))
    if not service or len(service) > 200:
        errors.append(FieldError("service", "Say what they offer, in up to 200 characters."))
    if not contact or len(contact) > 300:
        errors.append(FieldError("contact", "Say how to reach them, in up to 300 characters."))
    if errors:
        raise InvalidInput("The service was not saved.", errors)
    return name, service, contact


async def add_service(
    session: AsyncSession, *, actor: Actor, name: str, service: str, contact: str, now: datetime
) -> ReferralService:
    """The lead adds a professional service to the directory."""
    if not actor.is_lead:
        raise NotFound()
    name, service, contact = _clean_service(name, service, contact)
    entry = ReferralService(name=name, service=service, contact=contact, created_at=now)
    session.add(entry)
    await session.flush()
    audit.record_row(session, actor=actor, action="service.added", row=entry, at=now)
    return entry


async def update_service(
    session: AsyncSession,
    *,
    actor: Actor,
    service_id: uuid.UUID,
    name: str,
    service: str,
    contact: str,
    active: bool,
    now: datetime,
) -> ReferralService:
    if not actor.is_lead:
        raise NotFound()
    entry = await session.get(ReferralService, service_id)
    if entry is None:
        raise NotFound()
    entry.name, entry.service, entry.contact = _clean_service(name, service, contact)
    entry.active = active
    session.add(entry)
    audit.record_row(session, actor=actor, action="service.updated", row=entry, at=now)
    return entry
