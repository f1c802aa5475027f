"""Auditors' and supervisors' looks through the clerk inbox and the JSON API are logged, once a request."""
from __future__ import annotations

from engine import services
from engine.services import accounts, audit
from tests.integration.helpers import accepted_ad_case, only_task


def _log(ow, reader: str) -> list[tuple[str, str | None, str]]:
    rows = [r for r in reversed(audit.read_log(ow, "auditor1", limit=1000)) if r["username"] == reader]
    return [(r["action"], r["case_no"], r["detail"]["via"]) for r in rows]


def test_inbox_pages_log_an_auditors_look_once_per_request(ow, as_user):
    case_no = accepted_ad_case(ow)
    review = only_task(ow, "reviewer1", "review", case_no)
    services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "可"})
    survey = only_task(ow, "inspector1", "survey", case_no)
    auditor = as_user("auditor1").client
    # The case page reads the case file and the diagram, the task page the task as well: one entry a request.
    for url in ("/inbox/", f"/inbox/cases/{case_no}", f"/inbox/tasks/{review}"):
        assert auditor.get(url).status_code == 200, url
    assert auditor.get(f"/inbox/tasks/{survey}").status_code == 403  # refused: nothing was seen, nothing logged
    assert _log(ow, "auditor1") == [("inbox", None, "inbox"), ("case", case_no, "inbox"), ("task", case_no, "inbox")]
    task_entry = audit.read_log(ow, "auditor1", case_no)[0]
    assert task_entry["detail"]["task_id"] == review and task_entry["detail"]["path"] == f"/inbox/tasks/{review}"
    assert as_user("supervisor1").client.get(f"/inbox/cases/{case_no}").status_code == 200
    assert _log(ow, "supervisor1") == [("case", case_no, "inbox")]
    # A clerk's reads are their own work, not supervision: nothing in the read log.
    reviewer = as_user("reviewer1").client
    assert reviewer.get(f"/inbox/cases/{case_no}").status_code == 200 and reviewer.get("/inbox/").status_code == 200
    assert _log(ow, "reviewer1") == []


def test_api_reads_log_an_auditors_look(ow, app):
    case_no = accepted_ad_case(ow)
    client = app.test_client()
    token = accounts.issue_api_token(ow, "auditor1", "监察脚本")
    clerk = accounts.issue_api_token(ow, "window1", "窗口脚本")
    for url in (f"/api/v1/cases/{case_no}", f"/api/v1/cases/{case_no}/history", "/api/v1/inbox"):
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200, url
        assert client.get(url, headers={"Authorization": f"Bearer {clerk}"}).status_code == 200, url
    assert _log(ow, "auditor1") == [("case", case_no, "api"), ("history", case_no, "api"), ("inbox", None, "api")]
    assert client.get("/api/v1/cases/nosuch", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert len(_log(ow, "auditor1")) == 3 and _log(ow, "window1") == []  # a refused read logs nothing
