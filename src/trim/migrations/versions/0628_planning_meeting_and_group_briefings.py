"""the planning meeting after an incident and group briefings (design section 12)

Revision ID: 0628
Revises: 0627
Create Date: 2026-12-02 12:30:07.491775

- planning_records (one per incident, with a version for concurrent edits),
  planning_attendees, planning_routes (one per exposed person; no row: risk assessment).
- briefings and briefing_attendees: date, facilitator and attendance only. No column for
  notes exists, by design (NICE NG116 advises against single-session debriefing).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0628"
down_revision: str | None = "0627"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "briefings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("held_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("facilitator_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["facilitator_id"], ["people.id"], name=op.f("fk_briefings_facilitator_id_people")),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_briefings_incident_id_incidents")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["people.id"], name=op.f("fk_briefings_recorded_by_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
    )
    with op.batch_alter_table("briefings", schema=None) as batch_op:
        batch_op.create_index("ix_briefings_incident_id", ["incident_id"], unique=False)

    op.create_table(
        "planning_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("held_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_planning_records_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["people.id"], name=op.f("fk_planning_records_recorded_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_records")),
        sa.UniqueConstraint("incident_id", name="uq_planning_records_incident_id"),
    )
    op.create_table(
        "briefing_attendees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("briefing_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["briefing_id"],
            ["briefings.id"],
            name=op.f("fk_briefing_attendees_briefing_id_briefings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_briefing_attendees_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefing_attendees")),
        sa.UniqueConstraint("briefing_id", "person_id", name="uq_briefing_attendees_briefing_id_person_id"),
    )
    with op.batch_alter_table("briefing_attendees", schema=None) as batch_op:
        batch_op.create_index("ix_briefing_attendees_person_id", ["person_id"], unique=False)

    op.create_table(
        "planning_attendees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("planning_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_planning_attendees_person_id_people")),
        sa.ForeignKeyConstraint(
            ["planning_id"],
            ["planning_records.id"],
            name=op.f("fk_planning_attendees_planning_id_planning_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_attendees")),
        sa.UniqueConstraint("planning_id", "person_id", name="uq_planning_attendees_planning_id_person_id"),
    )
    with op.batch_alter_table("planning_attendees", schema=None) as batch_op:
        batch_op.create_index("ix_planning_attendees_person_id", ["person_id"], unique=False)

    op.create_table(
        "planning_routes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("exposure_id", sa.Uuid(), nullable=False),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_by_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["changed_by_id"], ["people.id"], name=op.f("fk_planning_routes_changed_by_id_people")),
        sa.ForeignKeyConstraint(
            ["exposure_id"], ["exposures.id"], name=op.f("fk_planning_routes_exposure_id_exposures")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_planning_routes_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_routes")),
        sa.UniqueConstraint("exposure_id", name="uq_planning_routes_exposure_id"),
    )
    with op.batch_alter_table("planning_routes", schema=None) as batch_op:
        batch_op.create_index("ix_planning_routes_incident_id", ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("planning_routes", schema=None) as batch_op:
        batch_op.drop_index("ix_planning_routes_incident_id")

    op.drop_table("planning_routes")
    with op.batch_alter_table("planning_attendees", schema=None) as batch_op:
        batch_op.drop_index("ix_planning_attendees_person_id")

    op.drop_table("planning_attendees")
    with op.batch_alter_table("briefing_attendees", schema=None) as batch_op:
        batch_op.drop_index("ix_briefing_attendees_person_id")

    op.drop_table("briefing_attendees")
    op.drop_table("planning_records")
    with op.batch_alter_table("briefings", schema=None) as batch_op:
        batch_op.drop_index("ix_briefings_incident_id")

    op.drop_table("briefings")
