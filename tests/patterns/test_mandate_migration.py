"""Revision 0006 on a database that already holds mandates: an agent's own record becomes pending, the others are
confirmed as recorded, and the trail starts with what the rows already told."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from engine.store.db import PROJECT_ROOT
from tests.conftest import PG_SERVER

AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
# (recorded by, revoked by) of each existing mandate from applicant "appl" to agent "agent".
EXISTING = [("agent", None), ("appl", None), ("clerk", None), ("agent", "appl")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    """An empty database of its own: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'before.db'}"
        return
    schema = f"ow_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _upgrade(engine, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
        conn.commit()


def _existing_mandates(engine) -> None:
    with engine.begin() as conn:
        for user_id, name in enumerate(("agent", "appl", "clerk"), 1):
            conn.execute(text("INSERT INTO app_user (id, username, display_name, password_hash, active, is_absent) "
                              "VALUES (:id, :name, :name, '', true, false)"), {"id": user_id, "name": name})
        for granted_by, revoked_by in EXISTING:
            conn.execute(text(
                "INSERT INTO proxy_mandate (applicant_user_id, agent_user_id, item_code, valid_from, valid_until, "
                "consent, granted_by, granted_at, revoked_at, revoked_by) VALUES (2, 1, 'outdoor-ad', :start, :end, "
                ":consent, :granted_by, :at, :revoked_at, :revoked_by)"),
                {"start": date(2026, 3, 1), "end": date(2026, 6, 30), "consent": '{"method": "signed_form"}',
                 "granted_by": granted_by, "at": AT, "revoked_at": AT if revoked_by else None,
                 "revoked_by": revoked_by})


def test_existing_mandates_get_their_status_and_trail(empty_url):
    engine = create_engine(empty_url)
    # Every branch but this one, as a database migrated before revision 0006 stands.
    for head in ("0002", "0003", "0004", "0005"):
        _upgrade(engine, head)
    _existing_mandates(engine)
    _upgrade(engine, "heads")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, confirmed_by FROM proxy_mandate ORDER BY id")).all()
        trail = conn.execute(text("SELECT mandate_id, action, actor FROM proxy_mandate_event "
                                  "ORDER BY mandate_id, id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("pending", None), ("confirmed", "appl"), ("confirmed", "clerk"),
                                        ("revoked", None)]
    assert [tuple(r) for r in trail] == [(1, "granted", "agent"), (2, "granted", "appl"), (2, "confirmed", "appl"),
                                         (3, "granted", "clerk"), (3, "confirmed", "clerk"), (4, "granted", "agent"),
                                         (4, "revoked", "appl")]
