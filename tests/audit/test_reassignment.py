"""Reassignment (转办): a head or supervisor moves open work to a clerk who could claim it; refusals change nothing."""
from __future__ import annotations

import pytest

from engine import services
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.services import accounts, audit, reassignment
from tests.audit.case_admin import footprint, last_event, staff  # noqa: F401 (a fixture)
from tests.integration.helpers import accepted_ad_case, only_task

# Every test here also needs the second reviewer and the market bureau's head.
pytestmark = pytest.mark.usefixtures("staff")


def _mine(ow, username: str) -> set[str]:
    return {t["task_id"] for t in services.inbox(ow, username, "mine")}


def test_a_head_moves_a_held_task_to_a_colleague_who_then_completes_it(ow):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    services.claim(ow, task_id, "reviewer1")
    result = reassignment.reassign(ow, task_id, "head1", "reviewer2", "赵审查长期病假")
    assert (result["from"], result["to"], result["case_no"]) == ("reviewer1", "reviewer2", case_no)
    assert task_id in _mine(ow, "reviewer2") and task_id not in _mine(ow, "reviewer1")
    # The as-of view at the reassignment shows the new holder, as the inbox did then.
    (held,) = [t for t in audit.case_as_of(ow, case_no)["open_tasks"] if t["task_id"] == task_id]
    assert held["assignee"] == "reviewer2"
    event = last_event(ow, case_no)
    assert (event["type"], event["actor"], event["acting_for"]) == ("reassigned", "head1", None)
    assert event["payload"] == {"task_id": task_id, "bpmn_id": "review", "from": "reviewer1", "to": "reviewer2",
                                "reason": "赵审查长期病假"}
    # The former holder may no longer act on it; the new one completes it as their own.
    with pytest.raises(Forbidden):
        services.complete(ow, task_id, "reviewer1", {"decision": "pass", "opinion": "可"})
    services.complete(ow, task_id, "reviewer2", {"decision": "pass", "opinion": "可"})
    assert audit.verify_history(ow, case_no)["problems"] == []


def test_an_unclaimed_task_leaves_the_group_inbox_and_starts_the_review(ow):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    reassignment.reassign(ow, task_id, "supervisor1", "reviewer2", "均衡工作量")
    assert task_id not in {t["task_id"] for t in services.inbox(ow, "reviewer1", "groups")}
    assert task_id in _mine(ow, "reviewer2")
    assert services.case_detail(ow, case_no)["status"] == "IN_REVIEW"
    assert last_event(ow, case_no)["payload"]["from"] is None
    # The replayed history leads to the same status and state: the chain verifies.
    assert audit.verify_history(ow, case_no)["problems"] == []
    as_of = audit.case_as_of(ow, case_no)
    assert as_of["status"] == "IN_REVIEW" and as_of["verified"]


def test_the_team_view_and_the_options_offer_only_clerks_who_could_claim(ow):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    assert task_id in {r["task_id"] for r in reassignment.team_work(ow, "head1")}
    assert task_id not in {r["task_id"] for r in reassignment.team_work(ow, "market_head")}
    options = {o["task_id"]: o for o in reassignment.reassign_options(ow, case_no, "head1")}
    assert {c["username"] for c in options[task_id]["candidates"]} == {"reviewer1", "reviewer2"}
    assert reassignment.reassign_options(ow, case_no, "market_head") == []
    accounts.set_absence(ow, "head1", "reviewer2", True, "reviewer1")
    (option,) = reassignment.reassign_options(ow, case_no, "head1")
    assert [c["username"] for c in option["candidates"]] == ["reviewer1"]  # nobody absent is offered
    assert reassignment.reassign_options(ow, case_no, "reviewer1") == []
    with pytest.raises(Forbidden):
        reassignment.team_work(ow, "reviewer1")


@pytest.mark.parametrize(("actor", "to", "reason", "error"), [
    ("head1", "reviewer2", "", InvalidInput),                     # a reason is required
    ("reviewer1", "reviewer2", "自己转", Forbidden),               # not a head or supervisor
    ("auditor1", "reviewer2", "审计员", Forbidden),                # auditors only read
    ("market_head", "reviewer2", "别的局", Forbidden),             # a head of another bureau
    ("head1", "market_reviewer", "别的局的审查员", InvalidInput),     # a clerk of another department
    ("head1", "inspector1", "不是审查岗", InvalidInput),             # outside the task's candidate group
    ("head1", "nobody", "查无此人", InvalidInput),                  # no such user
    ("head1", "reviewer1", "已经是他", Conflict),                   # already the holder
])
def test_refusals_leave_the_case_unchanged(ow, actor, to, reason, error):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    services.claim(ow, task_id, "reviewer1")
    before = footprint(ow, case_no)
    with pytest.raises(error):
        reassignment.reassign(ow, task_id, actor, to, reason)
    assert footprint(ow, case_no) == before
    assert task_id in _mine(ow, "reviewer1")


def test_absent_clerks_closed_tasks_and_unknown_tasks_are_refused(ow):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    accounts.set_absence(ow, "head1", "reviewer2", True, "reviewer1")
    before = footprint(ow, case_no)  # reviewer2 held nothing: marking them absent touched no case
    with pytest.raises(InvalidInput, match="absent"):
        reassignment.reassign(ow, task_id, "head1", "reviewer2", "转给缺岗人员")
    assert footprint(ow, case_no) == before
    services.complete(ow, task_id, "reviewer1", {"decision": "pass", "opinion": "可"})
    before = footprint(ow, case_no)
    with pytest.raises(Conflict):
        reassignment.reassign(ow, task_id, "head1", "reviewer1", "已办结的环节")
    with pytest.raises(NotFound):
        reassignment.reassign(ow, "00000000-0000-0000-0000-000000000000", "head1", "reviewer1", "没有这个环节")
    assert footprint(ow, case_no) == before
