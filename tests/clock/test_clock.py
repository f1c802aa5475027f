"""The legal clock on the real stack: calendar rows, case/step clocks, pauses, extensions, ladder and timers."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from engine import services
from engine.cli import main
from engine.clock.deadlines import waiting_timers
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.services.casework import CaseChange, find_case
from engine.store.models import CalendarMeta, Case, CaseEvent, Deadline, Notification, WorkItem
from engine.store.uow import reading, writing
from tests.integration.helpers import AD_APPLICATION, accepted_ad_case, new_ad_case

SH = ZoneInfo("Asia/Shanghai")
NOTICE_2027 = Path(__file__).resolve().parents[2] / "engine" / "clock" / "data" / "notice-2027.example.toml"
ITEMS = Path(__file__).resolve().parent / "items"


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(UTC)


def clocks(ow, case_no: str) -> dict[str, dict]:
    """The case's open clocks by kind (steps by BPMN id)."""
    return {(c["bpmn_id"] if c["kind"] == "step" else c["kind"]): c
            for c in services.case_detail(ow, case_no)["clocks"] if c["is_open"]}


def event_types(ow, case_no: str) -> list[str]:
    return [e["type"] for e in services.history(ow, case_no)]


def tick(ow, when: str) -> dict:
    """Run `onewindow tick --now` on the test database and return its JSON output."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["tick", "--now", at(when).isoformat(), "--db", ow.db.url, "--json"]) == 0
    return json.loads(out.getvalue())


def test_seeded_calendar_knows_2026_national_day_and_spring_festival(ow):
    assert services.calendar_add(ow, date(2026, 9, 30), 1)["day"] == "2026-10-08"
    # 10-10 is a make-up Saturday, so the second working day after 10-08 is that Saturday.
    assert services.calendar_add(ow, date(2026, 10, 8), 2)["day"] == "2026-10-10"
    assert services.calendar_add(ow, date(2026, 2, 13), 1)["day"] == "2026-02-14"  # make-up Saturday
    assert services.calendar_add(ow, date(2026, 2, 14), 1)["day"] == "2026-02-24"
    assert services.calendar_add(ow, date(2025, 9, 26), 20)["day"] == "2025-10-30"
    between = services.calendar_between(ow, date(2026, 9, 30), date(2026, 10, 8))
    assert (between["working_days"], between["provisional"]) == (1, False)
    assert services.calendar_add(ow, date(2026, 12, 28), 5)["provisional"] is True
    assert services.seed_calendar(ow) is False  # idempotent


def test_accepting_starts_statutory_promised_and_step_clocks(ow):
    case_no = accepted_ad_case(ow)
    c = clocks(ow, case_no)
    # Accepted Tuesday 2026-03-10: 15 wd → 03-31, promised 3 wd → 03-13, review 3 wd → 03-13.
    assert c["statutory"]["due_local"].startswith("2026-03-31") and c["statutory"]["budget"] == 15
    assert c["promised"]["due_local"].startswith("2026-03-13")
    assert c["review"]["due_local"].startswith("2026-03-13") and c["review"]["provisional"] is False
    assert "intake" not in c  # the intake clock closed on acceptance
    with reading(ow.db) as s:
        item = s.scalar(select(WorkItem).where(WorkItem.bpmn_id == "review", WorkItem.is_open.is_(True)))
        assert item.due_at == at("2026-03-13T23:59:59.999999")


def test_deadline_into_2027_is_provisional_until_the_notice_is_imported(ow, clock):
    clock.set(at("2026-12-21T10:00"))
    case_no = accepted_ad_case(ow)
    statutory = clocks(ow, case_no)["statutory"]
    # 15 wd after Mon 2026-12-21 on the weekday rule: 2027-01-11, provisional.
    assert statutory["provisional"] is True and statutory["due_local"].startswith("2027-01-11")
    result = main(["calendar", "import", str(NOTICE_2027), "--db", ow.db.url, "--json"])
    assert result == 0
    statutory = clocks(ow, case_no)["statutory"]
    # The (example) notice makes Fri 2027-01-01 a holiday: one working day later, and final.
    assert statutory["provisional"] is False and statutory["due_local"].startswith("2027-01-12")
    events = services.history(ow, case_no)
    assert events[-1]["type"] == "deadline_recomputed"
    changed = {c["kind"] for c in events[-1]["payload"]["clocks"]}
    assert "statutory" in changed and events[-1]["payload"]["calendar_version"] == 2
    with reading(ow.db) as s:
        assert s.scalar(select(CalendarMeta.confirmed_through)) == 2027
    assert services.verify_history(ow, case_no)["problems"] == []


def test_import_refuses_a_bad_notice_and_changes_nothing(ow):
    with pytest.raises(InvalidInput, match="make-up workday 2027-03-03 is a Wednesday"):
        services.import_calendar(ow, 'year = 2027\nsource = "x"\nholidays = [{name="元旦", from=2027-01-01}]\n'
                                     'workdays = [2027-03-03]\n', "bad.toml", "admin")
    with pytest.raises(Forbidden):
        services.import_calendar(ow, NOTICE_2027.read_text(encoding="utf-8"), "n.toml", "window1")
    with reading(ow.db) as s:
        assert s.scalar(select(CalendarMeta.version)) == 1


def test_special_procedure_across_national_day_adds_the_paused_working_days(ow, clock):
    clock.set(at("2026-09-21T10:00"))
    case_no = accepted_ad_case(ow)
    assert clocks(ow, case_no)["statutory"]["due_local"].startswith("2026-10-19")
    clock.set(at("2026-09-25T15:00"))
    services.suspend(ow, case_no, "reviewer1", "专家评审", "需组织专家论证结构安全", expected_days=5)
    assert services.case_detail(ow, case_no)["status"] == "SUSPENDED"
    assert clocks(ow, case_no)["statutory"]["is_paused"] is True
    with pytest.raises(Conflict):
        services.suspend(ow, case_no, "reviewer1", "检测", "again")
    clock.set(at("2026-10-09T11:00"))
    result = services.resume(ow, case_no, "reviewer1", "专家意见已出具")
    # (09-25, 10-09]: 09-28, 09-29, 09-30, 10-08, 10-09 — the holiday week does not count twice.
    assert result["paused_days"] == 5
    assert services.case_detail(ow, case_no)["status"] == "ACCEPTED"
    statutory = clocks(ow, case_no)["statutory"]
    assert statutory["paused"] == 5 and statutory["due_local"].startswith("2026-10-26")
    assert event_types(ow, case_no)[-2:] == ["clock_paused", "clock_resumed"]
    with reading(ow.db) as s:
        kinds = s.scalars(select(Notification.kind)).all()
    assert "special_procedure_notice" in kinds


def test_extension_by_the_department_head_within_the_cap(ow):
    case_no = accepted_ad_case(ow)
    with pytest.raises(Forbidden):
        services.extend(ow, case_no, "reviewer1", 5, "情况复杂")
    with pytest.raises(InvalidInput, match="at most 10"):
        services.extend(ow, case_no, "head1", 11, "情况复杂")
    services.extend(ow, case_no, "head1", 6, "需补充现场勘查")
    c = clocks(ow, case_no)
    assert c["statutory"]["due_local"].startswith("2026-04-09") and c["statutory"]["extended"] == 6  # 04-06 is Qingming
    with pytest.raises(InvalidInput, match="total 11"):
        services.extend(ow, case_no, "head1", 5, "再次延期")
    with reading(ow.db) as s:
        note = s.execute(select(Notification.recipient, Notification.body)
                         .where(Notification.kind == "extension_notice")).one()
    assert note.recipient == "zhangsan" and note.body["days"] == 6
    assert event_types(ow, case_no)[-1] == "extension_granted"


def test_no_intake_decision_within_5_working_days_is_deemed_acceptance(ow, clock):
    case_no = new_ad_case(ow)  # received Tuesday 2026-03-10
    # Still within the 5th working day: the window's step clock warns, but nothing is deemed.
    assert [f["event"] for f in services.sweep(ow, at("2026-03-17T23:59"))] == ["warning_issued"]
    fired = services.sweep(ow, at("2026-03-18T00:01"))
    assert [f["event"] for f in fired] == ["deemed_accepted"]
    detail = services.case_detail(ow, case_no)
    assert detail["status"] == "ACCEPTED" and detail["accepted_at"] == detail["received_at"]
    assert detail["events"][-1]["payload"]["accepted_from"] == "2026-03-10"
    # The statutory clock counts from the day of receipt.
    assert clocks(ow, case_no)["statutory"]["due_local"].startswith("2026-03-31")
    assert "deemed_accepted" not in [f["event"] for f in services.sweep(ow, at("2026-03-18T00:02"))]


def test_correction_not_answered_in_time_withdraws_the_case(ow, clock):
    case_no = new_ad_case(ow)
    received = ["户外广告设施设置申请表", "营业执照或身份证明", "设施效果图及位置图"]
    services.materials.one_time_notice(ow, case_no, "window1", received)
    assert services.case_detail(ow, case_no)["status"] == "CORRECTION_REQUESTED"
    # The one-time notice stopped the intake clock and the window's step clock: only the 10 wd reply limit runs.
    assert services.sweep(ow, at("2026-03-20T09:00")) == []
    assert clocks(ow, case_no)["intake"]["is_paused"] is True
    fired = services.sweep(ow, at("2026-03-25T00:01"))
    assert [f["event"] for f in fired] == ["withdrawn_for_no_correction"]
    assert services.case_detail(ow, case_no)["status"] == "WITHDRAWN"
    assert services.verify_history(ow, case_no)["problems"] == []


def test_supplied_materials_restart_intake_and_its_step_clock(ow, clock):
    case_no = new_ad_case(ow)
    services.materials.one_time_notice(ow, case_no, "window1", ["户外广告设施设置申请表"])
    clock.set(at("2026-03-16T10:00"))
    services.materials.supplement(ow, case_no, "zhangsan", ["营业执照或身份证明", "设施效果图及位置图",
                                                            "场地使用权证明"])
    c = clocks(ow, case_no)
    # Both restart the day after the materials arrive: 5 wd from Mon 03-16.
    assert c["intake"]["due_local"].startswith("2026-03-23") and c["intake"]["is_paused"] is False
    assert [f["event"] for f in services.sweep(ow, at("2026-03-24T00:01"))] == ["deemed_accepted"]


def test_correction_in_review_pauses_and_resumes(ow, clock):
    case_no = accepted_ad_case(ow)
    clock.set(at("2026-03-11T10:00"))
    with pytest.raises(Conflict, match="one-time notice"):
        services.request_correction(ow, new_ad_case(ow), "reviewer1", ["结构安全说明"])
    services.request_correction(ow, case_no, "reviewer1", ["结构安全说明"])
    assert clocks(ow, case_no)["review"]["is_paused"] is True
    clock.set(at("2026-03-16T10:00"))
    result = services.receive_correction(ow, case_no, "zhangsan", "已补交")
    assert result["paused_days"] == 3  # (03-11, 03-16]: Thu, Fri, Mon
    assert clocks(ow, case_no)["statutory"]["due_local"].startswith("2026-04-03")
    assert event_types(ow, case_no)[-4:] == ["correction_requested", "clock_paused", "correction_received",
                                             "clock_resumed"]


def test_review_correction_not_answered_in_time_withdraws_the_case(ow, clock):
    case_no = accepted_ad_case(ow)
    services.request_correction(ow, case_no, "reviewer1", ["结构安全说明"])
    fired = [f["event"] for f in services.sweep(ow, at("2026-03-25T00:01"))]
    assert fired == ["withdrawn_for_no_correction"]  # the paused clocks raised no card meanwhile
    assert services.case_detail(ow, case_no)["status"] == "WITHDRAWN"


def test_the_ladder_fires_warning_yellow_and_red_through_tick(ow):
    case_no = accepted_ad_case(ow)  # promised 3 wd and review 3 wd from Tue 03-10: due Fri 03-13
    assert tick(ow, "2026-03-12T23:00")["fired"] == 0
    warned = tick(ow, "2026-03-13T00:10")
    assert sorted((s["clock"], s["event"]) for s in warned["stages"]) == [
        ("promised", "warning_issued"), ("step", "warning_issued")]
    yellow = tick(ow, "2026-03-14T08:00")
    assert {s["event"] for s in yellow["stages"]} == {"yellow_card_issued"}
    respond_by = yellow["stages"][0]["respond_by"]
    assert respond_by.startswith("2026-03-17T15:59:59")  # 2 wd after Sat 03-14: end of Tue 03-17
    assert tick(ow, "2026-03-17T20:00")["fired"] == 0
    red = tick(ow, "2026-03-18T00:05")
    assert {s["event"] for s in red["stages"]} == {"red_card_issued"}
    assert tick(ow, "2026-04-30T00:00")["stages"][0]["clock"] == "statutory"  # the statutory clock's own ladder
    with reading(ow.db) as s:
        kinds = dict(s.execute(select(Notification.kind, func.count()).group_by(Notification.kind)).all())
        urging = s.scalars(select(Notification.recipient).where(Notification.kind == "urging_notice")).all()
        red_to = s.scalars(select(Notification.recipient).where(Notification.kind == "red_card")).all()
        card = s.scalar(select(WorkItem.card_level).where(WorkItem.bpmn_id == "review", WorkItem.is_open.is_(True)))
    assert kinds["warning"] >= 2 and "supervisor1" in urging and "reviewer1" in urging
    assert {"supervisor1", "head1"} <= set(red_to)
    assert card == "red"
    assert services.verify_history(ow, case_no)["problems"] == []


def test_step_overdue_while_the_case_is_in_time(ow, clock):
    case_no = accepted_ad_case(ow)
    services.extend(ow, case_no, "head1", 10, "复杂")  # promised now 13 wd, statutory 25 wd
    clock.set(at("2026-03-14T08:00"))
    fired = services.sweep(ow)
    assert {(f["clock"], f["event"]) for f in fired} == {("step", "yellow_card_issued")}
    c = clocks(ow, case_no)
    assert c["review"]["overdue"] is True and c["promised"]["overdue"] is False


def test_deemed_renewal_fires_the_bpmn_timer_on_our_clock(ow, clock):
    services.deploy_paths(ow, [ITEMS / "clock-renewal.item.toml"], "admin")
    case_no = services.apply(ow, "clock-renewal", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1")
    timer = clocks(ow, case_no)["timer"]
    assert timer["rule"] == "deemed-renewal" and timer["due_at"] == at("2026-03-20T18:00").isoformat()
    with reading(ow.db) as s:
        state = s.scalar(select(Case.state_json).where(Case.case_no == case_no))
    assert "9999-12-31" in state
    with writing(ow.db) as s:
        # The machine's clock is long past the expiry: SpiffWorkflow's own timer checks must still not fire it.
        change = CaseChange(ow, s, find_case(s, case_no))
        change.wf.refresh_timers()
        change.wf.do_engine_steps()
        assert [t.task_spec.bpmn_id for t in waiting_timers(change.wf)] == ["expiry"]
        s.rollback()
    assert [f["event"] for f in services.sweep(ow, at("2026-03-20T17:59"))
            if f["event"] == "deemed_renewed"] == []
    fired = services.sweep(ow, at("2026-03-20T18:01"))
    renewed = [f for f in fired if f["event"] == "deemed_renewed"]
    assert len(renewed) == 1 and renewed[0]["bpmn_id"] == "expiry" and renewed[0]["rule"] == "deemed-renewal"
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"]) == ("DECIDED", "approved") and detail["open_tasks"] == []
    assert not any(c["is_open"] for c in detail["clocks"])
    assert services.verify_history(ow, case_no)["problems"] == []


def test_sweep_fires_each_stage_once_and_an_empty_sweep_fires_nothing(ow):
    accepted_ad_case(ow)
    first = services.sweep(ow, at("2026-03-20T00:00"))
    assert first and services.sweep(ow, at("2026-03-20T00:00")) == []
    with reading(ow.db) as s:
        per_stage = s.execute(select(CaseEvent.type, func.count()).group_by(CaseEvent.type)).all()
        pending = s.scalar(select(func.count(Deadline.id)).where(Deadline.next_fire_at <= at("2026-03-20T00:00")))
    assert pending == 0 and dict(per_stage)["yellow_card_issued"] == 2


def test_a_sweep_batch_reads_each_case_once_however_many_of_its_stages_fire(ow):
    cases = [accepted_ad_case(ow) for _ in range(3)]
    selects: list[str] = []

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and 'FROM "case"' in statement:
            selects.append(statement)

    event.listen(ow.db.write_engine, "before_cursor_execute", seen)
    try:
        fired = services.sweep(ow, at("2026-03-13T00:10"))  # each case's promised and step warnings
    finally:
        event.remove(ow.db.write_engine, "before_cursor_execute", seen)
    assert sorted(s["case_no"] for s in fired) == sorted(cases * 2)
    # One statement locks and loads the batch's cases; no stage reads its case again.
    assert len(selects) == 1
    assert all(services.verify_history(ow, c)["problems"] == [] for c in cases)


def test_deemed_approval_fires_only_for_an_item_that_opts_in(ow, clock):
    services.deploy_paths(ow, [ITEMS / "clock-deemed.item.toml", ITEMS / "clock-not-deemed.item.toml"], "admin")
    opted = services.apply(ow, "clock-deemed", "zhangsan", AD_APPLICATION)["case_no"]
    plain = services.apply(ow, "clock-not-deemed", "zhangsan", AD_APPLICATION)["case_no"]
    for case_no in (opted, plain):
        services.accept(ow, case_no, "window1")
    # The timer's `limit` (2 wd from Tue 03-10) wins over its calendar expression (P30D).
    assert clocks(ow, opted)["timer"]["due_local"].startswith("2026-03-12")
    assert "timer" not in clocks(ow, plain)
    fired = [f for f in services.sweep(ow, at("2026-03-13T00:01")) if f["event"] == "deemed_approved"]
    assert [f["case_no"] for f in fired] == [opted]
    assert services.case_detail(ow, opted)["status"] == "DECIDED"
    assert services.case_detail(ow, plain)["status"] == "ACCEPTED"


def test_calendar_commands_print_json_with_the_provisional_flag(ow, capsys):
    assert main(["calendar", "add", "2026-12-28", "5", "--db", ow.db.url, "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["day"], added["provisional"]) == ("2027-01-04", True)
    assert main(["calendar", "between", "2026-02-13", "2026-02-24", "--db", ow.db.url, "--json"]) == 0
    between = json.loads(capsys.readouterr().out)
    assert (between["working_days"], between["provisional"]) == (2, False)  # 02-14 (make-up) and 02-24
    assert main(["calendar", "add", "2026-13-01", "1", "--db", ow.db.url]) == 1


@pytest.mark.parametrize("args", [["calendar", "add", "2026-03-10", "100000000"], ["calendar", "add", "9999-12-30", "5"],
                                  ["tick", "--now", ""], ["worker", "--interval", "0"], ["worker", "--interval", "-1"]])
def test_out_of_range_clock_arguments_are_refused_with_a_reason(ow, capsys, args):
    assert main([*args, "--db", ow.db.url]) == 1
    assert "refused (InvalidInput)" in capsys.readouterr().err


def test_a_notice_that_is_not_utf8_is_refused_and_changes_nothing(ow, tmp_path, capsys):
    notice = tmp_path / "notice-2027.toml"
    notice.write_bytes(NOTICE_2027.read_text(encoding="utf-8").encode("gbk"))
    assert main(["calendar", "import", str(notice), "--db", ow.db.url]) == 1
    assert "not UTF-8" in capsys.readouterr().err
    assert services.calendar_add(ow, date(2026, 12, 28), 5)["calendar_version"] == 1
