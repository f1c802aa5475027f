"""The reassignment, contact-correction and complaint pages over HTTP: who may use them, CSRF, languages."""
from __future__ import annotations

import pytest

from engine import services
from engine.services import complaints, portal
from tests.audit.case_admin import footprint, last_event, staff  # noqa: F401 (a fixture)
from tests.integration.helpers import accepted_ad_case, only_task

# Every test here also needs the second reviewer and the market bureau's head.
pytestmark = pytest.mark.usefixtures("staff")


def test_a_head_reassigns_from_the_case_page_and_other_departments_cannot(ow, as_user):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    head = as_user("head1")
    team = head.client.get("/inbox/?scope=team").get_data(as_text=True)
    assert f'data-task="{task_id}"' in team
    page = head.client.get(f"/inbox/cases/{case_no}").get_data(as_text=True)
    assert 'id="reassign"' in page and 'value="reviewer2"' in page and 'value="market_reviewer"' not in page
    url, action = f"/inbox/cases/{case_no}", f"/inbox/tasks/{task_id}/reassign"
    # Without its tokens the form does nothing.
    assert head.client.post(action, data={"to": "reviewer2", "reason": "病假"}).status_code == 400
    for who, status in (("market_reviewer", 403), ("auditor1", 403), ("market_head", 403)):
        before = footprint(ow, case_no)
        other = as_user(who)
        response = other.submit("/auth/me", action, {"to": "reviewer2", "reason": "别的部门", "case_no": case_no})
        assert response.status_code == status, who
        assert footprint(ow, case_no) == before
    # The other bureau's head does not even see the case.
    assert as_user("market_head").client.get(url).status_code == 404
    refused = head.submit(url, action, {"to": "inspector1", "reason": "不是审查岗", "case_no": case_no})
    assert refused.status_code == 302 and last_event(ow, case_no)["type"] == "accepted"
    done = head.submit(url, action, {"to": "reviewer2", "reason": "赵审查病假", "case_no": case_no})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/inbox/cases/{case_no}")
    assert last_event(ow, case_no)["payload"]["to"] == "reviewer2"
    english = head.client.get(f"/inbox/cases/{case_no}?lang=en").get_data(as_text=True)
    assert "Reassign" in english and "Correct contact details" in english


def test_a_head_corrects_the_contact_details_from_the_case_page(ow, as_user):
    case_no = accepted_ad_case(ow)
    url, action = f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/contact"
    before = footprint(ow, case_no)
    assert as_user("reviewer1").submit(url, action, {"phone": "0571-87000000", "reason": "x"}).status_code == 403
    assert as_user("market_head").submit("/auth/me", action, {"phone": "0571-87000000", "reason": "别的局"}).status_code == 404
    assert footprint(ow, case_no) == before
    head = as_user("head1")
    assert 'id="contact-edit"' in head.client.get(url).get_data(as_text=True)
    assert head.submit(url, action, {"phone": "0571-87000000", "address": "", "contact_name": "张联系",
                                     "reason": "申请人来电更正"}).status_code == 302
    event = last_event(ow, case_no)
    assert event["type"] == "administrative_edit" and event["payload"]["after"]["contact_name"] == "张联系"
    assert "张联系" in head.client.get(url).get_data(as_text=True)


def test_a_supervisor_moves_a_complaint_on_from_the_complaint_desk(ow, as_user):
    case_no = accepted_ad_case(ow)
    complaint_id = portal.complain(ow, case_no, "窗口没有一次性告知所缺材料", username="zhangsan")["complaint_id"]
    url, action = "/audit/complaints", f"/audit/complaints/{complaint_id}/advance"
    auditor = as_user("auditor1")
    page = auditor.client.get(url).get_data(as_text=True)
    assert f'data-complaint="{complaint_id}"' in page and 'name="text"' not in page
    assert auditor.submit(url, action, {"to": "investigated", "text": "审计员只读"}).status_code == 403
    assert as_user("window1").client.get(url).status_code == 403
    supervisor = as_user("supervisor1")
    assert supervisor.client.post(action, data={"to": "investigated", "text": "无令牌"}).status_code == 400
    assert supervisor.submit(url, action, {"to": "answered", "text": "跳过调查"}).status_code == 409
    assert supervisor.submit(url, action, {"to": "investigated", "text": ""}).status_code == 302  # flashed
    assert complaints.complaint_queue(ow, "supervisor1")[0]["status"] == "received"
    assert supervisor.submit(url, action, {"to": "investigated", "text": "已调取录像"}).status_code == 302
    assert last_event(ow, case_no)["type"] == "complaint_investigated"
    page = supervisor.client.get(url).get_data(as_text=True)
    assert 'data-stage="investigated"' in page and 'value="resolved"' in page
    assert "Record the resolution" in supervisor.client.get(url + "?lang=en").get_data(as_text=True)
    figures = supervisor.client.get("/audit/figures?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert 'id="overdue-complaints"' in figures and f'data-complaint="{complaint_id}"' in figures
    assert services.history(ow, case_no)[-1]["actor"] == "supervisor1"
