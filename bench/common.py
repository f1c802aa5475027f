"""Benchmark plumbing: fresh databases (SQLite file, PostgreSQL schema) with the demo organisation loaded."""
from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from engine.bootstrap import OneWindow
from engine.clock.timesource import SystemClock
from engine.forms import FormRegistry
from engine.runtime import SpecCache
from engine.services import load_organisation, organisation
from engine.store.db import open_database, upgrade_schema

PG_SERVER = os.environ.get("ONEWINDOW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


@contextmanager
def bench_database(kind: str) -> Iterator[OneWindow]:
    """A migrated database of `kind` ('sqlite' or 'postgres') with the demo organisation, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield _open(f"sqlite:///{folder}/bench.db")
        return
    schema = f"ow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _open(f"{PG_SERVER}?options=-csearch_path%3D{schema}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _open(url: str) -> OneWindow:
    ow = OneWindow(db=open_database(url), clock=SystemClock(), forms=FormRegistry(), specs=SpecCache())
    upgrade_schema(ow.db)
    load_organisation(ow, organisation.DEMO_ORGANISATION, "bench-only")
    return ow
