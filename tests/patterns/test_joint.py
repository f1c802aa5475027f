"""Parallel / joint approval (并联): departments review at once from their own inboxes; one refusal refuses."""
from __future__ import annotations

import shutil

import pytest

from engine import services
from engine.catalog import PROCESSES_DIR, read_item
from engine.errors import Forbidden
from tests.patterns.helpers import PLANNING, accepted, complete_only, only_task, opinions, row_counts

DEPARTMENTS = {"nature_reviewer": "city-nature", "housing_reviewer": "city-housing", "ecology_reviewer": "city-ecology"}


def test_each_department_reviews_from_its_own_inbox_then_the_lead_decides(ow):
    case_no = accepted(ow, "building-planning", PLANNING)
    for reviewer in DEPARTMENTS:
        assert [t["bpmn_id"] for t in services.inbox(ow, reviewer)] == ["joint_review"]
    assert services.inbox(ow, "market_reviewer") == []
    for reviewer in DEPARTMENTS:
        assert complete_only(ow, reviewer, "joint_review", {"decision": "agree", "opinion": "同意"}) == "IN_REVIEW"
    assert complete_only(ow, "nature_chief", "decide", {"decision": "approve", "opinion": "准予"}) == "DECIDED"
    detail = services.case_detail(ow, case_no)
    assert detail["result"] == "approved"
    assert opinions(ow, case_no) == [("joint_review", dep, "agree") for dep in DEPARTMENTS.values()] + [
        ("decide", "city-nature", "approve")]
    assert services.verify_history(ow, case_no, reexecute=False)["problems"] == []


def test_one_refusal_refuses_the_case_and_every_opinion_is_kept(ow):
    case_no = accepted(ow, "building-planning", PLANNING)
    complete_only(ow, "nature_reviewer", "joint_review", {"decision": "agree", "opinion": "符合规划"})
    status = complete_only(ow, "housing_reviewer", "joint_review", {"decision": "refuse", "opinion": "不符合建筑规范"})
    detail = services.case_detail(ow, case_no)
    assert (status, detail["result"], detail["open_tasks"]) == ("DECIDED", "refused", [])
    assert services.inbox(ow, "ecology_reviewer") == []
    assert opinions(ow, case_no) == [("joint_review", "city-nature", "agree"), ("joint_review", "city-housing", "refuse")]


def test_a_department_not_in_the_item_cannot_review_and_nothing_changes(ow):
    accepted(ow, "building-planning", PLANNING)
    task = only_task(ow, "housing_reviewer", "joint_review")
    before = row_counts(ow)
    with pytest.raises(Forbidden, match="another department"):
        services.complete(ow, task, "market_reviewer", {"decision": "refuse", "opinion": "越权"})
    with pytest.raises(Forbidden):
        services.claim(ow, task, "nature_reviewer")
    assert row_counts(ow) == before


def test_joint_items_default_to_the_45_working_day_limit_unless_the_item_has_its_own(ow, tmp_path):
    for name in ("building-planning.item.toml", "building-planning.bpmn"):
        shutil.copy(PROCESSES_DIR / name, tmp_path / name)
    manifest = tmp_path / "building-planning.item.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('statutory_limit = "20wd"\n', ""), encoding="utf-8")
    assert read_item(manifest).manifest["statutory_limit"] == "45wd"
    # The planning permit has its own 20 working days (DOMAIN §7), which the guide publishes.
    item = next(i for i in services.list_items(ow) if i["code"] == "building-planning")
    assert item["statutory_limit"] == "20wd"
