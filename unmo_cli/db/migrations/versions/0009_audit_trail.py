"""The audit trail: a table of hash-chained events, started by a "genesis" event that counts the
rows already there (their history before the trail is not known), so the chain starts cleanly
and `unmo audit verify` holds from the first event. Every existing row is kept.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from unmo_cli import audit, clock

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COUNTED = ("customers", "api_keys", "onboarding_sessions", "feedback", "alerts",
           "health_checks", "mrr_changes", "customer_changes", "notes", "tasks",
           "email_sendings", "survey_invitations")


def upgrade() -> None:
    events = op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("customer", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("details", sa.String(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_customer", "audit_events", ["customer", "id"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    connection = op.get_bind()
    counts = {name: connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
              for name in COUNTED}
    at_value = clock.to_db(clock.now())
    who = audit.origin()
    body = audit.details_json({"rows": counts})
    digest = audit.chain_hash("", audit.canonical(1, clock.iso(at_value) or "", who.actor,
                                                  who.command, None, "genesis", body))
    op.execute(events.insert().values(id=1, at=at_value, actor=who.actor, command=who.command,
                                      customer=None, action="genesis", details=body,
                                      hash=digest))


def downgrade() -> None:
    op.drop_table("audit_events")
