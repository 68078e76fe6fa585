"""Who may see what: section 3 of the design, in one place.

Each rule exists once, in two shapes side by side, deny by default:
`can_view_x(actor, row) -> bool` for one record and `visible_x(actor) -> Select`
for lists and counts. Services ask here; routes never decide.
"""

from __future__ import annotations

from sqlalchemy import false
from sqlmodel import select
from sqlmodel.sql.expression import SelectOfScalar

from trim.accounts.actor import Actor
from trim.accounts.models import Person

# Roles that pick people from the directory (to log incidents, assign, manage).
PEOPLE_PICKERS = ("lead", "admin", "supervisor", "peer")


def can_pick_people(actor: Actor) -> bool:
    return not actor.is_token and actor.has(*PEOPLE_PICKERS)


def pickable_people(actor: Actor) -> SelectOfScalar[Person]:
    """The staff directory (names, staff numbers, stations): for those who pick people."""
    stmt = select(Person)
    if not can_pick_people(actor):
        return stmt.where(false())
    return stmt
