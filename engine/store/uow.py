"""Units of work: one transaction per use case; lost races become Conflict, never a silent overwrite."""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict
from engine.store.db import Database

_AFTER_COMMIT = "after_commit"


def after_commit(session: Session, key: Hashable, hook: Callable[[], None]) -> None:
    """Run `hook` once the write transaction commits (never if it rolls back); a later hook for `key` replaces it."""
    session.info.setdefault(_AFTER_COMMIT, {})[key] = hook


@contextmanager
def writing(db: Database) -> Iterator[Session]:
    """A write transaction: commit on success, roll back on any error; stale or duplicate writes → Conflict."""
    session = db.writer()
    try:
        yield session
        session.commit()
        for hook in session.info.pop(_AFTER_COMMIT, {}).values():
            hook()
    except StaleDataError:
        session.rollback()
        raise Conflict("someone else changed this case first; reload and try again") from None
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"the change collides with one already stored ({exc.orig.__class__.__name__})") from None
    except OperationalError as exc:
        session.rollback()
        if "locked" in str(exc.orig) or "could not serialize" in str(exc.orig):
            raise Conflict("the database is busy with a competing change; try again") from None
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def reading(db: Database) -> Iterator[Session]:
    """A read-only transaction (never commits)."""
    session = db.reader()
    try:
        yield session
    finally:
        # Closing ends the transaction with a rollback; rolling back first also restored the session's snapshot of
        # its objects, a third of an empty read's cost, for a session about to be discarded.
        session.close()
