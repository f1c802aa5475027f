"""An auditor steps through a case's timeline in Debian's chromium (Playwright), against a real server."""
from __future__ import annotations

import pytest

from tests.audit.helpers import returned_twice_then_approved
from tests.web.test_browser import DESKTOP, Person, chromium, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_auditor_steps_through_the_timeline_and_sees_each_moment(server, chromium):  # noqa: F811
    base, ow, _ = server
    case_no, shots = returned_twice_then_approved(ow)
    auditor = Person(chromium, base, DESKTOP, "auditor1")
    auditor.go(f"/audit/cases/{case_no}?at=1")
    page = auditor.page
    for shot in shots:
        assert page.inner_text("#position") == f"{shot['seq']} / {len(shots)}"
        assert page.inner_text("#status") == shot["status"]
        assert "已通过重放校验" in page.inner_text("#verified")
        open_ids = sorted(page.locator("#open-tasks li[data-bpmn]").evaluate_all("els => els.map(e => e.dataset.bpmn)"))
        assert open_ids == sorted(bpmn for bpmn, _, _ in shot["open"])
        for bpmn in open_ids:  # the diagram marks the waiting step as active
            assert page.locator(f'svg g.active[id="{bpmn}"]').count() == 1
        if shot["seq"] == 4:
            auditor.shot("audit-as-of-returned")
        if shot["seq"] < len(shots):
            page.click("#next")
            page.wait_for_load_state()
    assert page.locator("#next").count() == 0
    page.click("#timeline li:first-child a")
    page.wait_for_load_state()
    assert page.inner_text("#position") == f"1 / {len(shots)}" and page.inner_text("#status") == "RECEIVED"
    auditor.close()
