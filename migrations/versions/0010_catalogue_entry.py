"""catalogue entries: called processes published by the higher authority, and one-thing bundles, versioned

Revision ID: 0010
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = ("catalogue_entries",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=128), nullable=True),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("bpmn_xml", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "code", "version"),
    )
    op.create_index("ix_catalogue_entry_code", "catalogue_entry", ["code"])
    op.create_index("ix_catalogue_entry_process_id", "catalogue_entry", ["process_id"])


def downgrade() -> None:
    op.drop_index("ix_catalogue_entry_process_id", table_name="catalogue_entry")
    op.drop_index("ix_catalogue_entry_code", table_name="catalogue_entry")
    op.drop_table("catalogue_entry")
