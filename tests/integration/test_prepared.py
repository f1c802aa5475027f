"""Prepared statements and adopted rows: stored and read exactly as through SQLAlchemy, in the same transaction."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from engine.errors import Conflict
from engine.services.casework import find_case
from engine.store.models import Case, CaseEvent, ProcessVersion, WorkItem
from engine.store.prepared import Prepared
from engine.store.uow import reading, writing
from engine.store.writes import adopt, loaded_columns, write_through
from tests.integration.helpers import new_ad_case

_WI = WorkItem.__table__
_PREPARED_ITEM = Prepared(insert(_WI).returning(_WI.c.id))
_ITEMS_OF = Prepared(select(_WI.c.task_id, _WI.c.is_open, _WI.c.created_at, _WI.c.due_at)
                     .where(_WI.c.id.in_(bindparam("ids", expanding=True))).order_by(_WI.c.id))
_EVENT = Prepared(insert(CaseEvent.__table__))
_PV = ProcessVersion.__table__
_VERSION_ROW = Prepared(select(*loaded_columns(ProcessVersion)).where(_PV.c.item_code == bindparam("code")))


def _item(case_id: int, task_id: str, created_at: datetime, **extra) -> dict:
    return {"case_id": case_id, "task_id": task_id, "bpmn_id": "review", "name": "审查", "form_key": None,
            "candidate_groups": "reviewer", "assignee": None, "department_id": None, "is_open": True,
            "created_at": created_at, "due_at": None, "card_level": "none", **extra}


def test_prepared_rows_read_back_through_the_orm_as_written_and_the_other_way_round(ow, clock):
    case_no = new_ad_case(ow)
    # Eight hours east of UTC: what is stored and read back is the same instant, in UTC.
    created = datetime(2026, 3, 10, 18, 30, 5, 123456, tzinfo=timezone(timedelta(hours=8)))
    with writing(ow.db) as session:
        case = find_case(session, case_no)
        prepared_id = _PREPARED_ITEM.rows(session, _item(case.id, "prepared-1", created))[0].id
        _EVENT.run(session, {"case_id": case.id, "seq": 99, "type": "note", "actor": "window1", "acting_for": None,
                             "payload": {"意见": "同意", "n": [1, 2.5, None]}, "at": created, "state_hash": "s",
                             "prev_hash": "p", "hash": "h"})
        orm_item = WorkItem(**_item(case.id, "orm-1", created, is_open=False))
        session.add(orm_item)
        session.flush()
        orm_id = orm_item.id
    with reading(ow.db) as session:
        stored = session.get(WorkItem, prepared_id)
        assert (stored.task_id, stored.is_open, stored.created_at, stored.due_at) == ("prepared-1", True, created, None)
        assert stored.created_at.tzinfo == UTC
        event = session.scalars(select(CaseEvent).where(CaseEvent.seq == 99)).one()
        assert (event.payload, event.at) == ({"意见": "同意", "n": [1, 2.5, None]}, created)
        rows = _ITEMS_OF.rows(session, {"ids": [prepared_id, orm_id]})
    assert [(r.task_id, r.is_open, r.created_at, r.due_at) for r in rows] == [
        ("prepared-1", True, created, None), ("orm-1", False, created, None)]
    assert all(type(r.is_open) is bool and r.created_at.tzinfo == UTC for r in rows)


def test_in_lists_of_any_length_expand_and_an_empty_one_matches_nothing(ow, clock):
    case_no = new_ad_case(ow)
    with writing(ow.db) as session:
        case = find_case(session, case_no)
        ids = [_PREPARED_ITEM.rows(session, _item(case.id, f"t{i}", clock.now()))[0].id for i in range(3)]
    with reading(ow.db) as session:
        for chosen in ([], ids[:1], ids[1:], ids, [ids[2], ids[0]]):
            found = [r.task_id for r in _ITEMS_OF.rows(session, {"ids": chosen})]
            assert found == [f"t{ids.index(i)}" for i in sorted(chosen)]


def test_a_value_its_column_type_refuses_is_refused_before_anything_runs(ow):
    case_no = new_ad_case(ow)
    with pytest.raises(ValueError, match="naive datetimes"), writing(ow.db) as session:
        _PREPARED_ITEM.rows(session, _item(find_case(session, case_no).id, "naive", datetime(2026, 3, 10, 10)))
    with reading(ow.db) as session:
        assert session.scalar(select(WorkItem.id).where(WorkItem.task_id == "naive")) is None


class Abandoned(Exception):
    """A unit of work given up after the error it was opened to see."""


def test_a_prepared_statement_runs_in_the_session_transaction_and_its_driver_errors_are_sqlalchemys(ow, clock):
    case_no = new_ad_case(ow)
    with reading(ow.db) as session:
        before = session.scalar(select(WorkItem.id).where(WorkItem.task_id.like("dup%")))
    with pytest.raises(Conflict, match="collides with one already stored"), writing(ow.db) as session:
        case_id = find_case(session, case_no).id
        _PREPARED_ITEM.rows(session, _item(case_id, "dup", clock.now()))
        # The same task id again violates the unique index: the first insert is rolled back with the transaction.
        _PREPARED_ITEM.rows(session, _item(case_id, "dup", clock.now()))
    # Before the unit of work turns it into Conflict, the driver's error itself comes back as SQLAlchemy's.
    with pytest.raises(Abandoned), writing(ow.db) as session:
        with pytest.raises(IntegrityError):
            _PREPARED_ITEM.rows(session, _item(-1, "no-such-case", clock.now()))
        raise Abandoned
    with reading(ow.db) as session:
        assert session.scalar(select(WorkItem.id).where(WorkItem.task_id.like("dup%"))) is before is None
        assert session.scalar(select(WorkItem.id).where(WorkItem.task_id == "no-such-case")) is None


def test_an_adopted_row_is_a_clean_loaded_object_whose_deferred_columns_load_when_read(ow):
    with reading(ow.db) as session:
        adopted = adopt(session, ProcessVersion, _VERSION_ROW.rows(session, {"code": "outdoor-ad"})[0]._asdict())
        assert adopted in session and adopted not in session.dirty and not session.new
        assert "spec_json" not in adopted.__dict__
        loaded = session.scalars(select(ProcessVersion).where(ProcessVersion.item_code == "outdoor-ad")).one()
        # The query finds the adopted object in the identity map: one object per row, as the ORM keeps it.
        assert loaded is adopted
        assert adopted.spec_json.startswith("{") and adopted.manifest["code"] == "outdoor-ad"


def test_an_object_already_in_the_session_wins_over_the_row_adopted_for_it(ow):
    case_no = new_ad_case(ow)
    with writing(ow.db) as session:
        case = find_case(session, case_no)
        case.status = "IN_REVIEW"
        row = {c.key: getattr(case, c.key) for c in loaded_columns(Case)} | {"status": "RECEIVED"}
        assert adopt(session, Case, row) is case and case.status == "IN_REVIEW"


def test_an_adopted_case_is_written_through_with_its_version_check(ow):
    case_no = new_ad_case(ow)
    with reading(ow.db) as session:
        values = {c.key: getattr(find_case(session, case_no), c.key) for c in loaded_columns(Case)}
    with writing(ow.db) as session:
        case = adopt(session, Case, values)
        case.status = "IN_REVIEW"
        write_through(session, case)
    with pytest.raises(Conflict, match="someone else changed this case first"), writing(ow.db) as session:
        # The values read before the first write carry its old row_version: the second write is stale.
        stale = adopt(session, Case, values)
        stale.status = "WITHDRAWN"
        write_through(session, stale)
    with reading(ow.db) as session:
        stored = find_case(session, case_no)
        assert (stored.status, stored.row_version) == ("IN_REVIEW", values["row_version"] + 1)
