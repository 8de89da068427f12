"""Account history: customers change after onboarding. An MRR ledger (every change with its
effective date, churns and reactivations included), the history of the other record fields,
notes, tasks, and two new record fields (tier, renewal date).

Existing data is kept: each customer's current MRR becomes its first ledger entry (`start`, at
its creation), and a churned customer also gets its `churn` entry (at `churned_at`, with its
reason), so the reports of past weeks keep their figures. Existing customers get the tier
`standard` and no renewal date.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("tier", sa.String(32), nullable=False,
                                   server_default="standard"))
        batch.add_column(sa.Column("renewal_date", sa.Date(), nullable=True))
    ledger = op.create_table(
        "mrr_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mrr_cents", sa.Integer(), nullable=False),
        sa.Column("effective_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_mrr_changes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mrr_changes")),
    )
    op.create_index("ix_mrr_changes_customer_effective", "mrr_changes",
                    ["customer_id", "effective_at"])
    op.create_index("ix_mrr_changes_effective_at", "mrr_changes", ["effective_at"])
    op.create_table(
        "customer_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.String(), nullable=True),
        sa.Column("new_value", sa.String(), nullable=True),
        sa.Column("effective_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_customer_changes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_changes")),
    )
    op.create_index("ix_customer_changes_customer_effective", "customer_changes",
                    ["customer_id", "effective_at"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("author", sa.String(254), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_notes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index("ix_notes_customer_at", "notes", ["customer_id", "at"])
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(254), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("playbook", sa.String(80), nullable=True),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_tasks_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index("ix_tasks_customer_status", "tasks", ["customer_id", "status"])
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_on"])
    op.create_index("ix_tasks_owner_status", "tasks", ["owner", "status"])
    # One open task per customer and playbook, held by the database, so two runs firing the
    # same trigger at once update one task instead of adding two.
    open_playbook = sa.text("status = 'open' AND playbook IS NOT NULL")
    op.create_index("uq_tasks_open_playbook", "tasks", ["customer_id", "playbook"], unique=True,
                    sqlite_where=open_playbook, postgresql_where=open_playbook)

    customers = sa.table("customers", sa.column("id", sa.Integer()),
                         sa.column("mrr_cents", sa.Integer()),
                         sa.column("created_at", sa.DateTime()),
                         sa.column("churned_at", sa.DateTime()),
                         sa.column("churn_reason", sa.String()))
    columns = ["customer_id", "kind", "mrr_cents", "effective_at", "recorded_at", "reason"]
    op.execute(ledger.insert().from_select(columns, sa.select(
        customers.c.id, sa.literal("start", sa.String()), customers.c.mrr_cents,
        customers.c.created_at, customers.c.created_at, sa.null())))
    op.execute(ledger.insert().from_select(columns, sa.select(
        customers.c.id, sa.literal("churn", sa.String()), sa.literal(0, sa.Integer()),
        customers.c.churned_at, customers.c.churned_at, customers.c.churn_reason)
        .where(customers.c.churned_at.is_not(None))))


def downgrade() -> None:
    op.drop_table("tasks")
    op.drop_table("notes")
    op.drop_table("customer_changes")
    op.drop_table("mrr_changes")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("renewal_date")
        batch.drop_column("tier")
