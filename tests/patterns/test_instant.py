"""Instant items (即办件): concluded at the window in one step and counted for the on-site rate."""
from __future__ import annotations

from engine import services
from tests.integration.helpers import WINDOW_APPLICANT
from tests.patterns.helpers import COMPANY


def test_an_instant_item_is_concluded_on_the_spot_and_marked_for_the_on_site_rate(ow):
    case_no = services.apply(ow, "company-registration", "window1", COMPANY, applicant=WINDOW_APPLICANT)["case_no"]
    assert services.accept(ow, case_no, "window1", "当场办结") == "DECIDED"
    detail = services.case_detail(ow, case_no)
    assert (detail["result"], detail["open_tasks"]) == ("approved", [])
    assert detail["accepted_at"] == detail["concluded_at"]
    last = detail["events"][-1]
    assert (last["type"], last["payload"].get("on_site")) == ("accepted", True)
    assert services.verify_history(ow, case_no)["problems"] == []


def test_an_instant_item_rejected_at_the_window_is_not_on_site(ow):
    case_no = services.apply(ow, "company-registration", "zhangsan", COMPANY)["case_no"]
    assert services.reject_at_intake(ow, case_no, "window1", "名称与已登记企业重复") == "REJECTED_AT_INTAKE"
    assert "on_site" not in services.case_detail(ow, case_no)["events"][-1]["payload"]
