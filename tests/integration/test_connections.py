"""The engines behind the units of work: read-only readers, and PostgreSQL's ping of connections left idle."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError

from engine import services
from engine.errors import InvalidInput
from engine.store.db import PING_AFTER_ENV, open_database
from engine.store.models import Case
from engine.store.uow import reading
from tests.conftest import PG_SERVER, pg_schema_url
from tests.integration.helpers import new_ad_case


def test_a_write_inside_a_read_transaction_is_refused_and_stores_nothing(ow):
    case_no = new_ad_case(ow)
    with pytest.raises(DBAPIError, match="read-only|readonly"), reading(ow.db) as session:
        session.execute(update(Case).where(Case.case_no == case_no).values(status="DECIDED"))
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED"


def _backend_pid(db) -> int:
    with reading(db) as session:
        return session.scalar(select(func.pg_backend_pid()))


def _terminate(pid: int) -> None:
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


@pytest.fixture
def open_postgres(pg_schema, monkeypatch):
    """Open the test schema's database with `ping_after` seconds of idling before a ping (closed at the end)."""
    opened = []

    def open_(ping_after: str = "5"):
        monkeypatch.setenv(PING_AFTER_ENV, ping_after)
        opened.append(open_database(pg_schema_url(pg_schema)))
        return opened[-1]

    yield open_
    for db in opened:
        db.dispose()


@pytest.mark.postgres
def test_a_postgres_connection_that_died_while_idle_is_replaced_unseen(open_postgres):
    db = open_postgres(ping_after="0.05")
    first = _backend_pid(db)
    _terminate(first)
    time.sleep(0.1)
    # The one pooled connection is pinged at checkout, found dead and replaced: the read itself succeeds.
    assert _backend_pid(db) != first


@pytest.mark.postgres
def test_a_postgres_connection_used_moments_ago_is_not_pinged(open_postgres):
    # The price of skipping the ping: a server restart within the idle window fails one use, then the pool recovers.
    db = open_postgres(ping_after="3600")
    first = _backend_pid(db)
    _terminate(first)
    with pytest.raises(OperationalError):
        _backend_pid(db)
    assert _backend_pid(db) != first


@pytest.mark.postgres
def test_postgres_reads_run_each_statement_on_its_own(open_postgres):
    # No BEGIN and no ROLLBACK around a read: under READ COMMITTED each statement had its own snapshot anyway.
    with reading(open_postgres()) as session:
        started = session.scalar(select(func.transaction_timestamp()))
        time.sleep(0.01)
        assert session.scalar(select(func.transaction_timestamp())) > started


def test_a_read_ends_its_transaction_when_it_closes(ow):
    with reading(ow.db) as session:
        session.scalar(select(func.count(Case.id)))
        driver = session.connection().connection.driver_connection
    # A read left open would hold SQLite's WAL back from checkpointing, and a PostgreSQL snapshot.
    if ow.db.is_sqlite:
        assert not driver.in_transaction
    else:
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


@pytest.mark.postgres
@pytest.mark.parametrize("setting", ["soon", "-1", "nan"])
def test_a_bad_ping_setting_is_refused_by_name(open_postgres, setting):
    with pytest.raises(InvalidInput, match=f"ONEWINDOW_PG_PING_AFTER must be a number of seconds, 0 or more, not '{setting}'"):
        open_postgres(ping_after=setting)
