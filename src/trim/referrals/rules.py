"""What a referral's state means, as pure functions of the row (no session, no clock)."""

from __future__ import annotations

from trim.referrals.models import OPEN_REFERRAL_STATUSES, Referral


def share_pending(referral: Referral) -> bool:
    """Sharing the assessment was asked for, the person has not yet agreed themselves, and
    the referral is still open: it waits for their OK, and nothing is shared."""
    return (
        referral.share_requested_at is not None
        and referral.share_confirmed_at is None
        and referral.status in OPEN_REFERRAL_STATUSES
    )
