"""extension requests: the handling clerk asks, the department head approves or declines (延期申请)

Revision ID: 0008
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = ("extension_requests",)
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
OPEN_REQUEST = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "extension_request",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("acting_for", sa.String(length=64), nullable=True),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_extension_request_case_id", "extension_request", ["case_id"])
    op.create_index("ix_extension_request_department_status", "extension_request", ["department_id", "status"])
    # One open request per case, enforced by the database so two clerks asking at once cannot both succeed.
    op.create_index("uq_extension_request_open_case", "extension_request", ["case_id"], unique=True,
                    postgresql_where=OPEN_REQUEST, sqlite_where=OPEN_REQUEST)


def downgrade() -> None:
    op.drop_index("uq_extension_request_open_case", table_name="extension_request")
    op.drop_index("ix_extension_request_department_status", table_name="extension_request")
    op.drop_index("ix_extension_request_case_id", table_name="extension_request")
    op.drop_table("extension_request")
