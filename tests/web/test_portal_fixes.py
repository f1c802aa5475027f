"""Portal and API fixes: review-stage correction replies, the lookup-code guard on ratings and complaints,
acting_for and file digests in the history, and the applicant's restricted view through the API."""
from __future__ import annotations

import hashlib
from datetime import date
from io import BytesIO

from engine import services
from engine.services.portal import PUBLIC_EVENTS
from tests.integration.helpers import AD_APPLICATION
from tests.web.conftest import ONCE_TOKEN
from tests.web.helpers import MATERIAL, PDF, apply_online, claim_and_complete
from web.api.openapi import document

SITE_PROOF = "场地使用权证明"


def _bearer(ow, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + services.accounts.issue_api_token(ow, username, "tests")}


def _issued_once_tokens(browser, case_no: str, code: str, pages: int) -> list[str]:
    """The one-time tokens the server issues with the rate and complain forms of a tracked case (two per page)."""
    tokens = []
    for _ in range(pages):
        page = browser.client.post("/track", data={**browser.tokens("/track"), "case_no": case_no, "lookup_code": code})
        tokens += ONCE_TOKEN.findall(page.get_data(as_text=True))
    return tokens


def _post_with_issued_once(browser, url: str, once: str, data: dict):
    """Post a portal form as a person reloading it would: its CSRF token and a one-time token issued by the server."""
    return browser.client.post(url, data={"csrf_token": browser.tokens("/track")["csrf_token"], "once": once, **data})


def test_applicant_answers_a_review_stage_correction_and_the_clocks_run_again(as_user, ow):
    applicant = as_user("zhangsan")
    apply_online(applicant)
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    claim_and_complete(as_user("window1"), case_no, {"intake_decision": "accept"})
    reviewer = as_user("reviewer1")
    asked = reviewer.submit(f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/correction",
                            {"missing": ["结构安全说明"], "reason": "需补充结构安全说明"})
    assert asked.status_code == 302 and services.history(ow, case_no)[-1]["type"] == "clock_paused"
    assert 'id="answer-notice"' in applicant.client.get(f"/mine/{case_no}").get_data(as_text=True)
    answered = applicant.submit(f"/mine/{case_no}", f"/mine/{case_no}/supplement", {"note": "已补交结构安全说明"},
                                content_type="multipart/form-data")
    assert answered.status_code == 302
    events = services.history(ow, case_no)
    assert [e["type"] for e in events[-2:]] == ["correction_received", "clock_resumed"]
    assert events[-2]["actor"] == "zhangsan" and events[-2]["payload"]["note"] == "已补交结构安全说明"
    assert services.case_detail(ow, case_no)["status"] == "ACCEPTED"
    # The reply is on record: the portal stops asking for materials.
    assert 'id="answer-notice"' not in applicant.client.get(f"/mine/{case_no}").get_data(as_text=True)


def test_a_refused_reply_to_a_one_time_notice_stores_no_file(as_user, ow):
    applicant = as_user("zhangsan")
    apply_online(applicant)
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    as_user("window1").submit(f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/correction",
                              {"missing": [SITE_PROOF], "reason": "缺少场地证明"})
    # A file for a material the notice does not list is refused, and nothing of it is kept.
    refused = applicant.submit(f"/mine/{case_no}", f"/mine/{case_no}/supplement",
                               {"material-1-name": MATERIAL, "material-1": (BytesIO(PDF), "表.pdf")},
                               content_type="multipart/form-data")
    assert refused.status_code == 422
    assert services.casefile.case_file(ow, case_no, "window1")["uploads"] == []
    assert "materials_attached" not in [e["type"] for e in services.history(ow, case_no)]


def test_wrong_lookup_codes_on_rate_lock_out_the_right_one(browser, ow):
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    services.reject_at_intake(ow, case_no, "window1", "不属于本中心受理范围")
    code = services.portal.my_cases(ow, "zhangsan")[0]["lookup_code"]
    # Tokens come from pages loaded while the code was still accepted; a made-up token would be refused anyway.
    tokens = _issued_once_tokens(browser, case_no, code, pages=4)
    assert len(set(tokens)) == 8
    for once in tokens[:5]:
        wrong = _post_with_issued_once(browser, "/rate", once, {"case_no": case_no, "lookup_code": "000000x",
                                                                 "level": "1"})
        assert wrong.status_code == 404
    # Guessing through /rate counts like guessing through /track: even the right code now waits.
    assert _post_with_issued_once(browser, "/rate", tokens[5], {"case_no": case_no, "lookup_code": code,
                                                                "level": "5"}).status_code == 429
    assert _post_with_issued_once(browser, "/complain", tokens[6], {"case_no": case_no, "lookup_code": code,
                                                                    "text": "办理太慢了请核实"}).status_code == 429
    assert services.history(ow, case_no)[-1]["type"] not in ("rated", "complained")


def test_proxy_agent_actions_record_whom_they_act_for_and_uploads_their_digest(as_user, ow):
    granted = services.proxy.grant_mandate(ow, "agent1", "lisi", "agent1", "outdoor-ad", date(2026, 3, 1),
                                           date(2026, 6, 30), {"method": "signed_form", "reference": "WT-2026-002"})
    services.proxy.confirm_mandate(ow, "lisi", granted["id"])
    case_no = services.apply(ow, "outdoor-ad", "agent1", AD_APPLICATION, on_behalf_of="lisi")["case_no"]
    as_user("window1").submit(f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/correction",
                              {"missing": [SITE_PROOF], "reason": "缺少场地证明"})
    agent = as_user("agent1")
    answered = agent.submit(f"/mine/{case_no}", f"/mine/{case_no}/supplement",
                            {"material-4-name": SITE_PROOF, "material-4": (BytesIO(PDF), "场地证明.pdf")},
                            content_type="multipart/form-data")
    assert answered.status_code == 302
    attached = next(e for e in services.history(ow, case_no) if e["type"] == "materials_attached")
    assert (attached["actor"], attached["acting_for"]) == ("agent1", "lisi")
    assert attached["payload"]["files"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    services.reject_at_intake(ow, case_no, "window1", "不属于本中心受理范围")
    services.portal.rate(ow, case_no, 4, username="agent1")
    services.portal.complain(ow, case_no, "窗口答复不够清楚", username="agent1")
    rated, complained = services.history(ow, case_no)[-2:]
    assert (rated["type"], rated["acting_for"]) == ("rated", "lisi")
    assert (complained["type"], complained["acting_for"]) == ("complained", "lisi")


def test_applicant_token_gets_the_public_view_of_a_case(app, ow):
    api = app.test_client()
    case_no = api.post("/api/v1/cases", json={"item_code": "outdoor-ad", "data": AD_APPLICATION},
                       headers=_bearer(ow, "zhangsan")).json["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全，予以受理")
    staff = api.get(f"/api/v1/cases/{case_no}", headers=_bearer(ow, "window1"))
    assert "window1" in staff.get_data(as_text=True)  # the clerk's own view is the full case file
    applicant = _bearer(ow, "zhangsan")
    seen = api.get(f"/api/v1/cases/{case_no}", headers=applicant)
    text = seen.get_data(as_text=True)
    assert seen.status_code == 200 and seen.json["status"] == "ACCEPTED"
    assert "window1" not in text and "材料齐全" not in text
    assert set(seen.json) <= set(document()["components"]["schemas"]["Tracking"]["properties"])
    history = api.get(f"/api/v1/cases/{case_no}/history", headers=applicant).json["events"]
    assert [e["type"] for e in history] == ["applied", "accepted"]
    assert all(e["type"] in PUBLIC_EVENTS and "hash" not in e and "actor" not in e for e in history)


def test_applicant_cannot_file_under_another_name_through_the_api(app, ow):
    created = app.test_client().post("/api/v1/cases", headers=_bearer(ow, "zhangsan"), json={
        "item_code": "outdoor-ad", "data": AD_APPLICATION, "applicant": {"name": "李四", "phone": "0571-88000000"}})
    assert created.status_code == 201
    case = services.casefile.case_file(ow, created.json["case_no"], "window1")
    assert case["applicant"]["name"] == "张三" and case["applicant"]["phone"] == "0571-88000000"


FOOD_FORM = {"business_name": "示例餐饮店", "premises_address": "杭州市上城区解放路9号", "business_type": "catering",
             "applicant-phone": "0571-88000000", "applicant-id_type": "resident_id",
             "applicant-id_no": "330102199001011234"}


def _applied_data(ow, username: str) -> dict:
    """The form data of the user's newest application, as its history recorded it."""
    newest = services.portal.my_cases(ow, username)[0]["case_no"]
    (applied,) = [e for e in services.history(ow, newest) if e["type"] == "applied"]
    return applied["payload"]["data"]


def test_a_yes_no_question_is_a_checkbox_and_its_answer_a_boolean(as_user, ow):
    applicant = as_user("zhangsan")
    page = applicant.client.get("/items/food-business/apply").get_data(as_text=True)
    assert '<input type="checkbox" name="commitment" id="commitment" value="on">' in page
    ticked = applicant.submit("/items/food-business/apply", "/items/food-business/apply",
                              {**FOOD_FORM, "commitment": "on"})
    assert ticked.status_code == 302, ticked.get_data(as_text=True)
    assert _applied_data(ow, "zhangsan")["commitment"] is True
    unticked = applicant.submit("/items/food-business/apply", "/items/food-business/apply", FOOD_FORM)
    assert unticked.status_code == 302
    assert _applied_data(ow, "zhangsan")["commitment"] is False
