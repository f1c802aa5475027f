"""patterns: proxy mandates, case materials (one-time notice, accept with deficiency), bundles

Revision ID: 0003
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = ("patterns",)
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "proxy_mandate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("consent", sa.JSON(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["applicant_user_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["agent_user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_proxy_mandate_agent_applicant", "proxy_mandate",
                    ["agent_user_id", "applicant_user_id", "item_code"])
    op.create_table(
        "case_material",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("supplied_by", sa.String(length=64), nullable=True),
        sa.Column("supplied_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_material_case_id", "case_material", ["case_id"])
    op.create_table(
        "case_bundle",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("bundle_no", sa.String(length=64), nullable=False),
        sa.Column("bundle_code", sa.String(length=64), nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index("ix_case_bundle_bundle_no", "case_bundle", ["bundle_no"])


def downgrade() -> None:
    op.drop_index("ix_case_bundle_bundle_no", table_name="case_bundle")
    op.drop_table("case_bundle")
    op.drop_index("ix_case_material_case_id", table_name="case_material")
    op.drop_table("case_material")
    op.drop_index("ix_proxy_mandate_agent_applicant", table_name="proxy_mandate")
    op.drop_table("proxy_mandate")
