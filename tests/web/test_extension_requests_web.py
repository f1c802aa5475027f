"""Extension requests through the pages: the clerk asks on the task page, the head decides on the inbox page."""
from __future__ import annotations

import re

from engine import services
from tests.integration.helpers import AD_APPLICATION


def _held(ow) -> tuple[str, str]:
    """An accepted case whose review task reviewer1 holds."""
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    task_id = next(t["task_id"] for t in services.inbox(ow, "reviewer1") if t["case_no"] == case_no)
    services.claim(ow, task_id, "reviewer1")
    return case_no, task_id


def _request_id(page: str) -> str:
    found = re.search(r'data-request="(\d+)"', page)
    assert found, "no extension request on the head's page"
    return found.group(1)


def test_the_clerk_asks_and_the_head_approves_from_the_inbox(ow, as_user):
    case_no, task_id = _held(ow)
    clerk, head = as_user("reviewer1"), as_user("head1")
    assert 'id="extension-request-form"' in clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    asked = clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/extension-request",
                         {"days": "6", "reason": "需等待专家评审意见"})
    assert asked.status_code == 302
    page = clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert 'data-status="pending"' in page and 'id="extension-request-form"' not in page

    inbox = head.client.get("/inbox/").get_data(as_text=True)
    assert 'id="extension-requests"' in inbox and "需等待专家评审意见" in inbox
    request_id = _request_id(inbox)
    approved = head.submit("/inbox/", f"/inbox/extension-requests/{request_id}/approve", {})
    assert approved.status_code == 302
    assert 'id="extension-requests"' not in head.client.get("/inbox/").get_data(as_text=True)
    assert [e["type"] for e in services.history(ow, case_no)][-2:] == ["extension_granted", "extension_request_approved"]
    notices = services.portal.applicant_case(ow, case_no, "zhangsan")["notices"]
    assert [n["kind"] for n in notices] == ["extension_notice"] and "需等待专家评审意见" in notices[0]["zh"]
    assert 'data-status="approved"' in clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)


def test_the_head_declines_only_with_a_reason(ow, as_user):
    case_no, task_id = _held(ow)
    clerk, head = as_user("reviewer1"), as_user("head1")
    clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/extension-request",
                 {"days": "3", "reason": "现场勘查排期"})
    request_id = _request_id(head.client.get("/inbox/").get_data(as_text=True))
    head.submit("/inbox/", f"/inbox/extension-requests/{request_id}/decline", {"reason": ""})
    page = head.client.get("/inbox/").get_data(as_text=True)
    assert "理由: 须为 2–500 个字符" in page and f'data-request="{request_id}"' in page
    head.submit("/inbox/", f"/inbox/extension-requests/{request_id}/decline", {"reason": "可提前安排勘查"})
    assert "extension_granted" not in [e["type"] for e in services.history(ow, case_no)]
    page = clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert 'data-status="declined"' in page and "可提前安排勘查" in page


def test_too_many_days_are_refused_on_the_field_in_the_clerks_language(ow, as_user):
    _, task_id = _held(ow)
    clerk = as_user("reviewer1")
    clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/extension-request",
                 {"days": "30", "reason": "需要很长时间"})
    assert "延期工作日: 最多 10" in clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    clerk.client.get("/inbox/?lang=en")
    clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/extension-request",
                 {"days": "30", "reason": "需要很长时间"})
    assert "Working days to add: at most 10" in clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
