"""Units of work: the session and the prepared statements share one transaction on the unit's connection, a part the
use case committed itself stays, and everything else commits or rolls back as one."""
from __future__ import annotations

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session

from engine.store.models import Notification
from engine.store.prepared import Prepared
from engine.store.uow import reading, writing

_NOTE = Notification.__table__
_INSERT_NOTE = Prepared(insert(_NOTE).returning(_NOTE.c.id))
_COUNT_NOTES = Prepared(select(func.count(_NOTE.c.id).label("n")).where(_NOTE.c.recipient == "uow-test"))


class Boom(Exception):
    """A use case failing after it wrote."""


def _note(clock, kind: str) -> dict:
    return {"case_id": None, "deadline_id": None, "kind": kind, "recipient": "uow-test", "body": {"k": kind},
            "created_at": clock.now(), "respond_by": None, "read_at": None}


def _stored_kinds(ow) -> list[str]:
    with reading(ow.db) as session:
        return sorted(session.scalars(select(Notification.kind).where(Notification.recipient == "uow-test")))


def test_prepared_statements_and_the_orm_see_each_other_s_writes_and_commit_together(ow, clock):
    with writing(ow.db) as session:
        _INSERT_NOTE.rows(session, _note(clock, "prepared"))
        assert session.scalar(select(func.count()).where(Notification.recipient == "uow-test")) == 1
        session.add(Notification(**_note(clock, "orm")))
        session.flush()
        assert _COUNT_NOTES.first(session, {}).n == 2
    assert _stored_kinds(ow) == ["orm", "prepared"]


def test_a_failing_use_case_stores_nothing_of_either(ow, clock):
    note = Notification(**_note(clock, "orm"))
    with pytest.raises(Boom), writing(ow.db) as session:
        _INSERT_NOTE.rows(session, _note(clock, "prepared"))
        session.add(note)
        session.flush()
        raise Boom
    assert _stored_kinds(ow) == []
    # The session rolled back too: the object it had flushed is new again, not one that looks stored.
    assert inspect(note).transient


def test_what_a_use_case_committed_itself_stays_when_the_rest_fails(ow, clock):
    # As the lookup-code guard does: the failed attempt is committed, then the lookup is refused.
    with pytest.raises(Boom), writing(ow.db) as session:
        session.add(Notification(**_note(clock, "kept")))
        session.commit()
        # The next statement runs in a new transaction of the same unit, which the failure rolls back.
        _INSERT_NOTE.rows(session, _note(clock, "lost"))
        raise Boom
    assert _stored_kinds(ow) == ["kept"]


def test_pending_orm_changes_are_flushed_when_the_unit_commits(ow, clock):
    with writing(ow.db) as session:
        session.add(Notification(**_note(clock, "pending")))
    assert _stored_kinds(ow) == ["pending"]


def test_a_prepared_statement_outside_a_unit_of_work_is_refused(ow):
    with Session(ow.db.write_engine) as session, pytest.raises(TypeError, match="unit of work"):
        _COUNT_NOTES.first(session, {})
