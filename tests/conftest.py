"""Shared fixtures: every persistence test runs on SQLite and on PostgreSQL (schema per test run)."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.bootstrap import OneWindow
from engine.clock.timesource import ManualClock
from engine.forms import FormRegistry
from engine.runtime import SpecCache
from engine.services import deploy_catalogue, load_organisation, organisation, seed_calendar
from engine.store.db import open_database, upgrade_schema
from engine.store.models import Base
from engine.store.requests_models import ExtensionRequest  # noqa: F401  (truncated with the rest of Base.metadata)

PG_SERVER = os.environ.get("ONEWINDOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED = Path(__file__).resolve().parents[2] / "shared"
DEMO_PASSWORD = "demo-1234"
# A Tuesday in an ordinary week, 10:00 in Shanghai.
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def pg_schema_url(schema: str) -> str:
    """The test server's URL with `schema` as the search path."""
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_schema():
    """A PostgreSQL schema private to this test run, migrated once and dropped at the end."""
    schema = f"ow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server must run: .ci/run starts it
        pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER}: {exc}")
    db = open_database(pg_schema_url(schema))
    upgrade_schema(db)
    db.dispose()
    yield schema
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file copied for each test (migrating every time would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    upgrade_schema(db)
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A clean, migrated database URL: a fresh SQLite file, or an emptied PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "onewindow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    schema = request.getfixturevalue("pg_schema")
    url = pg_schema_url(schema)
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at T0 until a test moves it."""
    return ManualClock(T0)


@pytest.fixture
def ow(db_url, clock) -> OneWindow:
    """A OneWindow context on a clean database with the demo organisation and catalogue loaded."""
    context = OneWindow(db=open_database(db_url), clock=clock, forms=FormRegistry(), specs=SpecCache())
    load_organisation(context, organisation.DEMO_ORGANISATION, DEMO_PASSWORD)
    deploy_catalogue(context, "admin")
    seed_calendar(context)
    yield context
    context.db.dispose()
