"""foundation: a case's workflow state format (1 SpiffWorkflow's JSON, hashed after normalising; 2 canonical JSON,
hashed as stored); cases stored before keep format 1

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case", sa.Column("state_format", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("state_format")
