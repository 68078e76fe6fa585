"""rules that match TRiM practice: item phases in stored snapshots

Revision ID: 0616
Revises: 0404
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0616"
down_revision: str | None = "0404"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The phases of the shipped instruments' items (version 1), as the files now say.
KNOWN_PHASES = {
    ("trim_risk", "prior_trauma"): "before",
    ("trim_risk", "life_threat"): "during",
    ("trim_risk", "out_of_control"): "during",
}
SECTION_PHASES = {"before": "before", "during": "during", "after": "after"}

snapshots = sa.table(
    "instrument_snapshots",
    sa.column("id", sa.Integer),
    sa.column("instrument_id", sa.String),
    sa.column("definition", sa.JSON),
)


def phase_of(instrument_id: str, item: dict[str, Any]) -> str:
    """An item stored before phases existed: the shipped instruments' own phases; else
    its section when that names one; else "after", which counts it toward persistence as
    every item was counted before (never silently less care)."""
    known = KNOWN_PHASES.get((instrument_id, str(item.get("id"))))
    if known:
        return known
    return SECTION_PHASES.get(str(item.get("section", "")).strip().lower(), "after")


def upgrade() -> None:
    bind = op.get_bind()
    # Stored snapshots are what old assessments are judged by: give their items phases.
    for row in bind.execute(sa.select(snapshots.c.id, snapshots.c.instrument_id, snapshots.c.definition)).all():
        definition = dict(row.definition or {})
        items = [dict(i) for i in definition.get("items", [])]
        if all("phase" in i for i in items):
            continue
        for item in items:
            item.setdefault("phase", phase_of(row.instrument_id, item))
        definition["items"] = items
        bind.execute(snapshots.update().where(snapshots.c.id == row.id).values(definition=definition))


def downgrade() -> None:
    # Phases are additive in the stored definitions; the older code ignores them.
    pass
