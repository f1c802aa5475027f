"""Authorisation inside the use cases: department lines, co-department reviewers, applicant names, backup posts."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine import services
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.services import accounts, casefile, materials
from engine.store.models import Case, User
from engine.store.uow import reading
from tests.integration.helpers import AD_APPLICATION, accepted_ad_case, new_ad_case, only_task
from tests.patterns.helpers import ALLOWANCE, PLANNING, accepted

URBAN = "市城市管理局"  # the outdoor-ad case's department, named in every refusal


def _state(ow, case_no: str) -> tuple[str, int]:
    """The status and last event sequence of a case: what a refused request must leave as it was."""
    with reading(ow.db) as s:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        return case.status, case.last_seq


def _refused(ow, case_no: str, action) -> None:
    """Run `action`, expect a Forbidden naming the case's department, and check the case did not move."""
    before = _state(ow, case_no)
    with pytest.raises(Forbidden, match=URBAN):
        action()
    assert _state(ow, case_no) == before


# --- another department may not act on a case -----------------------------------------------------------------

def test_another_departments_reviewer_cannot_suspend_or_resume(ow):
    case_no = accepted_ad_case(ow)
    _refused(ow, case_no, lambda: services.suspend(ow, case_no, "market_reviewer", "专家评审", "越权"))
    services.suspend(ow, case_no, "reviewer1", "专家评审", "需组织专家论证")
    _refused(ow, case_no, lambda: services.resume(ow, case_no, "market_reviewer", "越权"))
    assert services.resume(ow, case_no, "reviewer1", "论证完毕")["status"] != "SUSPENDED"


def test_another_departments_reviewer_cannot_request_or_receive_a_correction(ow):
    case_no = accepted_ad_case(ow)
    _refused(ow, case_no, lambda: services.request_correction(ow, case_no, "market_reviewer", ["结构安全说明"]))
    services.request_correction(ow, case_no, "reviewer1", ["结构安全说明"])
    _refused(ow, case_no, lambda: services.receive_correction(ow, case_no, "market_reviewer", "越权"))
    # The applicant still hands in their own materials.
    services.receive_correction(ow, case_no, "zhangsan", "已补交")


def test_a_window_whose_centre_does_not_cover_the_case_cannot_notify_supplement_or_withdraw(ow):
    # The town window sits under the county centre; the outdoor-ad case belongs to the city's urban bureau.
    case_no = new_ad_case(ow)
    _refused(ow, case_no, lambda: materials.one_time_notice(ow, case_no, "town_window", []))
    materials.one_time_notice(ow, case_no, "window1", [])
    assert _state(ow, case_no)[0] == "CORRECTION_REQUESTED"
    outstanding = [m["name"] for m in materials.checklist(ow, case_no) if m["state"] == "missing"]
    _refused(ow, case_no, lambda: materials.supplement(ow, case_no, "town_window", outstanding))
    _refused(ow, case_no, lambda: services.withdraw(ow, case_no, "town_window", "越权"))
    # The applicant's own calls keep working.
    assert materials.supplement(ow, case_no, "zhangsan", outstanding)["status"] == "RECEIVED"
    assert services.withdraw(ow, case_no, "zhangsan", "不办了") == "WITHDRAWN"


def _confirmed_mandate(ow) -> None:
    """Wangwu's mandate for agent1: recorded by the agent, confirmed by wangwu (the agent's record alone is pending)."""
    granted = services.proxy.grant_mandate(ow, "agent1", "wangwu", "agent1", "min-living-allowance", date(2026, 3, 1),
                                           date(2026, 6, 30), {"method": "signed_form", "reference": "代办委托书 2026-031"})
    services.proxy.confirm_mandate(ow, "wangwu", granted["id"])


def test_a_mandated_proxy_agent_still_supplements_for_the_applicant(ow):
    _confirmed_mandate(ow)
    case_no = services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")["case_no"]
    materials.one_time_notice(ow, case_no, "town_window", [])
    outstanding = [m["name"] for m in materials.checklist(ow, case_no) if m["state"] == "missing"]
    assert materials.supplement(ow, case_no, "agent1", outstanding)["status"] == "RECEIVED"


# --- a co-department reviewer of a joint approval sees the case ---------------------------------------------------

def test_a_co_department_reviewer_opens_the_joint_case_and_its_task(ow):
    case_no = accepted(ow, "building-planning", PLANNING)
    task_id = only_task(ow, "housing_reviewer", "joint_review", case_no)
    assert casefile.task_detail(ow, task_id, "housing_reviewer")["case_no"] == case_no
    assert casefile.case_file(ow, case_no, "housing_reviewer")["case_no"] == case_no
    assert casefile.case_diagram(ow, case_no, "housing_reviewer").startswith("<")
    casefile.require_visible(ow, case_no, "housing_reviewer")
    # Outside the item's departments the case stays hidden.
    with pytest.raises(NotFound):
        casefile.case_file(ow, case_no, "market_reviewer")
    # Seeing the case is not acting on it: the lead department's line still holds for a suspension.
    with pytest.raises(Forbidden, match="市自然资源和规划局"):
        services.suspend(ow, case_no, "housing_reviewer", "专家评审", "越权")


# --- the applicant's name comes from the account --------------------------------------------------------------

def test_an_online_applicant_cannot_file_under_someone_elses_name(ow):
    spoof = {"kind": "person", "name": "李四"}
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION, applicant=spoof)["case_no"]
    assert services.case_detail(ow, case_no)["applicant"]["name"] == "张三"


def test_a_proxy_agent_cannot_file_under_another_name_than_the_mandating_applicant(ow):
    _confirmed_mandate(ow)
    case_no = services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu",
                             applicant={"kind": "person", "name": "张三"})["case_no"]
    assert services.case_detail(ow, case_no)["applicant"]["name"] == "王五"


# --- a backup post (AB岗) stays inside the holder's department line ------------------------------------------------

def _backup_of(ow, holder: str) -> int | None:
    with reading(ow.db) as s:
        return s.scalar(select(User.backup_user_id).where(User.username == holder))


def test_a_backup_post_from_another_department_is_refused(ow):
    with pytest.raises(InvalidInput) as refused:
        accounts.set_absence(ow, "head1", "reviewer1", True, "market_reviewer")
    assert refused.value.fields == {"backup": "needs the same department"}
    assert _backup_of(ow, "reviewer1") is None
    assert accounts.profile(ow, "reviewer1")["is_absent"] is False
    # Same department: allowed; and a department below the holder's counts as inside the line.
    assert accounts.set_absence(ow, "nature_reviewer", "nature_reviewer", True, "nature_reviewer2")["is_absent"]
    assert accounts.set_absence(ow, "window1", "window1", False, "town_window")["backup"] == "town_window"


def test_claiming_another_departments_held_task_is_refused_without_naming_its_holder(ow):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    services.claim(ow, task_id, "reviewer1")
    before = _state(ow, case_no)
    with pytest.raises(Forbidden) as refused:
        services.claim(ow, task_id, "market_reviewer")
    assert "reviewer1" not in str(refused.value) and "another department" in str(refused.value)
    assert _state(ow, case_no) == before
