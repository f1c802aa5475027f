"""clock: a special procedure can belong to a workflow step (the pause ends when that step is completed)

Revision ID: 0011
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clock_pause", sa.Column("task_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clock_pause") as batch:
        batch.drop_column("task_id")
