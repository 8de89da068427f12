"""E-mail sendings and survey invitations: every e-mail unmo sends is recorded before the SMTP
transaction (so a retry after a timeout finds it instead of sending again), and every survey
link it gives out, with the answer it brought. New tables only; every existing row is kept.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_sendings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_key", sa.String(80), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("recipient_digest", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("answer", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_email_sendings_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_sendings")),
        sa.UniqueConstraint("customer_id", "request_key",
                            name=op.f("uq_email_sendings_customer_id_request_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_sendings_message_id")),
    )
    op.create_index("ix_email_sendings_customer_id", "email_sendings", ["customer_id"])
    op.create_index("ix_email_sendings_sent_at", "email_sendings", ["sent_at"])
    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("first_answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("feedback_id", sa.Integer(), nullable=True),
        sa.Column("sending_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_survey_invitations_customer_id_customers")),
        sa.ForeignKeyConstraint(["feedback_id"], ["feedback.id"], ondelete="SET NULL",
                                name=op.f("fk_survey_invitations_feedback_id_feedback")),
        sa.ForeignKeyConstraint(["sending_id"], ["email_sendings.id"], ondelete="SET NULL",
                                name=op.f("fk_survey_invitations_sending_id_email_sendings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_invitations")),
        sa.UniqueConstraint("nonce", name=op.f("uq_survey_invitations_nonce")),
    )
    op.create_index("ix_survey_invitations_customer_id", "survey_invitations", ["customer_id"])
    op.create_index("ix_survey_invitations_first_answered_at", "survey_invitations",
                    ["first_answered_at"])
    op.create_index("ix_survey_invitations_sending_id", "survey_invitations", ["sending_id"])


def downgrade() -> None:
    op.drop_table("survey_invitations")
    op.drop_table("email_sendings")
