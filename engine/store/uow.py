"""Units of work: one transaction per use case; lost races become Conflict, never a silent overwrite.

Each unit of work begins a transaction on a pooled connection and binds its session to that connection. The hot
path's prepared statements (engine/store/prepared.py) run straight on it, so a use case that never needs the ORM's
own queries or flush never pays for the session's transaction bookkeeping (which cost several times the SQLite
statements of a short transaction); one that does joins the same transaction, and `session.commit()` still commits.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict
from engine.store.db import Database

_AFTER_COMMIT = "after_commit"
UNIT_CONNECTION = "unit_of_work_connection"


def after_commit(session: Session, key: Hashable, hook: Callable[[], None]) -> None:
    """Run `hook` once the write transaction commits (never if it rolls back); a later hook for `key` replaces it."""
    session.info.setdefault(_AFTER_COMMIT, {})[key] = hook


def _bound_session(connection: Connection) -> Session:
    # control_fully: the session's commit and rollback act on the connection's transaction, as an unbound session's
    # would on its own.
    session = Session(bind=connection, join_transaction_mode="control_fully", expire_on_commit=False)
    # What prepared statements run on (engine/store/prepared.py), looked up once.
    session.info[UNIT_CONNECTION] = (connection, connection.dialect, connection.connection.driver_connection)
    return session


@contextmanager
def writing(db: Database) -> Iterator[Session]:
    """A write transaction: commit on success, roll back on any error; stale or duplicate writes → Conflict."""
    connection = db.write_engine.connect()
    session = _bound_session(connection)
    try:
        # On SQLite this takes the write lock (BEGIN IMMEDIATE): a database still locked after the busy timeout is
        # the OperationalError below.
        connection.begin()
        yield session
        session.flush()
        connection.commit()
        for hook in session.info.pop(_AFTER_COMMIT, {}).values():
            hook()
    except StaleDataError:
        _roll_back(session, connection)
        raise Conflict("someone else changed this case first; reload and try again") from None
    except IntegrityError as exc:
        _roll_back(session, connection)
        raise Conflict(f"the change collides with one already stored ({exc.orig.__class__.__name__})") from None
    except OperationalError as exc:
        _roll_back(session, connection)
        if "locked" in str(exc.orig) or "could not serialize" in str(exc.orig):
            raise Conflict("the database is busy with a competing change; try again") from None
        raise
    except BaseException:
        _roll_back(session, connection)
        raise
    finally:
        session.close()
        connection.close()


def _roll_back(session: Session, connection: Connection) -> None:
    # The session's rollback expires what it holds (and ends the transaction, if the session joined it); the
    # connection's ends the transaction the prepared statements ran in otherwise.
    session.rollback()
    connection.rollback()


@contextmanager
def reading(db: Database) -> Iterator[Session]:
    """A read-only transaction (never commits)."""
    connection = db.read_engine.connect()
    session = _bound_session(connection)
    try:
        yield session
    finally:
        # Returning the connection to the pool ends its transaction with a rollback.
        session.close()
        connection.close()
