"""The audit pages over HTTP (Flask test client): who may open them, what they show, and that they change nothing."""
from __future__ import annotations

import csv
import io
import json

from engine import services
from engine.services import audit
from tests.audit.helpers import returned_twice_then_approved
from tests.integration.helpers import accepted_ad_case, only_task
from tests.web.conftest import csrf_of


def test_only_auditors_and_supervisors_open_the_audit_pages(ow, app, browser, as_user):
    case_no = accepted_ad_case(ow)
    assert browser.client.get("/audit/").status_code == 302  # to the sign-in page
    for who in ("window1", "zhangsan", "reviewer1"):
        client = as_user(who).client
        for url in ("/audit/", f"/audit/cases/{case_no}", "/audit/figures", "/audit/export/figures.csv"):
            assert client.get(url).status_code == 403, (who, url)
    for who in ("auditor1", "supervisor1"):
        assert as_user(who).client.get("/audit/").status_code == 200


def test_case_page_steps_through_the_timeline(ow, as_user):
    case_no, shots = returned_twice_then_approved(ow)
    client = as_user("auditor1").client
    page = client.get(f"/audit/cases/{case_no}?at=4").get_data(as_text=True)
    assert 'id="status">IN_REVIEW<' in page and "<svg" in page
    assert f'href="/audit/cases/{case_no}?at=5"' in page and f'href="/audit/cases/{case_no}?at=3"' in page
    as_json = json.loads(client.get(f"/audit/cases/{case_no}?at=4&format=json").get_data(as_text=True))
    assert as_json["replayed_state_hash"] == shots[3]["state_hash"] and as_json["verified"]
    assert client.get(f"/audit/cases/{case_no}?at=999").status_code == 422  # InvalidInput
    assert client.get("/audit/cases/nosuchcase").status_code == 404
    log = audit.read_log(ow, "auditor1", case_no)
    assert [r["detail"]["seq"] for r in log] == [4, 4]


def test_verify_button_stores_a_run_shown_on_the_desk(ow, as_user):
    returned_twice_then_approved(ow)
    b = as_user("auditor1")
    desk = b.client.get("/audit/")
    response = b.client.post("/audit/verify", data={"csrf_token": csrf_of(desk), "case_no": ""})
    assert response.status_code == 302
    runs = audit.verification_runs(ow, "auditor1")
    assert len(runs) == 1 and runs[0]["problem_count"] == 0 and runs[0]["requested_by"] == "auditor1"
    assert "通过 · verified" in b.client.get("/audit/").get_data(as_text=True)
    # Without the CSRF token nothing runs.
    assert b.client.post("/audit/verify", data={}).status_code == 400
    assert len(audit.verification_runs(ow, "auditor1")) == 1


def test_figures_page_draws_charts_and_exports_download(ow, as_user):
    returned_twice_then_approved(ow)
    client = as_user("supervisor1").client
    page = client.get("/audit/figures?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert page.count("<svg") >= 2 and 'id="figures"' in page
    response = client.get("/audit/export/figures.csv?from=2026-03-01&to=2026-03-31")
    assert response.headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["key"], r["concluded"]) for r in rows] == [("city-urban", "1")]
    empty = client.get("/audit/export/exchange.json?from=2020-01-01&to=2020-01-31")
    assert json.loads(empty.get_data(as_text=True))["rows"] == []
    assert client.get("/audit/export/figures.xml").status_code == 404
    assert client.get("/audit/figures?from=2026-13-01").status_code == 422


def test_an_auditor_cannot_change_a_case_through_any_write_route(ow, as_user):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    before = services.history(ow, case_no)
    b = as_user("auditor1")
    page = b.client.get(f"/audit/cases/{case_no}")
    csrf = csrf_of(page)
    attempts = [f"/inbox/tasks/{task_id}/claim", f"/inbox/tasks/{task_id}/complete",
                f"/inbox/cases/{case_no}/suspend", f"/inbox/cases/{case_no}/extend",
                f"/inbox/cases/{case_no}/correction", "/items/outdoor-ad/apply"]
    for n, url in enumerate(attempts):
        status = b.client.post(url, data={"csrf_token": csrf, "once": f"once-token-{n:04d}-abcdefgh", "decision": "pass", "opinion": "x", "days": "3",
                                          "reason": "x", "procedure": "x", "missing": "x"}).status_code
        assert status in (400, 403, 404), (url, status)
    assert services.history(ow, case_no) == before


def test_only_a_supervisor_records_a_rectification_on_the_figures_page(ow, as_user):
    case_no, _ = returned_twice_then_approved(ow)
    services.portal.rate(ow, case_no, 1, "太慢", username="zhangsan")
    auditor, supervisor = as_user("auditor1"), as_user("supervisor1")
    url = "/audit/figures?from=2026-03-01&to=2026-03-31"
    assert "登记整改" not in auditor.client.get(url).get_data(as_text=True)
    action = f"/audit/reviews/{case_no}/rectify"
    assert auditor.submit(url, action, {"answer": "审计员不能登记整改"}).status_code == 403
    assert supervisor.submit(url, action, {"answer": "已核实，已整改并答复"}).status_code == 302
    page = supervisor.client.get(url).get_data(as_text=True)
    assert f'data-case="{case_no}"' in page and "rectified" in page
