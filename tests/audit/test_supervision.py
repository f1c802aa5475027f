"""Supervision figures on a fixture with known answers; exports of an empty period are valid empty files."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from engine import services
from engine.charts import distribution_svg, rate_trend_svg
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.services import supervision
from tests.integration.helpers import WINDOW_APPLICANT, accepted_ad_case, new_ad_case, only_task

COMPANY = {"company_name": "杭州示例科技有限公司", "company_type": "llc", "registered_capital": 100000,
           "address": "杭州市西湖区文三路1号", "legal_representative": "王五", "business_scope": "软件开发"}


def shanghai(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def _approve(ow, case_no: str) -> None:
    services.complete(ow, only_task(ow, "reviewer1", "review", case_no), "reviewer1", {"decision": "pass", "opinion": "可"})
    services.complete(ow, only_task(ow, "inspector1", "survey", case_no), "inspector1",
                      {"survey_result": "conforms", "survey_date": "2026-03-11"})
    services.complete(ow, only_task(ow, "chief1", "decide", case_no), "chief1",
                      {"decision": "approve", "opinion": "准予", "certificate_no": "HG-1"})


@pytest.fixture
def month(ow, clock):
    """March 2026: three outdoor-ad cases accepted on Tue 03-10 (promised 3 wd: due Fri 03-13), one withdrawn,
    one instant company registration concluded on the spot; A on time, B refused on the last day, C late."""
    a, b, c = accepted_ad_case(ow), accepted_ad_case(ow), accepted_ad_case(ow)
    services.withdraw(ow, new_ad_case(ow), "zhangsan", "不办了")
    e = services.apply(ow, "company-registration", "window1", COMPANY, applicant=WINDOW_APPLICANT)["case_no"]
    services.accept(ow, e, "window1", "材料齐全，当场办结")
    clock.set(shanghai("2026-03-11T15:00:00"))
    _approve(ow, a)
    clock.set(shanghai("2026-03-13T23:00:00"))
    services.complete(ow, only_task(ow, "reviewer1", "review", b), "reviewer1", {"decision": "refuse", "opinion": "不符合"})
    clock.set(shanghai("2026-03-16T09:00:00"))
    services.sweep(ow, ow.clock.now())
    clock.set(shanghai("2026-03-17T11:00:00"))
    _approve(ow, c)
    clock.set(shanghai("2026-03-18T10:00:00"))
    services.portal.rate(ow, a, 5, "很好", username="zhangsan")
    services.portal.rate(ow, b, 2, "太慢", username="zhangsan")
    services.portal.rate(ow, c, 3, "", username="zhangsan")
    return {"a": a, "b": b, "c": c, "e": e}


def test_rates_by_department_and_in_total(ow, month):
    report = supervision.supervision_report(ow, "supervisor1", "2026-03-01", "2026-03-31", by="department")
    total = report["total"]
    assert (total["concluded"], total["on_time"], total["on_site"]) == (4, 3, 1)
    assert (total["on_time_rate"], total["on_site_rate"]) == (0.75, 0.25)
    assert (total["ratings"], total["satisfied"], total["satisfaction_rate"]) == (3, 2, 0.6667)
    rows = {r["key"]: r for r in report["rows"]}
    assert (rows["city-urban"]["concluded"], rows["city-urban"]["on_time_rate"]) == (3, 0.6667)
    assert (rows["city-market"]["on_time_rate"], rows["city-market"]["on_site_rate"]) == (1.0, 1.0)
    assert rows["city-market"]["satisfaction_rate"] is None  # no ratings: no rate, not 0 %
    assert {d["bin"]: d["cases"] for d in report["distribution"]}[">150%"] == 1  # C used 5 of 3 working days


def test_rates_by_item_window_and_month(ow, month):
    by_item = {r["key"]: r for r in supervision.supervision_report(ow, "auditor1", "2026-03-01", "2026-03-31", by="item")["rows"]}
    assert set(by_item) == {"outdoor-ad", "company-registration"}
    by_window = {r["key"]: r["concluded"] for r in
                 supervision.supervision_report(ow, "auditor1", "2026-03-01", "2026-03-31", by="window")["rows"]}
    assert by_window == {"online": 3, "window1": 1}
    by_month = supervision.supervision_report(ow, "auditor1", "2026-02-01", "2026-04-30", by="month")["rows"]
    assert [(r["key"], r["concluded"]) for r in by_month] == [("2026-03", 4)]


def test_overdue_cards_reviews_and_their_resolution(ow, clock, month):
    report = supervision.supervision_report(ow, "supervisor1", "2026-03-01", "2026-03-31")
    yellow = [c for c in report["cards"] if c["case_no"] == month["c"] and c["card"] == "yellow"]
    assert yellow and all(c["resolved"] for c in yellow)  # C was concluded after its cards
    assert report["overdue"] == []
    reviews = report["bad_reviews"]
    assert [(r["case_no"], r["level"], r["status"]) for r in reviews] == [(month["b"], 2, "open")]
    clock.set(shanghai("2026-04-20T10:00:00"))  # past 15 working days without a rectification
    later = supervision.supervision_report(ow, "supervisor1", "2026-03-01", "2026-03-31")
    assert [r["status"] for r in later["bad_reviews"]] == ["overdue"]


def test_an_open_case_past_its_due_time_is_on_the_overdue_list_with_its_stage(ow, clock):
    case_no = accepted_ad_case(ow)
    clock.set(shanghai("2026-03-20T10:00:00"))
    services.sweep(ow, ow.clock.now())
    overdue = supervision.supervision_report(ow, "auditor1")["overdue"]
    mine = {(o["clock"], o["stage"]) for o in overdue if o["case_no"] == case_no}
    assert ("promised", "yellow") in mine or ("promised", "red") in mine
    assert ("statutory", "running") not in mine  # 15 wd are not used up yet


def test_exports_have_headers_and_an_empty_period_gives_empty_but_valid_files(ow, month):
    for kind in supervision.EXPORTS:
        data = supervision.export_rows(ow, "auditor1", kind, "2025-01-01", "2025-01-31")
        text = supervision.export_csv(data)
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert rows[0] == list(supervision.EXPORTS[kind])
        if kind != "overdue":  # the overdue list is "now", not of a period
            assert rows[1:] == [] and data["rows"] == []
        assert json.loads(json.dumps(data))["columns"] == list(supervision.EXPORTS[kind])
    full = supervision.export_rows(ow, "auditor1", "figures", "2026-03-01", "2026-03-31")
    assert len(list(csv.DictReader(io.StringIO(supervision.export_csv(full).lstrip("\ufeff"))))) == 2


def test_exchange_export_uses_the_national_status_codes(ow, month):
    rows = supervision.export_rows(ow, "auditor1", "exchange", "2026-03-01", "2026-03-31")["rows"]
    codes = {}
    for r in rows:
        codes.setdefault(r["case_no"], []).append(r["code"])
    assert codes[month["a"]] == [1, 3, 8, 11]
    assert codes[month["b"]] == [1, 3, 8, 13]
    assert codes[month["e"]] == [1, 3, 11]
    assert [c for n, c in codes.items() if n not in month.values()] == [[1, 2]]  # withdrawn before acceptance


def test_only_auditors_and_supervisors_see_figures_and_bad_periods_are_refused(ow):
    with pytest.raises(Forbidden):
        supervision.supervision_report(ow, "window1")
    with pytest.raises(InvalidInput):
        supervision.supervision_report(ow, "auditor1", "2026-03-31", "2026-03-01")
    with pytest.raises(InvalidInput):
        supervision.export_rows(ow, "auditor1", "passwords")


def test_charts_are_svg_with_escaped_text():
    svg = rate_trend_svg("<script>alert(1)</script>", ["2026-01", "2026-02"], [0.5, None], [2, 0])
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    bars = distribution_svg("分布 & more", [("≤100%", 3), (">150%", 1)], late_from=1)
    assert "分布 &amp; more" in bars and 'class="late"' in bars


def test_a_bad_review_is_rectified_by_a_supervisor_never_by_an_auditor(ow, month):
    with pytest.raises(Forbidden):
        supervision.rectify_bad_review(ow, month["b"], "auditor1", "已核实并整改，已电话答复申请人")
    with pytest.raises(Conflict):
        supervision.rectify_bad_review(ow, month["a"], "supervisor1", "好评无需整改的答复")
    supervision.rectify_bad_review(ow, month["b"], "supervisor1", "已核实并整改，已电话答复申请人")
    with pytest.raises(Conflict):
        supervision.rectify_bad_review(ow, month["b"], "supervisor1", "再次登记整改答复")
    reviews = supervision.supervision_report(ow, "auditor1", "2026-03-01", "2026-03-31")["bad_reviews"]
    assert [(r["case_no"], r["status"]) for r in reviews] == [(month["b"], "rectified")]
    assert services.verify_history(ow)["problems"] == []  # the rectification is a state-neutral event
