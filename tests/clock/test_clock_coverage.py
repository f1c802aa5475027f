"""Legal-clock behaviours that worked by hand but had no test: escalation one level up, P5D step limits, timer catches."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine import services
from engine.clock.deadlines import waiting_timers
from engine.services.casework import CaseChange, find_case
from engine.store.models import Case, Deadline, Notification, WorkItem
from engine.store.uow import reading, writing
from tests.integration.helpers import AD_APPLICATION, accepted_ad_case, only_task
from tests.staff import add_staff

SH = ZoneInfo("Asia/Shanghai")
ITEMS = Path(__file__).resolve().parent / "items"

# A supervisor inside the department handling outdoor-advertising cases (city-urban, under city-centre).
URBAN_SUPERVISOR = """
[[users]]
username = "urban_supervisor"
display_name = "钱督查"
department = "city-urban"
groups = ["supervisor"]
"""


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(UTC)


def open_clocks(ow, case_no: str) -> dict[str, dict]:
    """The case's open clocks by kind (steps by BPMN id)."""
    return {(c["bpmn_id"] if c["kind"] == "step" else c["kind"]): c
            for c in services.case_detail(ow, case_no)["clocks"] if c["is_open"]}


def sweep_at(ow, clock, when: str) -> list[dict]:
    """Move the manual clock to a Shanghai time and run the sweeper at the clock's now."""
    clock.set(at(when))
    return services.sweep(ow)


def notifications(ow, kind: str) -> list:
    """Notification rows of one kind (recipient, body, respond_by, deadline_id), oldest first."""
    with reading(ow.db) as s:
        return list(s.execute(select(Notification.recipient, Notification.body, Notification.respond_by,
                                     Notification.deadline_id)
                              .where(Notification.kind == kind).order_by(Notification.id)).all())


# --- 1. escalation one organisation level up ----------------------------------------------------------------

def test_yellow_card_urges_the_department_supervisor_and_red_escalates_one_level_up(ow, clock, tmp_path):
    add_staff(ow, tmp_path, URBAN_SUPERVISOR)
    case_no = accepted_ad_case(ow)  # Tue 03-10: promised 3 wd and the review step 3 wd, both due Fri 03-13
    review = only_task(ow, "reviewer1", "review", case_no)
    services.claim(ow, review, "reviewer1")  # the handler holds the task

    warned = sweep_at(ow, clock, "2026-03-13T00:10")
    assert sorted((f["clock"], f["event"]) for f in warned) == [("promised", "warning_issued"),
                                                                 ("step", "warning_issued")]
    assert {r for f in warned for r in f["recipients"]} == {"reviewer1"}

    yellow = sweep_at(ow, clock, "2026-03-14T08:00")
    assert sorted((f["clock"], f["event"]) for f in yellow) == [("promised", "yellow_card_issued"),
                                                                ("step", "yellow_card_issued")]
    for fired in yellow:
        # The urging notice goes to the handler and the supervisors of the case's own department only.
        assert fired["recipients"] == ["reviewer1", "urban_supervisor"]
        assert fired["respond_by"] == at("2026-03-17T23:59:59.999999").isoformat()  # 2 wd after Sat 03-14
    urging = notifications(ow, "urging_notice")
    assert sorted((n.body["clock"], n.recipient) for n in urging) == [
        ("promised", "reviewer1"), ("promised", "urban_supervisor"), ("step", "reviewer1"),
        ("step", "urban_supervisor")]
    assert all(n.respond_by == at("2026-03-17T23:59:59.999999") for n in urging)
    assert all(n.body["case_no"] == case_no and "escalated_to" not in n.body for n in urging)
    assert {n.body["bpmn_id"] for n in urging if n.body["clock"] == "step"} == {"review"}

    assert [f for f in sweep_at(ow, clock, "2026-03-17T23:59") if f["event"] == "red_card_issued"] == []
    red = sweep_at(ow, clock, "2026-03-18T00:05")
    assert sorted((f["clock"], f["event"]) for f in red) == [("promised", "red_card_issued"),
                                                             ("step", "red_card_issued")]
    for fired in red:
        # One level above city-urban's supervisor: city-centre's supervisor1, with the department's head.
        assert fired["recipients"] == ["head1", "supervisor1"] and fired["respond_by"] is None
    red_cards = notifications(ow, "red_card")
    assert sorted((n.body["clock"], n.recipient) for n in red_cards) == [
        ("promised", "head1"), ("promised", "supervisor1"), ("step", "head1"), ("step", "supervisor1")]
    assert {n.body["escalated_to"] for n in red_cards} == {"city-centre"}
    assert all(n.respond_by is None for n in red_cards)
    assert "urban_supervisor" not in {n.recipient for n in red_cards}
    assert "supervisor1" not in {n.recipient for n in urging}

    events = {(e["type"], e["payload"]["clock"]): e for e in services.history(ow, case_no)
              if e["type"] in ("warning_issued", "yellow_card_issued", "red_card_issued")}
    assert len(events) == 6  # each stage of each clock exactly once
    for clock_kind in ("promised", "step"):
        yellow_event, red_event = events[("yellow_card_issued", clock_kind)], events[("red_card_issued", clock_kind)]
        assert yellow_event["actor"] == red_event["actor"] == "system"
        assert yellow_event["payload"]["recipients"] == ["reviewer1", "urban_supervisor"]
        assert red_event["payload"]["recipients"] == ["head1", "supervisor1"]
        assert red_event["payload"]["deadline_id"] == yellow_event["payload"]["deadline_id"]
        assert red_event["payload"]["due_at"] == at("2026-03-13T23:59:59.999999").isoformat()
    assert events[("red_card_issued", "step")]["payload"]["bpmn_id"] == "review"
    with reading(ow.db) as s:
        stages = dict(s.execute(select(Deadline.kind, Deadline.stage).where(
            Deadline.kind.in_(("promised", "step")), Deadline.is_open.is_(True))).all())
        card = s.scalar(select(WorkItem.card_level).where(WorkItem.task_id == review))
    assert stages == {"promised": "red", "step": "red"} and card == "red"
    assert [f for f in sweep_at(ow, clock, "2026-03-25T00:00") if f["clock"] != "statutory"] == []  # red is last
    assert services.verify_history(ow, case_no)["problems"] == []


# --- 2. a step limit in calendar days ------------------------------------------------------------------------

def test_a_p5d_step_limit_counts_calendar_days_while_3wd_skips_the_holiday_and_weekend(ow, clock):
    services.deploy_paths(ow, [ITEMS / "clock-calendar-days.item.toml"], "admin")
    clock.set(at("2026-06-17T10:00"))  # Wed; Fri 06-19 is the Dragon Boat holiday, then the weekend
    case_no = services.apply(ow, "clock-calendar-days", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1")
    c = open_clocks(ow, case_no)
    survey, review = c["survey"], c["review"]
    # Start day not counted: 06-18 … 06-22 are the 5 calendar days, due at the end of Mon 06-22 in Shanghai.
    assert (survey["budget"], survey["unit"], survey["provisional"]) == (5, "d", False)
    assert survey["due_at"] == at("2026-06-22T23:59:59.999999").isoformat()
    assert survey["due_local"] == "2026-06-22 23:59"
    # 3 wd skips the holiday and the weekend: Thu 06-18, Mon 06-22, Tue 06-23.
    assert (review["budget"], review["unit"]) == (3, "wd")
    assert review["due_at"] == at("2026-06-23T23:59:59.999999").isoformat()
    with reading(ow.db) as s:
        due = dict(s.execute(select(WorkItem.bpmn_id, WorkItem.due_at).where(WorkItem.is_open.is_(True))).all())
    assert due == {"survey": at("2026-06-22T23:59:59.999999"), "review": at("2026-06-23T23:59:59.999999")}

    def step_events(fired: list[dict]) -> list[tuple[str, str]]:
        return sorted((f["bpmn_id"], f["event"]) for f in fired if f["clock"] == "step")

    # Calendar-day warning: the last fifth of the 5 days, i.e. from the end of Sun 06-21.
    assert step_events(sweep_at(ow, clock, "2026-06-21T23:00")) == []
    assert step_events(sweep_at(ow, clock, "2026-06-22T08:00")) == [("survey", "warning_issued")]
    assert step_events(sweep_at(ow, clock, "2026-06-22T23:59")) == []
    # The first instant after the due day: the P5D step is overdue, the 3wd step only warned.
    assert step_events(sweep_at(ow, clock, "2026-06-23T00:01")) == [("review", "warning_issued"),
                                                                     ("survey", "yellow_card_issued")]
    c = open_clocks(ow, case_no)
    assert (c["survey"]["overdue"], c["review"]["overdue"]) == (True, False)
    assert step_events(sweep_at(ow, clock, "2026-06-24T00:01")) == [("review", "yellow_card_issued")]


# --- 3. an intermediate timer catch event --------------------------------------------------------------------

def test_an_intermediate_timer_fires_only_on_the_first_sweep_after_its_working_day_due(ow, clock):
    services.deploy_paths(ow, [ITEMS / "clock-wait.item.toml"], "admin")
    case_no = services.apply(ow, "clock-wait", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1")
    clock.set(at("2026-03-12T10:00"))  # Thu
    services.complete(ow, only_task(ow, "reviewer1", "review", case_no), "reviewer1",
                      {"decision": "pass", "opinion": "可以公示"})
    detail = services.case_detail(ow, case_no)
    assert detail["open_tasks"] == []
    timer = open_clocks(ow, case_no)["timer"]
    # limit 2wd from Thu 03-12 (not counted): Fri 03-13 and Mon 03-16, due at the end of Monday.
    assert (timer["bpmn_id"], timer["rule"], timer["budget"], timer["unit"]) == ("cooling", "step-limit", 2, "wd")
    assert timer["due_at"] == at("2026-03-16T23:59:59.999999").isoformat()
    with reading(ow.db) as s:
        assert "9999-12-31" in s.scalar(select(Case.state_json).where(Case.case_no == case_no))

    clock.set(at("2026-03-14T10:00"))  # long past the timer's own "PT1S", and past two calendar days
    with writing(ow.db) as s:
        change = CaseChange(ow, s, find_case(s, case_no))
        change.wf.refresh_timers()
        change.wf.do_engine_steps()
        assert [t.task_spec.bpmn_id for t in waiting_timers(change.wf)] == ["cooling"]
        s.rollback()

    def timer_events(fired: list[dict]) -> list[dict]:
        return [f for f in fired if f["event"] == "timer_fired"]

    assert timer_events(services.sweep(ow)) == []
    assert timer_events(sweep_at(ow, clock, "2026-03-16T23:59:59")) == []
    assert [t for t in services.inbox(ow, "chief1") if t["case_no"] == case_no] == []

    fired = timer_events(sweep_at(ow, clock, "2026-03-17T00:00:01"))
    assert len(fired) == 1
    assert {k: fired[0][k] for k in ("case_no", "bpmn_id", "rule", "timer", "due_at", "status")} == {
        "case_no": case_no, "bpmn_id": "cooling", "rule": "step-limit", "timer": "公示期",
        "due_at": at("2026-03-16T23:59:59.999999").isoformat(), "status": "IN_REVIEW"}
    assert timer_events(services.sweep(ow)) == []  # exactly once
    event = services.history(ow, case_no)[-1]
    assert (event["type"], event["actor"]) == ("timer_fired", "system")
    assert event["payload"]["bpmn_id"] == "cooling" and event["payload"]["task_id"] == fired[0]["task_id"]
    assert "timer" not in open_clocks(ow, case_no)

    decide = only_task(ow, "chief1", "decide", case_no)
    assert [t["bpmn_id"] for t in services.case_detail(ow, case_no)["open_tasks"]] == ["decide"]
    assert services.verify_history(ow, case_no)["problems"] == []
    services.complete(ow, decide, "chief1", {"decision": "approve", "opinion": "公示无异议，准予"})
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"]) == ("DECIDED", "approved")
    assert services.audit.verify_history(ow, case_no)["problems"] == []
