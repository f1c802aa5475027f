"""Database set-up: engines for SQLite (embedded default) and PostgreSQL, and schema migration."""
from __future__ import annotations

import os
import sqlite3
import weakref
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "instance" / "onewindow.db"


def database_url(explicit: str | None = None) -> str:
    """Pick the database: an explicit URL, then ONEWINDOW_DATABASE_URL, then instance/onewindow.db."""
    if explicit:
        return explicit
    if os.environ.get("ONEWINDOW_DATABASE_URL"):
        return os.environ["ONEWINDOW_DATABASE_URL"]
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


@dataclass
class Database:
    """The engines and session factories of one database.

    SQLite gets two engines over the same file: writers open with BEGIN IMMEDIATE so that two clerks
    racing for one task queue up instead of failing on a lock upgrade; readers stay deferred so inbox
    pages never wait for a writer (WAL).
    """

    url: str
    write_engine: Engine
    read_engine: Engine
    writer: sessionmaker[Session]
    reader: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.write_engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def database_key(session: Session) -> str:
    """The URL of the session's database as text: what process-wide caches of database content are keyed by."""
    # Rendering (or hashing) a URL with query options cost more than the cached read it keyed; each engine
    # renders its URL once.
    engine = session.get_bind()
    key = _KEYS.get(engine)
    if key is None:
        key = _KEYS[engine] = str(engine.url)
    return key


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control from the driver so our BEGIN statement is the one that runs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Straight on the driver: every transaction starts here, and a statement through SQLAlchemy cost ten times
        # what SQLite spends on BEGIN. SQLAlchemy does not wrap what a begin handler raises, so this does: a
        # database still locked after the busy timeout is the OperationalError the units of work turn into Conflict.
        try:
            conn.connection.driver_connection.execute(begin)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(begin, (), exc, sqlite3.Error) from exc

    return engine


def open_database(url: str | None = None) -> Database:
    """Create the engines for a URL (see `database_url`)."""
    url = database_url(url)
    if url.startswith("sqlite"):
        write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
        read_engine = _sqlite_engine(url, "BEGIN")
    else:
        write_engine = read_engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return Database(
        url=url,
        write_engine=write_engine,
        read_engine=read_engine,
        writer=sessionmaker(write_engine, expire_on_commit=False),
        reader=sessionmaker(read_engine, expire_on_commit=False),
    )


def upgrade_schema(db: Database) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        # "heads": each area (clock, patterns, web, audit) adds its own revision branch off the foundation.
        command.upgrade(cfg, "heads")
        conn.commit()
