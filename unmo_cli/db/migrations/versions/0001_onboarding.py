"""Onboarding: customers, API keys, onboarding sessions and their steps (the first schema).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("industry", sa.String(32), nullable=False),
        sa.Column("integration", sa.String(16), nullable=False),
        sa.Column("platforms", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("events_per_day", sa.Integer(), nullable=False),
        sa.Column("mrr_cents", sa.Integer(), nullable=False),
        sa.Column("contact_name", sa.String(200), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("success_manager", sa.String(254), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("churned_at", sa.DateTime(), nullable=True),
        sa.Column("churn_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("slug", name=op.f("uq_customers_slug")),
        sa.UniqueConstraint("name_key", name=op.f("uq_customers_name_key")),
    )
    op.create_index(op.f("ix_customers_created_at"), "customers", ["created_at"])
    op.create_index(op.f("ix_customers_churned_at"), "customers", ["churned_at"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("environment", sa.String(8), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(40), nullable=False),
        sa.Column("publishable_value", sa.String(80), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_api_keys_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_customer_id"), "api_keys", ["customer_id"])

    op.create_table(
        "onboarding_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL",
                                name=op.f("fk_onboarding_sessions_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_sessions")),
    )
    op.create_index(op.f("ix_onboarding_sessions_customer_id"), "onboarding_sessions",
                    ["customer_id"])
    op.create_index(op.f("ix_onboarding_sessions_finished_at"), "onboarding_sessions",
                    ["finished_at"])

    op.create_table(
        "onboarding_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["onboarding_sessions.id"], ondelete="CASCADE",
                                name=op.f("fk_onboarding_steps_session_id_onboarding_sessions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_steps")),
    )
    op.create_index(op.f("ix_onboarding_steps_session_id"), "onboarding_steps", ["session_id"])


def downgrade() -> None:
    op.drop_table("onboarding_steps")
    op.drop_table("onboarding_sessions")
    op.drop_table("api_keys")
    op.drop_table("customers")
