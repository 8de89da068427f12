"""A covering index for the MRR ledger as the reports read it.

ix_mrr_changes_customer_cover (customer_id, effective_at, id, kind, mrr_cents) replaces
ix_mrr_changes_customer_effective (customer_id, effective_at), a prefix of it: every lookup the
old one served it serves, and the window the weekly and monthly reports run over each
customer's ledger in (effective_at, id) order (services/report_ledger.py) reads the index alone,
no table row per ledger row. The health checks need no new index: migration 0010's
ix_health_checks_customer_cover (customer_id, checked_at, status, latency_ms) already covers
(customer_id, checked_at, status), which the timeline's health transitions and the report's
per-customer health windows read. Existing data is kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mrr_changes_customer_cover", "mrr_changes",
                    ["customer_id", "effective_at", "id", "kind", "mrr_cents"])
    op.drop_index("ix_mrr_changes_customer_effective", table_name="mrr_changes")


def downgrade() -> None:
    op.create_index("ix_mrr_changes_customer_effective", "mrr_changes",
                    ["customer_id", "effective_at"])
    op.drop_index("ix_mrr_changes_customer_cover", table_name="mrr_changes")
