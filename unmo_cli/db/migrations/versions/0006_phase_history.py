"""Phase history: every change of a customer's phase, so a report of a past week shows the phase
the customer was in at that week's end instead of today's.

Phases had no history before this revision, so for each customer that exists now it records one
change at the moment of the upgrade, from an unknown phase (NULL) to the current one: a report of
a week that ended before the upgrade shows such a customer's phase as unknown rather than guess.
Customers onboarded later start with no row (their phase is the one onboarding set until the
first recorded change). Every existing row is kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from unmo_cli import clock

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    changes = op.create_table(
        "phase_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("from_phase", sa.String(16), nullable=True),
        sa.Column("to_phase", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_phase_changes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_changes")),
    )
    op.create_index("ix_phase_changes_customer_changed", "phase_changes",
                    ["customer_id", "changed_at"])
    customers = sa.table("customers", sa.column("id", sa.Integer()),
                         sa.column("phase", sa.String()))
    now = clock.to_db(clock.now())  # naive UTC, as every timestamp is stored
    op.execute(changes.insert().from_select(
        ["customer_id", "changed_at", "from_phase", "to_phase"],
        sa.select(customers.c.id, sa.literal(now, sa.DateTime()),
                  sa.null().label("from_phase"), customers.c.phase)))


def downgrade() -> None:
    op.drop_table("phase_changes")
