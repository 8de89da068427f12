"""Alert delivery claims: who is posting an alert, and until when the claim holds.

Two delivery runs at once (`unmo alerts notify` twice, or a notify beside a feedback command
delivering what it just raised) each posted every pending alert. A run now claims an alert with
a conditional UPDATE before posting it; a crashed run's claim expires at `claimed_until`, so the
alert is posted by a later run instead of being lost. Both columns are nullable and start empty:
every existing alert keeps its row and stays pending or notified as it was.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): nullable columns need no table rebuild on SQLite.
    op.add_column("alerts", sa.Column("claimed_by", sa.String(40), nullable=True))
    op.add_column("alerts", sa.Column("claimed_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
