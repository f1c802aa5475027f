"""Use cases on the real stack (SpiffWorkflow + SQLite/PostgreSQL): the outdoor-advertising item end to end."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import services
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.store.models import Case, CaseEvent, Opinion, WorkItem
from engine.store.uow import reading
from tests.integration.helpers import (
    AD_APPLICATION,
    WINDOW_APPLICANT,
    accepted_ad_case,
    new_ad_case,
    only_task,
)


def _row_counts(ow) -> tuple[int, int, int]:
    with reading(ow.db) as s:
        return (s.scalar(select(func.count(Case.id))), s.scalar(select(func.count(CaseEvent.id))),
                s.scalar(select(func.count(WorkItem.id))))


def test_outdoor_ad_runs_from_application_to_approval(ow):
    case_no = new_ad_case(ow)
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED"
    assert services.accept(ow, case_no, "window1", "材料齐全") == "ACCEPTED"
    review = only_task(ow, "reviewer1", "review")
    services.claim(ow, review, "reviewer1")
    assert services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "符合规划"}) == "IN_REVIEW"
    survey = only_task(ow, "inspector1", "survey")
    services.complete(ow, survey, "inspector1", {"survey_result": "conforms", "survey_date": "2026-03-11"})
    decide = only_task(ow, "chief1", "decide")
    status = services.complete(ow, decide, "chief1", {"decision": "approve", "opinion": "准予", "certificate_no": "HG-1"})
    assert status == "DECIDED"
    detail = services.case_detail(ow, case_no)
    assert detail["result"] == "approved" and detail["open_tasks"] == []
    types = [e["type"] for e in detail["events"]]
    assert types == ["applied", "accepted", "claimed", "task_completed", "task_completed", "task_completed"]
    assert services.verify_history(ow, case_no) == {"cases_checked": 1, "problems": []}
    with reading(ow.db) as s:
        opinions = s.scalars(select(Opinion.decision).order_by(Opinion.id)).all()
    assert opinions == ["pass", "approve"]


def test_return_for_rework_loops_back_and_clears_the_old_decision(ow):
    case_no = accepted_ad_case(ow)
    services.complete(ow, only_task(ow, "reviewer1", "review"), "reviewer1", {"decision": "return", "opinion": "缺场地证明"})
    services.complete(ow, only_task(ow, "window1", "rework"), "window1", {"supplemented": ["场地使用权证明"]})
    review = only_task(ow, "reviewer1", "review")
    services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "补正后符合"})
    services.complete(ow, only_task(ow, "inspector1", "survey"), "inspector1",
                      {"survey_result": "nonconforming", "survey_date": "2026-03-12"})
    decide = only_task(ow, "chief1", "decide")
    services.complete(ow, decide, "chief1", {"decision": "return", "opinion": "请复核"})
    services.complete(ow, only_task(ow, "reviewer1", "review"), "reviewer1", {"decision": "refuse", "opinion": "位置不符合规划"})
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"]) == ("DECIDED", "refused")


def test_reject_at_intake_concludes_the_case(ow):
    case_no = new_ad_case(ow)
    assert services.reject_at_intake(ow, case_no, "window1", "不属于本机关职责") == "REJECTED_AT_INTAKE"
    with pytest.raises(Conflict):
        services.accept(ow, case_no, "window1")
    assert services.case_detail(ow, case_no)["open_tasks"] == []


def test_rejecting_through_the_intake_task_needs_a_reason_and_issues_the_notice(ow):
    case_no = new_ad_case(ow)
    intake_task = services.case_detail(ow, case_no)["open_tasks"][0]["task_id"]
    events = len(services.history(ow, case_no))
    with pytest.raises(InvalidInput) as refused:
        services.complete(ow, intake_task, "window1", {"intake_decision": "reject"})
    assert "reject_reason" in refused.value.fields
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED" and len(services.history(ow, case_no)) == events
    assert services.complete(ow, intake_task, "window1", {"intake_decision": "reject",
                                                          "reject_reason": "不属于本机关职责"}) == "REJECTED_AT_INTAKE"
    assert services.history(ow, case_no)[-1]["payload"]["reason"] == "不属于本机关职责"


def test_window_application_needs_applicant_details(ow):
    with pytest.raises(InvalidInput):
        services.apply(ow, "outdoor-ad", "window1", AD_APPLICATION)
    made = services.apply(ow, "outdoor-ad", "window1", AD_APPLICATION, applicant=WINDOW_APPLICANT)
    assert services.case_detail(ow, made["case_no"])["channel"] == "window"


def test_bad_form_data_is_refused_with_field_errors_and_changes_nothing(ow):
    before = _row_counts(ow)
    with pytest.raises(InvalidInput) as err:
        services.apply(ow, "outdoor-ad", "zhangsan", {**AD_APPLICATION, "area_sqm": -3, "evil": "<script>"})
    assert set(err.value.fields) == {"area_sqm", "evil"}
    assert _row_counts(ow) == before
    case_no = accepted_ad_case(ow)
    review = only_task(ow, "reviewer1", "review")
    after_accept = _row_counts(ow)
    with pytest.raises(InvalidInput) as err:
        services.complete(ow, review, "reviewer1", {"decision": "maybe"})
    assert set(err.value.fields) == {"decision", "opinion"}
    assert _row_counts(ow) == after_accept
    assert services.case_detail(ow, case_no)["open_tasks"][0]["task_id"] == review


def test_authorisation_is_checked_in_the_use_case(ow):
    accepted_ad_case(ow)
    review = only_task(ow, "reviewer1", "review")
    with pytest.raises(Forbidden):
        services.complete(ow, review, "window1", {"decision": "pass", "opinion": "越权"})
    with pytest.raises(Forbidden, match="another department"):
        services.claim(ow, review, "market_reviewer")
    assert services.inbox(ow, "market_reviewer") == []
    with pytest.raises(Forbidden):
        services.apply(ow, "outdoor-ad", "reviewer1", AD_APPLICATION)
    services.claim(ow, review, "reviewer1")
    # Someone outside the task's groups is refused as such; who holds it is not theirs to know.
    with pytest.raises(Forbidden, match="candidate groups") as refused:
        services.claim(ow, review, "chief1")
    assert "reviewer1" not in str(refused.value)


def test_unknown_and_finished_tasks_are_refused(ow):
    case_no = accepted_ad_case(ow)
    with pytest.raises(NotFound):
        services.complete(ow, "00000000-0000-0000-0000-000000000000", "reviewer1", {})
    with pytest.raises(NotFound):
        services.complete(ow, "not-a-uuid", "reviewer1", {})
    review = only_task(ow, "reviewer1", "review")
    services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "ok"})
    with pytest.raises(Conflict):
        services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "again"})
    assert services.verify_history(ow, case_no)["problems"] == []


def test_withdraw_closes_open_work_and_blocks_further_steps(ow):
    case_no = accepted_ad_case(ow)
    review = only_task(ow, "reviewer1", "review")
    with pytest.raises(Forbidden):
        services.withdraw(ow, case_no, "lisi")
    assert services.withdraw(ow, case_no, "zhangsan", "不再需要") == "WITHDRAWN"
    assert services.inbox(ow, "reviewer1") == []
    with pytest.raises(Conflict):
        services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "late"})
    with pytest.raises(Conflict):
        services.withdraw(ow, case_no, "zhangsan")


def test_unclaim_returns_the_task_to_the_group_inbox(ow):
    accepted_ad_case(ow)
    review = only_task(ow, "reviewer1", "review")
    services.claim(ow, review, "reviewer1")
    assert [t["assignee"] for t in services.inbox(ow, "reviewer1", scope="mine")] == ["reviewer1"]
    assert services.inbox(ow, "reviewer1", scope="groups") == []
    with pytest.raises(Forbidden):
        services.unclaim(ow, review, "chief1")
    services.unclaim(ow, review, "reviewer1")
    assert [t["task_id"] for t in services.inbox(ow, "reviewer1", scope="groups")] == [review]


def test_new_version_leaves_running_cases_on_theirs(ow, tmp_path):
    case_no = accepted_ad_case(ow)
    with reading(ow.db) as s:
        v1 = s.scalar(select(Case.process_version_id).where(Case.case_no == case_no))
    from engine.catalog import PROCESSES_DIR

    for name in ("outdoor-ad.bpmn", "outdoor-ad.item.toml"):
        text = (PROCESSES_DIR / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("部门审查", "部门审查（新版）"), encoding="utf-8")
    published = services.deploy_paths(ow, [tmp_path / "outdoor-ad.item.toml"], "designer1")
    assert published == [{"item": "outdoor-ad", "version": 2, "new": True}]
    assert services.deploy_paths(ow, [tmp_path / "outdoor-ad.item.toml"], "designer1")[0]["new"] is False
    review = only_task(ow, "reviewer1", "review")
    assert services.inbox(ow, "reviewer1")[0]["name"] == "部门审查"
    services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "ok"})
    with reading(ow.db) as s:
        assert s.scalar(select(Case.process_version_id).where(Case.case_no == case_no)) == v1
    new_case = services.apply(ow, "outdoor-ad", "lisi", AD_APPLICATION)["case_no"]
    services.accept(ow, new_case, "window1")
    assert {t["name"] for t in services.inbox(ow, "reviewer1")} == {"部门审查（新版）"}
