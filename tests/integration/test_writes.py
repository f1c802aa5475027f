"""Rows written with single Core statements: guarded by the case's version, and left clean in the session."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, select, update

from engine.errors import Conflict
from engine.services.casework import find_case
from engine.store.models import Case, Deadline, WorkItem, WorkItemGroup
from engine.store.uow import reading, writing
from engine.store.writes import insert_row, write_through
from tests.integration.helpers import new_ad_case


def _statements(session) -> list[str]:
    """Collect every SQL statement the session's connection runs from now on."""
    seen: list[str] = []
    event.listen(session.connection(), "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_case_changed_behind_the_writer_is_refused_and_keeps_what_was_stored(ow):
    case_no = new_ad_case(ow)
    def stored() -> tuple:
        with reading(ow.db) as session:
            case = find_case(session, case_no)
            return case.status, case.row_version, case.state_json

    before = stored()
    with pytest.raises(Conflict, match="someone else changed this case first"), writing(ow.db) as session:
        case = find_case(session, case_no)
        # Another clerk's change lands between our read and our write.
        session.connection().execute(update(Case).where(Case.id == case.id).values(row_version=Case.row_version + 1))
        case.status = "IN_REVIEW"
        write_through(session, case)
    assert stored() == before


def test_a_written_case_is_stored_bumped_and_clean_so_commit_writes_nothing_more(ow):
    case_no = new_ad_case(ow)
    with writing(ow.db) as session:
        case = find_case(session, case_no)
        version = case.row_version
        case.status, case.result = "WITHDRAWN", "withdrawn"
        write_through(session, case)
        assert case not in session.dirty and case.row_version == version + 1
        seen = _statements(session)
        assert (case.status, case.result, case.case_no) == ("WITHDRAWN", "withdrawn", case_no)
        session.flush()
        assert seen == [], "reading the written case or flushing it ran SQL"
    with reading(ow.db) as session:
        stored = find_case(session, case_no)
        assert (stored.status, stored.result, stored.row_version) == ("WITHDRAWN", "withdrawn", version + 1)


def test_an_inserted_row_holds_its_id_and_defaults_and_is_stored_once(ow, clock):
    case_no = new_ad_case(ow)
    now = clock.now()
    with writing(ow.db) as session:
        case = find_case(session, case_no)
        row = insert_row(session, Deadline(case_id=case.id, kind="correction", started_on=date(2026, 12, 3),
                                           due_at=now + timedelta(days=3)))
        assert row.id is not None and row not in session.new and row not in session.dirty
        seen = _statements(session)
        assert (row.ladder, row.stage, row.is_open, row.paused_days, row.closed_at) == ("default", "running", True,
                                                                                        0, None)
        session.flush()
        assert seen == []
        row_id = row.id
    with reading(ow.db) as session:
        stored = session.scalars(select(Deadline).where(Deadline.id == row_id)).all()
        assert [(r.kind, r.ladder, r.due_at) for r in stored] == [("correction", "default", now + timedelta(days=3))]


def test_a_changed_relationship_is_refused_by_write_through_and_nothing_is_stored(ow):
    case_no = new_ad_case(ow)
    with pytest.raises(TypeError, match="a changed relationship needs the flush"), writing(ow.db) as session:
        item = session.scalars(select(WorkItem).join(Case).where(Case.case_no == case_no)).one()
        item.name = "renamed"
        item.groups.append(WorkItemGroup(group_code="reviewer", department_id=0, due_key="z"))
        write_through(session, item)
    with reading(ow.db) as session:
        item = session.scalars(select(WorkItem).join(Case).where(Case.case_no == case_no)).one()
        assert item.name != "renamed" and [g.group_code for g in item.groups] == ["window"]
