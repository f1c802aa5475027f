"""A refusal at intake (不予受理) carries its reason, legal basis and remedy, and the applicant reads them."""
from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select

from engine import services
from engine.errors import InvalidInput
from engine.services.intake import REFUSAL_BASIS, REFUSAL_REMEDY
from engine.store.models import Notification
from engine.store.uow import reading
from tests.integration.helpers import AD_APPLICATION


def _received(ow) -> tuple[str, str, str]:
    """A case received online, its lookup code and its intake task."""
    applied = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)
    task_id = next(t["task_id"] for t in services.inbox(ow, "window1") if t["case_no"] == applied["case_no"])
    return applied["case_no"], applied["lookup_code"], task_id


def test_a_rejection_without_a_reason_is_refused_and_changes_nothing(ow):
    case_no, _, _ = _received(ow)
    for blank in ("", "   "):
        with pytest.raises(InvalidInput) as refused:
            services.reject_at_intake(ow, case_no, "window1", blank)
        assert "reject_reason" in refused.value.fields
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED"
    assert [e["type"] for e in services.history(ow, case_no)] == ["applied"]


def test_the_refusal_notice_records_reason_basis_and_remedy_and_reaches_the_applicant(ow):
    case_no, _, _ = _received(ow)
    services.reject_at_intake(ow, case_no, "window1", "设置地点不在户外广告设置规划范围内")
    issued = services.history(ow, case_no)[-1]
    assert issued["type"] == "refusal_notice_issued"
    assert issued["payload"] == {"reason": "设置地点不在户外广告设置规划范围内", "basis": REFUSAL_BASIS,
                                 "remedy_zh": REFUSAL_REMEDY["zh"], "remedy_en": REFUSAL_REMEDY["en"]}
    with reading(ow.db) as s:
        sent = s.execute(select(Notification.recipient, Notification.body).where(
            Notification.kind == "refusal_notice")).all()
    assert [who for who, _ in sent] == ["zhangsan"] and "行政复议" in sent[0][1]["zh"]
    assert services.verify_history(ow, case_no)["problems"] == []


def test_the_window_page_refuses_an_empty_reason_on_the_field(ow, as_user):
    case_no, _, task_id = _received(ow)
    clerk = as_user("window1")
    clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/claim", {})
    page = clerk.client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert 'id="refusal_basis"' in page and "行政复议" in page
    refused = clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/complete",
                           {"intake_decision": "reject", "reject_reason": ""})
    assert refused.status_code == 422
    assert 'id="error-reject_reason"' in refused.get_data(as_text=True)
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED"
    done = clerk.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/complete",
                        {"intake_decision": "reject", "reject_reason": "申请事项不属于本机关职权范围",
                         "refusal_basis": "《中华人民共和国行政许可法》第三十二条第一款第（二）项"})
    assert done.status_code == 302
    assert services.history(ow, case_no)[-1]["payload"]["basis"].endswith("第（二）项")


def test_the_api_applies_the_same_rule(app, ow):
    case_no, _, task_id = _received(ow)
    headers = {"Authorization": "Bearer " + services.accounts.issue_api_token(ow, "window1", "tests")}
    api = app.test_client()
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    refused = api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                       json={"data": {"intake_decision": "reject"}})
    assert refused.status_code == 422 and "reject_reason" in refused.json["fields"]
    assert refused.json["code"] == "invalid_input"
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED"


def test_the_applicant_reads_the_notice_when_tracking(ow, browser, as_user):
    case_no, code, _ = _received(ow)
    services.reject_at_intake(ow, case_no, "window1", "设置地点不在户外广告设置规划范围内")
    page = browser.submit("/track", "/track", {"case_no": case_no, "lookup_code": code}).get_data(as_text=True)
    assert 'id="refusal-notice"' in page and "设置地点不在户外广告设置规划范围内" in page
    assert REFUSAL_BASIS in page and REFUSAL_REMEDY["zh"] in page
    english = browser.client.get("/track?lang=en")
    assert english.status_code == 200
    page = browser.submit("/track", "/track", {"case_no": case_no, "lookup_code": code}).get_data(as_text=True)
    assert str(escape(REFUSAL_REMEDY["en"])) in page
    mine = as_user("zhangsan").client.get(f"/mine/{case_no}").get_data(as_text=True)
    assert "设置地点不在户外广告设置规划范围内" in mine and REFUSAL_REMEDY["zh"] in mine
