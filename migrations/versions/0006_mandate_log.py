"""mandates: a proxy mandate is pending until someone other than its agent confirms it; an append-only trail

Revision ID: 0006
Revises: 0001
Depends on: 0003 (which creates proxy_mandate)
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = ("mandates",)
# Its own branch, but it alters proxy_mandate: "upgrade heads" must run the patterns branch first.
depends_on = "0003"

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
MIGRATED = {"migrated": True}


def upgrade() -> None:
    with op.batch_alter_table("proxy_mandate") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"))
        batch.add_column(sa.Column("confirmed_at", WHEN, nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.String(length=64), nullable=True))
    op.create_table(
        "proxy_mandate_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("mandate_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["mandate_id"], ["proxy_mandate.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_proxy_mandate_event_mandate_id", "proxy_mandate_event", ["mandate_id"])
    _backfill()


def _backfill() -> None:
    """Give existing mandates their status and the trail their columns already tell.

    Before this revision an agent's own record let them act at once: such rows become pending until the applicant
    or a window clerk confirms them. Rows recorded by the applicant or a clerk were confirmed when recorded.
    """
    mandate = sa.table("proxy_mandate", *(sa.column(name) for name in (
        "id", "agent_user_id", "granted_by", "granted_at", "revoked_by", "revoked_at", "status", "confirmed_by",
        "confirmed_at")))
    user = sa.table("app_user", sa.column("id"), sa.column("username"))
    agent_name = sa.select(user.c.username).where(user.c.id == mandate.c.agent_user_id).scalar_subquery()
    op.execute(mandate.update().where(mandate.c.granted_by != agent_name)
               .values(confirmed_at=mandate.c.granted_at, confirmed_by=mandate.c.granted_by))
    op.execute(mandate.update().where(mandate.c.revoked_at.is_(None), mandate.c.confirmed_at.is_not(None))
               .values(status="confirmed"))
    op.execute(mandate.update().where(mandate.c.revoked_at.is_not(None)).values(status="revoked"))
    trail = sa.table("proxy_mandate_event", *(sa.column(n) for n in ("mandate_id", "action", "actor", "at", "detail")))
    steps = (("granted", mandate.c.granted_by, mandate.c.granted_at, mandate.c.id.is_not(None)),
             ("confirmed", mandate.c.confirmed_by, mandate.c.confirmed_at, mandate.c.confirmed_at.is_not(None)),
             ("revoked", sa.func.coalesce(mandate.c.revoked_by, "unknown"), mandate.c.revoked_at,
              mandate.c.revoked_at.is_not(None)))
    for action, actor, at, where in steps:
        rows = sa.select(mandate.c.id, sa.literal(action), actor, at, sa.literal(MIGRATED, sa.JSON)) \
            .where(where).order_by(mandate.c.id)
        op.execute(trail.insert().from_select(["mandate_id", "action", "actor", "at", "detail"], rows))


def downgrade() -> None:
    op.drop_index("ix_proxy_mandate_event_mandate_id", table_name="proxy_mandate_event")
    op.drop_table("proxy_mandate_event")
    with op.batch_alter_table("proxy_mandate") as batch:
        batch.drop_column("confirmed_by")
        batch.drop_column("confirmed_at")
        batch.drop_column("status")
