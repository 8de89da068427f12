"""Maintenance windows and the SLA report: the windows (`unmo maintenance add`), the customers
each covers, and a covering index for a customer's checks over a time range.

ix_health_checks_customer_cover (customer_id, checked_at, status, latency_ms) replaces
ix_health_checks_customer_checked (customer_id, checked_at), a prefix of it: every lookup the
old one served it serves, and `unmo report sla` reads a customer's month of checks from the index
alone (no table row per check). Existing data is kept; no check is in a window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("all_customers", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_index("ix_maintenance_windows_end_start", "maintenance_windows",
                    ["end_at", "start_at"])
    op.create_table(
        "maintenance_window_customers",
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["window_id"], ["maintenance_windows.id"], ondelete="CASCADE",
                                name=op.f("fk_maintenance_window_customers_window_id_"
                                          "maintenance_windows")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_maintenance_window_customers_customer_id_"
                                          "customers")),
        sa.PrimaryKeyConstraint("window_id", "customer_id",
                                name=op.f("pk_maintenance_window_customers")),
    )
    op.create_index("ix_maintenance_window_customers_customer_id",
                    "maintenance_window_customers", ["customer_id"])
    op.create_index("ix_health_checks_customer_cover", "health_checks",
                    ["customer_id", "checked_at", "status", "latency_ms"])
    op.drop_index("ix_health_checks_customer_checked", table_name="health_checks")


def downgrade() -> None:
    op.create_index("ix_health_checks_customer_checked", "health_checks",
                    ["customer_id", "checked_at"])
    op.drop_index("ix_health_checks_customer_cover", table_name="health_checks")
    op.drop_table("maintenance_window_customers")
    op.drop_table("maintenance_windows")
