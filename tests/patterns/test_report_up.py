"""Report-up (上报): local review, then the higher authority's own process decides in its own inbox."""
from __future__ import annotations

from sqlalchemy import select

from engine import services
from engine.store.models import Case, Deadline
from engine.store.uow import reading
from tests.patterns.helpers import MEDICAL, accepted, complete_only, opinions


def reported_up(ow) -> str:
    """A medical-institution case reviewed and inspected locally, now waiting at the provincial commission."""
    case_no = accepted(ow, "medical-institution", MEDICAL)
    complete_only(ow, "health_reviewer", "review", {"decision": "pass", "opinion": "材料齐全"})
    complete_only(ow, "health_inspector", "inspection", {"survey_result": "conforms", "survey_date": "2026-03-12"})
    return case_no


def test_the_higher_authority_decides_in_its_own_inbox_within_the_report_up_limit(ow):
    case_no = reported_up(ow)
    assert [t["bpmn_id"] for t in services.inbox(ow, "province_reviewer")] == ["higher_review"]
    assert services.inbox(ow, "health_reviewer") == []
    with reading(ow.db) as s:
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        leg = s.execute(select(Deadline.budget_days, Deadline.budget_unit, Deadline.is_open)
                        .where(Deadline.case_id == case_id, Deadline.bpmn_id == "report_up")).one()
    assert tuple(leg) == (20, "wd", True)
    assert complete_only(ow, "province_reviewer", "higher_review", {"decision": "approve", "opinion": "同意登记"}) \
        == "DECIDED"
    assert services.case_detail(ow, case_no)["result"] == "approved"
    assert opinions(ow, case_no)[-1] == ("higher_review", "province-health", "approve")
    assert services.verify_history(ow, case_no)["problems"] == []


def test_refusal_above_comes_back_as_an_error_and_refuses_the_case(ow):
    case_no = reported_up(ow)
    complete_only(ow, "province_reviewer", "higher_review", {"decision": "refuse", "opinion": "床位设置不符合规划"})
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"], detail["open_tasks"]) == ("DECIDED", "refused", [])


def test_a_request_for_more_information_reaches_the_local_reviewer_without_stopping_the_higher_review(ow):
    case_no = reported_up(ow)
    complete_only(ow, "province_reviewer", "higher_review", {"decision": "more_info", "opinion": "请补充人员资质"})
    assert [t["bpmn_id"] for t in services.inbox(ow, "health_reviewer")] == ["provide_info"]
    assert [t["bpmn_id"] for t in services.inbox(ow, "province_reviewer")] == ["higher_review"]
    complete_only(ow, "health_reviewer", "provide_info", {"opinion": "已补充卫生技术人员资格证书"})
    status = complete_only(ow, "province_reviewer", "higher_review", {"decision": "approve", "opinion": "同意"})
    assert (status, services.case_detail(ow, case_no)["result"]) == ("DECIDED", "approved")
