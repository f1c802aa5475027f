"""Re-execution of the other areas' state changes: the legal clock's events, joint approval and BPMN timers."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from engine import services
from engine.history import append_event
from engine.services import audit
from engine.services.casework import find_case
from engine.store.uow import writing
from tests.audit.helpers import snapshot
from tests.integration.helpers import AD_APPLICATION, new_ad_case, only_task
from tests.patterns.helpers import PLANNING, accepted, complete_only

CLOCK_ITEMS = Path(__file__).resolve().parents[1] / "clock" / "items"


def shanghai(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def _types(ow, case_no: str) -> list[str]:
    return [e["type"] for e in services.history(ow, case_no)]


def test_clock_events_replay_and_show_their_status_stage_and_cards(ow, clock):
    case_no = new_ad_case(ow)
    clock.set(shanghai("2026-03-18T09:00:00"))  # 6 working days without an intake decision
    services.sweep(ow, ow.clock.now())
    assert "deemed_accepted" in _types(ow, case_no)
    services.suspend(ow, case_no, "reviewer1", "专家评审", "需要结构安全评审", expected_days=3)
    suspended = snapshot(ow, case_no)
    clock.set(shanghai("2026-03-20T10:00:00"))
    services.resume(ow, case_no, "reviewer1", "评审结束")
    services.extend(ow, case_no, "head1", 2, "情况复杂")
    services.request_correction(ow, case_no, "reviewer1", ["场地使用权证明"])
    services.receive_correction(ow, case_no, "window1")
    clock.set(shanghai("2026-04-10T10:00:00"))
    services.sweep(ow, ow.clock.now())
    carded = snapshot(ow, case_no)
    types = _types(ow, case_no)
    assert {"clock_paused", "clock_resumed", "extension_granted", "correction_requested",
            "correction_received", "yellow_card_issued"} <= set(types), types
    clock.set(shanghai("2026-04-13T10:00:00"))
    services.complete(ow, only_task(ow, "reviewer1", "review", case_no), "reviewer1", {"decision": "refuse", "opinion": "否"})

    assert audit.verify_history(ow) == {"cases_checked": 1, "problems": []}
    at_pause = audit.case_as_of(ow, case_no, suspended["seq"])
    assert at_pause["verified"] and at_pause["status"] == "SUSPENDED" == suspended["status"]
    at_card = audit.case_as_of(ow, case_no, carded["seq"])
    assert at_card["status"] == carded["status"] and at_card["replayed_state_hash"] == carded["state_hash"]
    promised = next(c for c in at_card["clocks"] if c["kind"] == "promised")
    assert promised["stage"] in ("yellow", "red") and promised["overdue"]
    assert at_card["highlights"]["review"] == "overdue"
    assert {c["card"] for c in at_card["cards"]} >= {"yellow"}
    assert next(c for c in at_pause["clocks"] if c["kind"] == "promised")["stage"] == "running"


def test_joint_approval_replays_each_department_instance(ow):
    case_no = accepted(ow, "building-planning", PLANNING)
    complete_only(ow, "housing_reviewer", "joint_review", {"decision": "agree", "opinion": "同意"})
    partial = snapshot(ow, case_no)
    complete_only(ow, "ecology_reviewer", "joint_review", {"decision": "agree", "opinion": "同意"})
    complete_only(ow, "nature_reviewer", "joint_review", {"decision": "agree", "opinion": "同意"})
    complete_only(ow, "nature_chief", "decide", {"decision": "approve", "opinion": "准予"})
    assert audit.verify_history(ow) == {"cases_checked": 1, "problems": []}
    view = audit.case_as_of(ow, case_no, partial["seq"])
    assert view["verified"]
    assert sorted((t["bpmn_id"], t["task_id"], t["assignee"]) for t in view["open_tasks"]) == partial["open"]
    assert len(view["open_tasks"]) == 2


def test_a_bpmn_timer_fired_by_the_sweeper_replays(ow, clock):
    services.deploy_paths(ow, [CLOCK_ITEMS / "clock-renewal.item.toml"], "admin")
    case_no = services.apply(ow, "clock-renewal", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1")
    services.sweep(ow, shanghai("2026-03-20T18:01:00"))
    assert "deemed_renewed" in _types(ow, case_no)
    assert audit.verify_history(ow) == {"cases_checked": 1, "problems": []}


def test_an_unknown_event_that_changed_the_state_is_reported_never_passed(ow):
    case_no = new_ad_case(ow)
    services.accept(ow, case_no, "window1")
    with writing(ow.db) as s:
        case = find_case(s, case_no)
        # A correctly chained event of a type no re-executor knows, claiming a new state.
        append_event(s, case, "magic_fix", "admin", {}, ow.clock.now(), "ab" * 32)
        seq = case.last_seq
        append_event(s, case, "note_added", "admin", {"text": "无状态变化"}, ow.clock.now(), "ab" * 32)
        s.execute(select(1))
    problems = audit.verify_history(ow)["problems"]
    reported = [(p["seq"], p["problem"]) for p in problems if p["check"] == "replay"]
    assert reported == [(seq, f"cannot re-execute event type magic_fix at seq {seq}: it changed the workflow state")]
