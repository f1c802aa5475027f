"""The as-of view, rebuilt by re-execution, matches what the running system showed after every step."""
from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import select, text

from engine import services
from engine.errors import Forbidden, InvalidInput
from engine.services import audit
from engine.store.models import AuditRead, CaseCheckpoint
from engine.store.uow import reading, writing
from tests.audit.helpers import many_returns, returned_twice_then_approved
from tests.integration.helpers import accepted_ad_case, only_task


def test_every_as_of_view_equals_the_state_captured_while_the_case_ran(ow):
    case_no, shots = returned_twice_then_approved(ow)
    assert [s["seq"] for s in shots] == list(range(1, len(shots) + 1))
    for shot in shots:
        view = audit.case_as_of(ow, case_no, shot["seq"])
        assert view["verified"], (shot["seq"], view["problems"])
        assert view["replayed_state_hash"] == shot["state_hash"] == view["state_hash"]
        assert view["status"] == shot["status"], shot["seq"]
        open_now = sorted((t["bpmn_id"], t["task_id"], t["assignee"]) for t in view["open_tasks"])
        assert open_now == shot["open"], shot["seq"]
    final = audit.case_as_of(ow, case_no)
    assert (final["status"], final["result"], final["seq"]) == ("DECIDED", "approved", len(shots))


def test_as_of_view_shows_the_data_diagram_and_timeline_of_that_moment(ow):
    case_no, shots = returned_twice_then_approved(ow)
    returned = audit.case_as_of(ow, case_no, 4, diagram=True)
    assert returned["event"]["type"] == "task_completed"
    assert returned["data"]["decision"] == "return"
    assert returned["highlights"]["review"] == "completed" and returned["highlights"]["rework"] == "active"
    assert "decide" not in returned["highlights"]
    shapes = {g.get("id"): g.get("class", "").split() for g in etree.fromstring(returned["diagram_svg"].encode()).iter()
              if g.get("id")}
    assert "active" in shapes["rework"] and "completed" in shapes["review"] and "active" not in shapes["decide"]
    assert [e["seq"] for e in returned["timeline"]] == list(range(1, len(shots) + 1))
    # Later data is not visible earlier: the approval's certificate number appears only at the end.
    assert "certificate_no" not in returned["data"]
    assert audit.case_as_of(ow, case_no)["data"]["certificate_no"] == "HG-7"


def test_as_of_refuses_a_sequence_outside_the_history(ow):
    case_no, shots = returned_twice_then_approved(ow)
    for bad in (0, len(shots) + 1):
        with pytest.raises(InvalidInput):
            audit.case_as_of(ow, case_no, bad)


def test_auditor_reads_are_logged_outside_the_case_chain_and_others_are_refused(ow):
    case_no, shots = returned_twice_then_approved(ow)
    audit.case_as_of(ow, case_no, 3, reader="auditor1")
    audit.case_as_of(ow, case_no, 5, reader="supervisor1")
    with pytest.raises(Forbidden):
        audit.case_as_of(ow, case_no, 3, reader="window1")
    log = audit.read_log(ow, "auditor1", case_no)
    assert [(r["username"], r["detail"]["seq"]) for r in log] == [("supervisor1", 5), ("auditor1", 3)]
    with reading(ow.db) as s:
        assert s.query(AuditRead).count() == 2
    # Reading did not touch the case's history.
    assert audit.case_as_of(ow, case_no)["last_seq"] == len(shots)
    assert audit.verify_history(ow, case_no)["problems"] == []


def test_long_history_starts_from_checkpoints_and_ignores_a_tampered_one(ow):
    case_no, shots = many_returns(ow, 9)  # 29 events: a checkpoint at event 20
    with reading(ow.db) as s:
        assert s.scalars(select(CaseCheckpoint.seq)).all() == [20]
    for shot in shots:
        view = audit.case_as_of(ow, case_no, shot["seq"])
        assert view["verified"] and view["replayed_state_hash"] == shot["state_hash"], shot["seq"]
        assert sorted((t["bpmn_id"], t["task_id"], t["assignee"]) for t in view["open_tasks"]) == shot["open"]
    with writing(ow.db) as s:
        s.execute(text("UPDATE case_checkpoint SET state_json = REPLACE(state_json, '\"return\"', '\"pass\"')"))
    problems = audit.verify_history(ow)["problems"]
    assert [(p["seq"], p["check"]) for p in problems] == [(20, "checkpoint")]
    late = audit.case_as_of(ow, case_no, 23)
    assert late["verified"] and late["replayed_state_hash"] == shots[21]["state_hash"]


def test_a_task_past_its_due_time_is_overdue_as_of_then_even_before_any_sweep(ow, clock):
    case_no = accepted_ad_case(ow)
    review = services.inbox(ow, "reviewer1", scope="groups")[0]
    assert review["case_no"] == case_no
    services.claim(ow, review["task_id"], "reviewer1")
    on_time = services.case_detail(ow, case_no)["events"][-1]["seq"]
    clock.advance(days=30)  # far past the review step's 3 working days; no sweep runs in between
    services.unclaim(ow, review["task_id"], "reviewer1")
    late = services.case_detail(ow, case_no)["events"][-1]["seq"]
    assert audit.case_as_of(ow, case_no, on_time)["highlights"]["review"] == "active"
    assert audit.case_as_of(ow, case_no, late)["highlights"]["review"] == "overdue"


def test_a_claim_that_is_the_twentieth_event_is_checkpointed_too(ow):
    case_no = accepted_ad_case(ow)  # events 1–2
    review = only_task(ow, "reviewer1", "review", case_no)
    services.claim(ow, review, "reviewer1")
    services.unclaim(ow, review, "reviewer1")  # events 3–4: every later claim lands on 5, 8, … 20
    for n in range(6):
        review = only_task(ow, "reviewer1", "review", case_no)
        services.claim(ow, review, "reviewer1")
        if n < 5:
            services.complete(ow, review, "reviewer1", {"decision": "return", "opinion": f"第{n + 1}次退回"})
            services.complete(ow, only_task(ow, "window1", "rework", case_no), "window1", {"supplemented": ["图纸"]})
    with reading(ow.db) as s:
        assert s.scalars(select(CaseCheckpoint.seq)).all() == [20]
        assert s.scalar(text("SELECT type FROM case_event WHERE seq = 20")) == "claimed"
    assert audit.verify_history(ow)["problems"] == []
    assert audit.case_as_of(ow, case_no, 20)["verified"]
