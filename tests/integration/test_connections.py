"""The engines behind the units of work: read-only readers, and PostgreSQL's ping of connections left idle."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError

from engine import services
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
def postgres_url(pg_schema) -> str:
    """Pooled server connections are PostgreSQL's: these tests run on it alone."""
    return pg_schema_url(pg_schema)


@pytest.mark.postgres
def test_a_postgres_connection_that_died_while_idle_is_replaced_unseen(postgres_url, monkeypatch):
    monkeypatch.setenv(PING_AFTER_ENV, "0.05")
    db = open_database(postgres_url)
    try:
        first = _backend_pid(db)
        _terminate(first)
        time.sleep(0.1)
        # The one pooled connection is pinged at checkout, found dead and replaced: the read itself succeeds.
        assert _backend_pid(db) != first
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_postgres_connection_used_moments_ago_is_not_pinged(postgres_url, monkeypatch):
    # The price of skipping the ping: a server restart within the idle window fails one use, then the pool recovers.
    monkeypatch.setenv(PING_AFTER_ENV, "3600")
    db = open_database(postgres_url)
    try:
        first = _backend_pid(db)
        _terminate(first)
        with pytest.raises(OperationalError):
            _backend_pid(db)
        assert _backend_pid(db) != first
    finally:
        db.dispose()


@pytest.mark.postgres
def test_postgres_reads_run_each_statement_on_its_own(postgres_url):
    # No BEGIN and no ROLLBACK around a read: under READ COMMITTED each statement had its own snapshot anyway.
    db = open_database(postgres_url)
    try:
        with reading(db) as session:
            started = session.scalar(select(func.transaction_timestamp()))
            time.sleep(0.01)
            assert session.scalar(select(func.transaction_timestamp())) > started
    finally:
        db.dispose()
