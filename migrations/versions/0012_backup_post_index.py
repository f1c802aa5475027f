"""foundation: resolving who is acting finds the absent holders a backup post covers by index, not by a scan

Revision ID: 0012
Revises: 0001
"""
from alembic import op

revision = "0012"
down_revision = "0001"
branch_labels = ("backup_posts",)
depends_on = None


def upgrade() -> None:
    op.create_index("ix_app_user_backup_user_id", "app_user", ["backup_user_id"])


def downgrade() -> None:
    op.drop_index("ix_app_user_backup_user_id", table_name="app_user")
