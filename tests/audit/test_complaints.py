"""Complaint handling (效能投诉): stages in order by a supervisor, events on the case, reply deadlines, verify."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from engine.clock.settings import ClockSettings, parse_settings
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.services import audit, complaints, portal, supervision
from engine.store.uow import writing
from tests.audit.case_admin import footprint, last_event
from tests.integration.helpers import accepted_ad_case

STEPS = [("investigated", "已调取窗口录像"), ("resolved", "窗口人员已批评教育"), ("answered", "已电话答复投诉人"),
         ("archived", "归档")]


def _complaint(ow) -> tuple[str, int]:
    case_no = accepted_ad_case(ow)
    filed = portal.complain(ow, case_no, "窗口没有一次性告知所缺材料", username="zhangsan")
    return case_no, filed["complaint_id"]


def test_a_supervisor_takes_a_complaint_through_every_stage(ow):
    case_no, complaint_id = _complaint(ow)
    for stage, note in STEPS:
        result = complaints.advance_complaint(ow, complaint_id, "supervisor1", stage, note)
        assert result["to"] == stage
        event = last_event(ow, case_no)
        assert (event["type"], event["actor"]) == (f"complaint_{stage}", "supervisor1")
        assert event["payload"]["complaint_id"] == complaint_id and event["payload"]["text"] == note
        assert "status" not in event["payload"]  # it would be read as the case's status
    assert complaints.complaint_queue(ow, "auditor1") == []
    (row,) = complaints.complaint_queue(ow, "auditor1", include_archived=True)
    assert (row["status"], row["reply_status"], row["next_stage"]) == ("archived", "answered", None)
    assert [r["action"] for r in audit.read_log(ow, "auditor1")] == ["complaints", "complaints"]
    assert audit.verify_history(ow, case_no)["problems"] == []
    assert audit.case_as_of(ow, case_no)["status"] == "ACCEPTED"


@pytest.mark.parametrize(("actor", "to", "note", "error"), [
    ("supervisor1", "answered", "跳过调查直接答复", Conflict),      # stages go in order
    ("supervisor1", "received", "退回接收", InvalidInput),          # there is no way back
    ("supervisor1", "closed", "未知阶段", InvalidInput),
    ("supervisor1", "investigated", "", InvalidInput),            # every stage needs its text
    ("auditor1", "investigated", "审计员只读", Forbidden),
    ("head1", "investigated", "局长不是督办", Forbidden),
])
def test_illegal_transitions_are_refused_and_change_nothing(ow, actor, to, note, error):
    case_no, complaint_id = _complaint(ow)
    before = footprint(ow, case_no)
    with pytest.raises(error):
        complaints.advance_complaint(ow, complaint_id, actor, to, note)
    assert footprint(ow, case_no) == before
    assert complaints.complaint_queue(ow, "supervisor1")[0]["status"] == "received"


def test_an_archived_complaint_has_no_further_stage_and_unknown_ones_are_not_found(ow):
    case_no, complaint_id = _complaint(ow)
    for stage, note in STEPS:
        complaints.advance_complaint(ow, complaint_id, "supervisor1", stage, note)
    before = footprint(ow, case_no)
    with pytest.raises(Conflict, match="no further stage"):
        complaints.advance_complaint(ow, complaint_id, "supervisor1", "archived", "再次归档")
    with pytest.raises(NotFound):
        complaints.advance_complaint(ow, 9999, "supervisor1", "investigated", "没有这件投诉")
    assert footprint(ow, case_no) == before


def test_unanswered_complaints_become_overdue_in_the_figures(ow, clock):
    case_no, complaint_id = _complaint(ow)
    report = supervision.supervision_report(ow, "supervisor1", "2026-03-01", "2026-03-31")
    (row,) = report["complaints"]
    assert (row["complaint_id"], row["reply_status"]) == (complaint_id, "open") and report["overdue_complaints"] == []
    # Filed Tue 2026-03-10: 15 working days later is Tue 2026-03-31; a day after it the reply is late.
    assert row["reply_by"].startswith("2026-03-31")
    clock.set(clock.now() + timedelta(days=22))
    complaints.advance_complaint(ow, complaint_id, "supervisor1", "investigated", "调查中")
    report = supervision.supervision_report(ow, "supervisor1", "2026-04-01", "2026-04-30")
    assert report["complaints"] == []  # filed in March, yet overdue whatever period is shown
    assert [(c["complaint_id"], c["status"]) for c in report["overdue_complaints"]] == [(complaint_id, "investigated")]
    complaints.advance_complaint(ow, complaint_id, "supervisor1", "resolved", "已处理")
    complaints.advance_complaint(ow, complaint_id, "supervisor1", "answered", "已答复")
    report = supervision.supervision_report(ow, "supervisor1", "2026-03-01", "2026-03-31")
    assert report["overdue_complaints"] == [] and report["complaints"][0]["reply_status"] == "answered_late"
    export = supervision.export_rows(ow, "auditor1", "complaints", "2026-03-01", "2026-03-31")
    assert export["rows"][0]["answered_at"] and "reply_by" in export["columns"]
    assert case_no == export["rows"][0]["case_no"]


def test_reply_and_rectification_limits_are_settings(ow, monkeypatch):
    assert parse_settings("[clock]\ncomplaint_reply_days = 5\n", "c.toml").complaint_reply_days == 5
    with pytest.raises(InvalidInput):
        ClockSettings(bad_review_rectify_days=0)
    monkeypatch.setattr(supervision, "load_settings", lambda: ClockSettings(complaint_reply_days=1))
    _complaint(ow)
    (row,) = supervision.supervision_report(ow, "supervisor1", "2026-03-01", "2026-03-31")["complaints"]
    assert row["reply_by"].startswith("2026-03-11")  # one working day after Tue 03-10


def test_a_complaint_stage_edited_in_the_database_is_named_by_verify(ow):
    case_no, complaint_id = _complaint(ow)
    complaints.advance_complaint(ow, complaint_id, "supervisor1", "investigated", "调查中")
    assert audit.verify_history(ow)["problems"] == []
    with writing(ow.db) as s:  # someone hides an unanswered complaint from the overdue list
        s.execute(text("UPDATE complaint SET status = 'archived' WHERE id = :i"), {"i": complaint_id})
    problems = audit.verify_history(ow)["problems"]
    assert [(p["case_no"], p["check"]) for p in problems] == [(case_no, "complaint")]
    assert f"complaint {complaint_id} is stored as archived" in problems[0]["problem"]
