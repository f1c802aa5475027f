"""Extension requests (延期申请): the handling clerk asks, the department head approves or declines."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import services
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.services import extension_requests as requests
from engine.store.models import Case, Deadline, Notification
from engine.store.uow import reading
from tests.integration.helpers import accepted_ad_case, only_task
from tests.staff import add_staff


@pytest.fixture
def held(ow, tmp_path) -> tuple[str, str]:
    """An accepted outdoor-advertising case whose review task reviewer1 holds; plus the market bureau's head."""
    add_staff(ow, tmp_path)
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    services.claim(ow, task_id, "reviewer1")
    return case_no, task_id


def _types(ow, case_no: str) -> list[str]:
    return [e["type"] for e in services.history(ow, case_no)]


def _notices(ow, kind: str) -> list[tuple[str, dict]]:
    """(recipient, body) of every notification of `kind`."""
    with reading(ow.db) as s:
        return [tuple(r) for r in s.execute(select(Notification.recipient, Notification.body)
                                            .where(Notification.kind == kind).order_by(Notification.id))]


def _extended(ow, case_no: str) -> set[int]:
    """The extended days of the case's open statutory and promised clocks."""
    with reading(ow.db) as s:
        rows = s.scalars(select(Deadline).join(Case, Case.id == Deadline.case_id).where(
            Case.case_no == case_no, Deadline.kind.in_(("statutory", "promised")), Deadline.is_open.is_(True)))
        return {r.extended_days for r in rows}


def test_the_clerk_asks_and_the_head_approves_which_extends_the_case_and_tells_the_applicant(ow, held):
    case_no, task_id = held
    asked = requests.request_extension(ow, task_id, "reviewer1", 5, "需等待规划部门出具意见")
    assert asked["status"] == "pending" and _types(ow, case_no)[-1] == "extension_requested"
    assert [r["id"] for r in requests.pending_for(ow, "head1")] == [asked["id"]]
    assert requests.pending_for(ow, "market_head") == [] and requests.pending_for(ow, "reviewer1") == []
    assert [who for who, _ in _notices(ow, "extension_request")] == ["head1"]

    decided = requests.approve(ow, asked["id"], "head1")
    assert decided["status"] == "approved" and decided["decided_by"] == "head1"
    assert _types(ow, case_no)[-2:] == ["extension_granted", "extension_request_approved"]
    assert _extended(ow, case_no) == {5}
    assert [who for who, _ in _notices(ow, "extension_notice")] == ["zhangsan"]
    assert [body["status"] for _, body in _notices(ow, "extension_request_decided")] == ["approved"]
    assert requests.pending_for(ow, "head1") == []
    assert requests.for_case(ow, case_no, "reviewer1")["room"] == 5


def test_the_head_declines_with_a_reason_and_nothing_is_extended(ow, held):
    case_no, task_id = held
    asked = requests.request_extension(ow, task_id, "reviewer1", 3, "现场勘查排期较晚")
    with pytest.raises(InvalidInput) as refused:
        requests.decline(ow, asked["id"], "head1", " ")
    assert "reason" in refused.value.fields
    declined = requests.decline(ow, asked["id"], "head1", "勘查可提前安排，不予延期")
    assert declined["status"] == "declined" and _types(ow, case_no)[-1] == "extension_request_declined"
    assert _extended(ow, case_no) == {0} and _notices(ow, "extension_notice") == []
    assert "勘查可提前安排" in _notices(ow, "extension_request_decided")[0][1]["zh"]
    with pytest.raises(Conflict):
        requests.approve(ow, asked["id"], "head1")
    # Decided, the case is free for a new request.
    assert requests.request_extension(ow, task_id, "reviewer1", 2, "补充说明需要时间")["status"] == "pending"


def test_only_the_handling_clerk_asks_within_the_cap_and_one_request_at_a_time(ow, held):
    case_no, task_id = held
    with pytest.raises(Forbidden):
        requests.request_extension(ow, task_id, "window1", 2, "不是本环节办理人")
    with pytest.raises(InvalidInput) as too_many:
        requests.request_extension(ow, task_id, "reviewer1", 11, "超过上限")
    assert too_many.value.fields == {"days": "at most 10"} and too_many.value.params == {"room": 10}
    with pytest.raises(InvalidInput):
        requests.request_extension(ow, task_id, "reviewer1", 2, "")
    requests.request_extension(ow, task_id, "reviewer1", 2, "需要补充勘查")
    with pytest.raises(Conflict) as twice:
        requests.request_extension(ow, task_id, "reviewer1", 2, "再申请一次")
    assert twice.value.code == "extension_request_open"
    assert _types(ow, case_no).count("extension_requested") == 1


def test_a_head_of_another_department_cannot_decide_and_a_failed_grant_leaves_the_request_waiting(ow, held):
    case_no, task_id = held
    asked = requests.request_extension(ow, task_id, "reviewer1", 8, "专家评审排期")
    for who in ("market_head", "reviewer1"):
        with pytest.raises(Forbidden):
            requests.approve(ow, asked["id"], who)
        with pytest.raises(Forbidden):
            requests.decline(ow, asked["id"], who, "不同意延期")
    # Meanwhile the head extends directly: the request no longer fits the cap and stays pending, nothing changed.
    services.extend(ow, case_no, "head1", 5, "主动延期")
    with pytest.raises(InvalidInput):
        requests.approve(ow, asked["id"], "head1")
    assert requests.for_case(ow, case_no, "head1")["requests"][0]["status"] == "pending"
    assert _extended(ow, case_no) == {5}
    assert _types(ow, case_no)[-1] == "extension_granted"


def test_the_request_survives_history_verification(ow, held):
    case_no, task_id = held
    asked = requests.request_extension(ow, task_id, "reviewer1", 4, "等待检测报告")
    requests.approve(ow, asked["id"], "head1")
    assert services.verify_history(ow, case_no)["problems"] == []
