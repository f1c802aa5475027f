"""Database set-up: engines for SQLite (embedded default) and PostgreSQL, and schema migration."""
from __future__ import annotations

import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

from engine.errors import InvalidInput

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
    """The writer and reader engines of one database.

    Both databases get a writer and a read-only reader engine. On SQLite they share the file: writers open with
    BEGIN IMMEDIATE so that two clerks racing for one task queue up instead of failing on a lock upgrade; readers
    stay deferred so inbox pages never wait for a writer (WAL). On PostgreSQL readers run without a transaction
    (see `_postgres_engines`).
    """

    url: str
    write_engine: Engine
    read_engine: Engine

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.write_engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.write_engine.dispose()
        self.read_engine.dispose()


_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def database_key(session: Session) -> str:
    """The URL of the session's database as text: what process-wide caches of database content are keyed by."""
    # Rendering (or hashing) a URL with query options cost more than the cached read it keyed; each engine
    # renders its URL once.
    # A unit of work's session is bound to its connection.
    engine = session.get_bind().engine
    key = _KEYS.get(engine)
    if key is None:
        key = _KEYS[engine] = str(engine.url)
    return key


def _sqlite_engine(url: str, writer: bool) -> Engine:
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"
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
        if not writer:
            # A write inside `reading` fails loudly instead of being rolled back unseen.
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    def _begin(dbapi_connection) -> None:
        dbapi_connection.driver_connection.execute(begin)

    # Every transaction starts here, straight on the driver: a statement through SQLAlchemy cost ten times what
    # SQLite spends on BEGIN, and a "begin" event listener made every connection pay for event dispatch. The
    # dialect's own begin is what this engine's connections call, and SQLAlchemy wraps what it raises: a database
    # still locked after the busy timeout is the OperationalError the units of work turn into Conflict.
    engine.dialect.do_begin = _begin
    return engine


# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out (a dead one is replaced
# unseen). Pinging every checkout, SQLAlchemy's pre-ping, cost a round trip per use case: a tenth of a completion.
PING_AFTER_ENV = "ONEWINDOW_PG_PING_AFTER"
DEFAULT_PING_AFTER_SECONDS = 5.0


def _postgres_engines(url: str) -> tuple[Engine, Engine]:
    """A writer engine, and a reader engine whose connections run each statement on its own, read-only."""
    ping_after = _ping_after_seconds()
    write_engine = create_engine(url, pool_size=5, max_overflow=10)
    # Under READ COMMITTED, PostgreSQL's default, each statement of a transaction sees its own snapshot anyway, so a
    # read transaction's BEGIN and ROLLBACK were two round trips buying nothing. The connections are read-only, so
    # a write inside `reading` fails loudly instead of being committed (before, it was rolled back unseen).
    read_engine = create_engine(url, pool_size=5, max_overflow=10, isolation_level="AUTOCOMMIT")

    @event.listens_for(read_engine, "connect")
    def _read_only(dbapi_conn, _record):
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET SESSION default_transaction_read_only = on")
        dbapi_conn.autocommit = autocommit

    for engine in (write_engine, read_engine):
        _ping_when_idle(engine, ping_after)
    return write_engine, read_engine


def _ping_after_seconds() -> float:
    """The idle time before a ping, from ONEWINDOW_PG_PING_AFTER (seconds, 0 or more) or the default."""
    text = os.environ.get(PING_AFTER_ENV, "").strip()
    if not text:
        return DEFAULT_PING_AFTER_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise InvalidInput(f"{PING_AFTER_ENV} must be a number of seconds, 0 or more, not '{text}'")
    return seconds


def _ping_when_idle(engine: Engine, after_seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle for more than `after_seconds`."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= after_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            # The pool discards this connection and checks out another (SQLAlchemy's documented disconnect hook).
            raise DisconnectionError("a pooled connection was found closed; it is replaced")


def open_database(url: str | None = None) -> Database:
    """Create the engines for a URL (see `database_url`)."""
    url = database_url(url)
    if url.startswith("sqlite"):
        write_engine = _sqlite_engine(url, writer=True)
        read_engine = _sqlite_engine(url, writer=False)
    else:
        write_engine, read_engine = _postgres_engines(url)
    return Database(
        url=url,
        write_engine=write_engine,
        read_engine=read_engine,
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
