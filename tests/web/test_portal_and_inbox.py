"""The web app through Flask's test client: sign-in, every area, permission boundaries and bad input."""
from __future__ import annotations

import re
from io import BytesIO

from engine import services
from tests.patterns.helpers import PLANNING
from tests.web.helpers import MATERIAL, PDF, apply_online, claim_and_complete, task_of


def receipt_of(b) -> tuple[str, str]:
    page = b.client.get("/receipt").get_data(as_text=True)
    case_no = re.search(r'id="case-no">(\w+)<', page).group(1)
    code = re.search(r'id="lookup-code">(\w+)<', page).group(1)
    return case_no, code


def test_sign_in_refuses_a_wrong_password_then_slows_down_repeated_failures(browser, ow):
    assert browser.login("window1", "wrong").status_code == 401
    for _ in range(4):
        browser.login("window1", "wrong")
    # From the address that kept guessing, even the right password waits out the back-off (see test_sign_in).
    response = browser.login("window1")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0 and "秒后再试" in response.get_data(as_text=True)


def test_forms_without_a_csrf_token_are_refused(app):
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "window1", "password": "demo-1234"})
    assert response.status_code == 400
    assert client.get("/auth/me").status_code == 302


def test_pages_need_sign_in_and_the_right_role(browser, as_user):
    assert browser.client.get("/inbox/").headers["Location"].startswith("/auth/login")
    assert browser.client.get("/design/").status_code == 302
    applicant = as_user("zhangsan")
    assert applicant.client.get("/inbox/").status_code == 403
    assert applicant.client.get("/design/").status_code == 403
    assert applicant.client.get("/proxy/").status_code == 403
    assert as_user("window1").client.get("/items/outdoor-ad/apply").status_code == 403
    assert as_user("designer1").client.get("/design/items/outdoor-ad/v1").get_data(as_text=True).count("<svg") == 1


def test_public_pages_show_the_service_guide_and_switch_to_english(browser):
    page = browser.client.get("/items/outdoor-ad").get_data(as_text=True)
    assert "户外广告设施设置审批" in page and "15wd" in page and "《中华人民共和国行政许可法》" in page
    assert "场地使用权证明" in page
    english = browser.client.get("/items/outdoor-ad?lang=en").get_data(as_text=True)
    assert "Outdoor advertising installation permit" in english and "Apply online" in english
    # The choice sticks for the session.
    assert "Track a case" in browser.client.get("/").get_data(as_text=True)


def test_applicant_to_decision_through_the_web_and_rating(as_user, browser, ow):
    applicant = as_user("zhangsan")
    response = apply_online(applicant, files={"material-1": (BytesIO(PDF), "申请表.pdf")})
    assert response.status_code == 302
    case_no, code = receipt_of(applicant)
    assert services.casefile.case_file(ow, case_no, "window1")["uploads"][0]["filename"] == "申请表.pdf"
    window = as_user("window1")
    assert claim_and_complete(window, case_no, {"intake_decision": "accept", "intake_opinion": "材料齐全"}).status_code == 302
    assert claim_and_complete(as_user("reviewer1"), case_no, {"decision": "pass", "opinion": "符合规划"}).status_code == 302
    assert claim_and_complete(as_user("inspector1"), case_no,
                              {"survey_result": "conforms", "survey_date": "2026-03-11"}).status_code == 302
    assert claim_and_complete(as_user("chief1"), case_no, {"decision": "approve", "opinion": "准予"}).status_code == 302
    tracked = browser.submit("/track", "/track", {"case_no": case_no, "lookup_code": code})
    assert "已办结" in tracked.get_data(as_text=True) and "准予许可" in tracked.get_data(as_text=True)
    rated = browser.client.post("/rate", data={**browser.tokens_in(tracked), "case_no": case_no, "lookup_code": code,
                                               "level": "5"})
    assert rated.status_code == 200 and 'id="rated"' in rated.get_data(as_text=True)
    events = [e["type"] for e in services.history(ow, case_no)]
    assert events[-1] == "rated" and "materials_attached" in events


def test_wrong_lookup_code_reveals_nothing_and_guessing_is_slowed_down(browser, as_user, ow):
    apply_online(as_user("zhangsan"))
    page = as_user("zhangsan").client.get("/mine").get_data(as_text=True)
    case_no = re.search(r"/mine/(\w+)", page).group(1)
    response = browser.submit("/track", "/track", {"case_no": case_no, "lookup_code": "000000x"})
    assert response.status_code == 404 and "解放路" not in response.get_data(as_text=True)
    for _ in range(4):
        browser.submit("/track", "/track", {"case_no": case_no, "lookup_code": "000000x"})
    # After five wrong codes even the right one waits: a six-digit code cannot be found by trying them all.
    code = services.portal.my_cases(ow, "zhangsan")[0]["lookup_code"]
    assert browser.submit("/track", "/track", {"case_no": case_no, "lookup_code": code}).status_code == 429


def test_bad_uploads_are_refused_and_nothing_is_created(as_user, ow):
    applicant = as_user("zhangsan")
    too_big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    for name, data, word in [("a.exe", b"MZ..", "PDF/PNG/JPEG"), ("../../etc/passwd.pdf", PDF, "文件名不能包含路径"),
                             ("fake.pdf", b"<html>", "文件内容与扩展名不符"), ("big.pdf", too_big, "文件过大")]:
        response = apply_online(applicant, files={"material-1": (BytesIO(data), name)})
        assert response.status_code == 422, name
        assert word in response.get_data(as_text=True)
    assert services.portal.my_cases(ow, "zhangsan") == []


def test_form_errors_are_per_field_and_html_is_escaped(as_user, ow):
    applicant = as_user("zhangsan")
    response = apply_online(applicant, {"area_sqm": "lots", "period_months": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-area_sqm"' in page
    apply_online(applicant, {"content": "<script>alert(1)</script>"})
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    page = as_user("window1").client.get(f"/inbox/cases/{case_no}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_a_double_submitted_form_acts_once(as_user, ow):
    applicant = as_user("zhangsan")
    tokens = applicant.tokens("/items/outdoor-ad/apply")
    form = {**tokens, "site_address": "解放路1号", "facility_type": "wall", "area_sqm": "3", "period_months": "6"}
    assert applicant.client.post("/items/outdoor-ad/apply", data=form).status_code == 302
    again = applicant.client.post("/items/outdoor-ad/apply", data=form, follow_redirects=True)
    assert "已经提交过" in again.get_data(as_text=True)
    assert len(services.portal.my_cases(ow, "zhangsan")) == 1


def test_clerk_of_another_department_cannot_open_or_act_on_a_task(as_user, ow):
    apply_online(as_user("zhangsan"))
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    claim_and_complete(as_user("window1"), case_no, {"intake_decision": "accept"})
    task_id = task_of(as_user("reviewer1"), case_no)
    outsider = as_user("market_reviewer")
    assert outsider.client.get(f"/inbox/tasks/{task_id}").status_code == 403
    assert outsider.client.get(f"/inbox/cases/{case_no}").status_code == 404
    tokens = as_user("reviewer1").tokens(f"/inbox/tasks/{task_id}")
    assert outsider.client.post(f"/inbox/tasks/{task_id}/claim", data=tokens).status_code in (400, 403)
    tokens = outsider.tokens("/auth/me")
    assert outsider.client.post(f"/inbox/tasks/{task_id}/claim", data=tokens).status_code == 403
    assert services.case_detail(ow, case_no)["open_tasks"][0]["assignee"] is None
    assert outsider.client.get("/inbox/").get_data(as_text=True).count(case_no) == 0


def test_inbox_filters_sort_and_page(as_user, ow):
    for _ in range(3):
        apply_online(as_user("zhangsan"))
    services.apply(ow, "outdoor-ad", "lisi", {"site_address": "文一路1号", "facility_type": "wall", "area_sqm": 1,
                                              "period_months": 1})
    window = as_user("window1")
    page = window.client.get("/inbox/?applicant=李四").get_data(as_text=True)
    assert page.count('class="task-link"') == 1
    assert window.client.get("/inbox/?stage=purple").status_code == 422
    assert window.client.get("/inbox/?overdue=1").get_data(as_text=True).count('class="task-link"') == 0
    assert window.client.get("/inbox/?item=outdoor-ad").get_data(as_text=True).count('class="task-link"') == 4


def test_backup_post_sees_and_completes_the_absent_holders_task(as_user, ow):
    # A backup post comes from the holder's own department: the planning bureau has two reviewers.
    case_no = services.apply(ow, "building-planning", "zhangsan", PLANNING)["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    holder = as_user("nature_reviewer")
    task_id = task_of(holder, case_no)
    holder.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/claim", {})
    assert holder.submit("/auth/me", "/auth/absence", {"absent": "1", "backup": "nature_reviewer2"}).status_code == 302
    backup = as_user("nature_reviewer2")
    assert task_of(backup, case_no, scope="mine") == task_id
    done = backup.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/complete",
                         {"decision": "agree", "opinion": "代岗审查同意"})
    assert done.status_code == 302
    event = services.history(ow, case_no)[-1]
    assert (event["actor"], event["acting_for"]) == ("nature_reviewer2", "nature_reviewer")


def test_one_time_notice_read_and_answered_by_the_applicant(as_user, ow):
    applicant = as_user("zhangsan")
    apply_online(applicant)
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    window = as_user("window1")
    sent = window.submit(f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/correction",
                         {"missing": ["场地使用权证明"], "reason": "缺少场地证明"})
    assert sent.status_code == 302
    page = applicant.client.get(f"/mine/{case_no}").get_data(as_text=True)
    assert "一次性告知书" in page and "场地使用权证明" in page and 'id="answer-notice"' in page
    answered = applicant.submit(f"/mine/{case_no}", f"/mine/{case_no}/supplement",
                                {"note": "已补交", "material-4-name": "场地使用权证明",
                                 "material-4": (BytesIO(PDF), "场地证明.pdf")}, content_type="multipart/form-data")
    assert answered.status_code == 302
    detail = services.casefile.case_file(ow, case_no, "window1")
    assert detail["status"] == "RECEIVED" and detail["uploads"][0]["material"] == "场地使用权证明"


def test_designer_sees_findings_on_an_invalid_bpmn_then_deploys_a_valid_one(as_user, ow):
    designer = as_user("designer1")
    good = open("processes/outdoor-ad.bpmn", "rb").read()
    bad = good.replace(b'camunda:formKey="review"', b'camunda:formKey="no-such-form"', 1)
    assert bad != good
    response = designer.submit("/design/items/outdoor-ad/upload", "/design/items/outdoor-ad/upload",
                               {"bpmn": (BytesIO(bad), "outdoor-ad.bpmn")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "unknown-form-key" in page and re.search(r'id="review" class="[^"]*overdue"', page)
    changed = good.replace(b"</bpmn:definitions>", b"<!-- v2 --></bpmn:definitions>")
    checked = designer.submit("/design/items/outdoor-ad/upload", "/design/items/outdoor-ad/upload",
                              {"bpmn": (BytesIO(changed), "outdoor-ad.bpmn")}, content_type="multipart/form-data")
    assert 'id="no-findings"' in checked.get_data(as_text=True)
    deployed = designer.client.post("/design/items/outdoor-ad/deploy", content_type="multipart/form-data", data={
        **designer.tokens_in(checked), "bpmn": (BytesIO(changed), "outdoor-ad.bpmn")})
    assert deployed.status_code == 302
    assert services.designer.item_versions(ow, "designer1")["outdoor-ad"][0]["version"] == 2


def test_proxy_agent_registers_a_mandate_applies_and_records_delivery(as_user, ow):
    agent = as_user("agent1")
    granted = agent.submit("/proxy/", "/proxy/mandates", {
        "applicant": "lisi", "item_code": "outdoor-ad", "valid_from": "2026-03-10", "valid_until": "2026-06-30",
        "consent_method": "signed_form", "consent_reference": "WT-2026-001"})
    assert granted.status_code == 302
    (mandate,) = services.proxy.list_mandates(ow, "lisi")
    services.proxy.confirm_mandate(ow, "lisi", mandate["id"])
    applied = agent.submit("/proxy/apply/outdoor-ad?on_behalf_of=lisi", "/proxy/apply/outdoor-ad", {
        "on_behalf_of": "lisi", "site_address": "村口", "facility_type": "column", "area_sqm": "2",
        "period_months": "12"})
    assert applied.status_code == 302
    case = services.portal.my_cases(ow, "lisi")[0]
    assert case["channel"] == "proxy"
    assert case["case_no"] in agent.client.get("/proxy/").get_data(as_text=True)


def test_material_download_is_an_attachment_for_those_who_may_see_the_case(as_user, ow):
    apply_online(as_user("zhangsan"), files={"material-1": (BytesIO(PDF), "表.pdf")})
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    upload_id = services.casefile.case_file(ow, case_no, "window1")["uploads"][0]["id"]
    got = as_user("window1").client.get(f"/inbox/cases/{case_no}/files/{upload_id}")
    assert got.data == PDF and got.headers["Content-Disposition"].startswith("attachment")
    assert as_user("market_reviewer").client.get(f"/inbox/cases/{case_no}/files/{upload_id}").status_code == 404
    assert MATERIAL


def test_special_procedure_and_extension_from_the_case_page(as_user, ow):
    apply_online(as_user("zhangsan"))
    case_no = services.portal.my_cases(ow, "zhangsan")[0]["case_no"]
    claim_and_complete(as_user("window1"), case_no, {"intake_decision": "accept"})
    outsider = as_user("market_reviewer")
    refused = outsider.submit("/auth/me", f"/inbox/cases/{case_no}/suspend", {"procedure": "专家评审", "reason": "x"})
    assert refused.status_code == 404 and services.case_detail(ow, case_no)["status"] == "ACCEPTED"
    reviewer = as_user("reviewer1")
    suspended = reviewer.submit(f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/suspend",
                                {"procedure": "专家评审", "reason": "结构安全需专家论证", "expected_days": "5"})
    assert suspended.status_code == 302 and services.case_detail(ow, case_no)["status"] == "SUSPENDED"
    assert "结束特别程序" in reviewer.client.get(f"/inbox/cases/{case_no}").get_data(as_text=True)
    head = as_user("head1")
    head.submit(f"/inbox/cases/{case_no}", f"/inbox/cases/{case_no}/extend", {"days": "5", "reason": "需补充论证"})
    assert services.history(ow, case_no)[-1]["type"] == "extension_granted"
