"""Intake of materials: the one-time notice, supplements and accept with deficiency (food-business licence)."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine import services
from engine.errors import Conflict, InvalidInput
from engine.services.materials import expire_deficiency
from engine.store.models import Case, Deadline
from engine.store.uow import reading, writing
from tests.patterns.helpers import FOOD, complete_only, row_counts

APPLICATION, LICENCE, PLAN, RULES, COMMITMENT = ("食品经营许可申请书", "营业执照", "经营场所平面图和设备布局图",
                                                 "食品安全管理制度文本", "告知承诺书")


def food_case(ow) -> str:
    """A food-business application received online."""
    return services.apply(ow, "food-business", "zhangsan", FOOD)["case_no"]


def test_the_notice_lists_everything_at_once_and_the_supplement_returns_the_case_to_intake(ow):
    case_no = food_case(ow)
    told = services.materials.one_time_notice(ow, case_no, "window1", received=[APPLICATION, RULES],
                                              defective={RULES: "未加盖公章"})
    assert told["status"] == "CORRECTION_REQUESTED"
    assert told["notice"] == [{"name": LICENCE, "problem": "missing"}, {"name": PLAN, "problem": "missing"},
                              {"name": RULES, "problem": "defective", "reason": "未加盖公章"}]
    states = {m["name"]: m["state"] for m in services.materials.checklist(ow, case_no)}
    assert states == {APPLICATION: "received", LICENCE: "missing", PLAN: "missing", RULES: "defective",
                      COMMITMENT: "received"}
    with pytest.raises(Conflict):
        services.accept(ow, case_no, "window1")
    assert services.materials.supplement(ow, case_no, "zhangsan", [LICENCE])["status"] == "CORRECTION_REQUESTED"
    back = services.materials.supplement(ow, case_no, "zhangsan", [PLAN, RULES])
    assert (back["status"], back["outstanding"]) == ("RECEIVED", [])
    assert services.accept(ow, case_no, "window1") == "ACCEPTED"
    assert services.verify_history(ow, case_no)["problems"] == []


def test_materials_off_the_checklist_and_untimely_supplements_are_refused_without_change(ow):
    case_no = food_case(ow)
    before = row_counts(ow)
    with pytest.raises(InvalidInput, match="not on the item's materials checklist: 房产证"):
        services.materials.one_time_notice(ow, case_no, "window1", received=[APPLICATION], defective={"房产证": "复印件不清"})
    with pytest.raises(Conflict, match="not waiting for any material"):
        services.materials.supplement(ow, case_no, "zhangsan", [LICENCE])
    with pytest.raises(InvalidInput, match="accept the application instead"):
        services.materials.one_time_notice(ow, case_no, "window1", received=[APPLICATION, LICENCE, PLAN, RULES])
    assert row_counts(ow) == before
    services.materials.one_time_notice(ow, case_no, "window1", received=[APPLICATION, PLAN, RULES])
    before = row_counts(ow)
    with pytest.raises(InvalidInput, match="not asked for"):
        services.materials.supplement(ow, case_no, "zhangsan", [PLAN])
    assert row_counts(ow) == before


def test_accept_with_deficiency_sets_a_deadline_that_terminates_the_case_if_nothing_arrives(ow, clock):
    case_no = food_case(ow)
    made = services.materials.accept_with_deficiency(ow, case_no, "window1", [PLAN], date(2026, 3, 20), "容缺受理")
    assert made["status"] == "ACCEPTED"
    with reading(ow.db) as s:
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        row = s.execute(select(Deadline.id, Deadline.rule, Deadline.due_at)
                        .where(Deadline.case_id == case_id, Deadline.kind == "deficiency")).one()
    assert row.rule == "deficiency-expired"
    assert row.due_at.isoformat() == "2026-03-20T15:59:59.999999+00:00"
    clock.set(row.due_at.replace(day=21))
    with writing(ow.db) as s:  # what the clock's sweeper does with a due deficiency row
        fired = expire_deficiency(ow, s, s.get(Case, case_id), s.get(Deadline, row.id), clock.now())
    assert fired["materials"] == [PLAN]
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"], detail["open_tasks"]) == ("TERMINATED", "terminated", [])


def test_deferred_materials_that_arrive_in_time_close_the_deadline(ow):
    case_no = food_case(ow)
    services.materials.accept_with_deficiency(ow, case_no, "window1", [PLAN, RULES], date(2026, 3, 20))
    services.materials.supplement(ow, case_no, "window1", [PLAN, RULES])
    with reading(ow.db) as s:
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        still_open = s.scalar(select(Deadline.is_open).where(Deadline.case_id == case_id, Deadline.kind == "deficiency"))
    assert still_open is False
    complete_only(ow, "market_reviewer", "review", {"decision": "pass", "opinion": "符合"})
    assert services.case_detail(ow, case_no)["status"] == "IN_REVIEW"


def test_only_waivable_materials_may_be_deferred(ow):
    case_no = food_case(ow)
    before = row_counts(ow)
    with pytest.raises(InvalidInput, match="not waivable"):
        services.materials.accept_with_deficiency(ow, case_no, "window1", [LICENCE], date(2026, 3, 20))
    with pytest.raises(InvalidInput, match="date after today"):
        services.materials.accept_with_deficiency(ow, case_no, "window1", [PLAN], date(2026, 3, 10))
    assert row_counts(ow) == before
