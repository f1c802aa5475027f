"""Limits that depend on the application: the pollutant discharge permit's management category (排污许可管理条例 §12)."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine import services
from engine.catalog import PROCESSES_DIR, read_item
from engine.clock.limits import Budget, case_limits
from engine.errors import InvalidInput
from engine.services import audit
from engine.store.models import Case, Deadline
from engine.store.uow import reading

SH = ZoneInfo("Asia/Shanghai")
ITEM = "pollutant-discharge"
PERMIT = {"facility_name": "示例化工有限公司", "address": "杭州市钱塘区江东大道1号", "industry": "化学原料和化学制品制造业"}


def manifest() -> dict:
    return read_item(PROCESSES_DIR / f"{ITEM}.item.toml").manifest


def test_the_declared_category_picks_the_statutory_and_promised_limits():
    m = manifest()
    key = case_limits(m, application={**PERMIT, "management_class": "key"})
    simplified = case_limits(m, application={**PERMIT, "management_class": "simplified"})
    assert (key.statutory, key.promised) == (Budget(30, "d"), Budget(15, "wd"))
    assert (simplified.statutory, simplified.promised) == (Budget(20, "d"), Budget(10, "wd"))
    # The extension cap is the item's whatever the category.
    assert key.extension_days == simplified.extension_days == 10


@pytest.mark.parametrize("application", [None, {}, PERMIT, {"management_class": ["key"]}, {"management_class": "x"}])
def test_without_a_listed_value_the_item_keeps_its_own_limits(application):
    limits = case_limits(manifest(), application=application)
    assert (limits.statutory, limits.promised) == (Budget(20, "d"), Budget(10, "wd"))


def _due_day(ow, case_no: str, kind: str) -> tuple[int, str, str]:
    with reading(ow.db) as session:
        row = session.scalar(select(Deadline).join(Case, Case.id == Deadline.case_id)
                             .where(Case.case_no == case_no, Deadline.kind == kind, Deadline.is_open.is_(True)))
        return row.budget_days, row.budget_unit, row.due_at.astimezone(SH).date().isoformat()


@pytest.mark.parametrize("category, statutory, promised", [
    # Accepted Thu 2026-09-17. 20 days end on 10-07, inside the National Day holiday: the next working day 10-08.
    # 10 working days count the make-up Sunday 09-20, skip Mid-autumn (09-25) and the holiday, and end 10-08 too.
    ("simplified", (20, "d", "2026-10-08"), (10, "wd", "2026-10-08")),
    # 30 days end on Saturday 10-17: Monday 10-19. 15 working days count the make-up Saturday 10-10 and end 10-14.
    ("key", (30, "d", "2026-10-19"), (15, "wd", "2026-10-14")),
])
def test_an_accepted_case_runs_its_clocks_on_its_category_limits(ow, clock, category, statutory, promised):
    clock.set(datetime(2026, 9, 17, 2, 0, tzinfo=UTC))
    case_no = services.apply(ow, ITEM, "zhangsan", {**PERMIT, "management_class": category})["case_no"]
    assert services.accept(ow, case_no, "window1", "材料齐全") == "ACCEPTED"
    assert _due_day(ow, case_no, "statutory") == statutory
    assert _due_day(ow, case_no, "promised") == promised
    shown = {c["kind"]: (c["budget"], c["unit"]) for c in services.case_detail(ow, case_no)["clocks"]
             if c["kind"] in ("statutory", "promised")}
    assert shown == {"statutory": statutory[:2], "promised": promised[:2]}


@pytest.mark.parametrize("category, error", [(None, "required"), ("registration", "is not one of")])
def test_an_application_without_a_permit_category_is_refused_and_nothing_is_stored(ow, category, error):
    # 排污登记 (registration) needs no permit: the form takes only the two categories that do.
    data = PERMIT if category is None else {**PERMIT, "management_class": category}
    with pytest.raises(InvalidInput) as err:
        services.apply(ow, ITEM, "zhangsan", data)
    assert error in err.value.fields["management_class"]
    with reading(ow.db) as session:
        assert session.scalar(select(func.count(Case.id))) == 0


def test_an_extension_adds_working_days_to_the_calendar_day_clock_too(ow, clock, tmp_path):
    # The ecology bureau's head (not in the demo organisation) grants it.
    heads = tmp_path / "heads.toml"
    heads.write_text('[[users]]\nusername = "ecology_head"\ndisplay_name = "钱局长"\ndepartment = "city-ecology"\n'
                     'groups = ["dept_head"]\n', encoding="utf-8")
    services.load_organisation(ow, heads, "test-only")
    clock.set(datetime(2026, 9, 17, 2, 0, tzinfo=UTC))
    case_no = services.apply(ow, ITEM, "zhangsan", {**PERMIT, "management_class": "simplified"})["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    services.extend(ow, case_no, "ecology_head", 5, "需补充监测数据")
    # Art. 42 extensions count working days (art. 82): from 10-08, five working days (with the make-up Saturday
    # 10-10) end on 10-14 on both clocks; the 20-day clock holds them as the 7 calendar days from its 10-07.
    assert _due_day(ow, case_no, "statutory") == (20, "d", "2026-10-14")
    assert _due_day(ow, case_no, "promised") == (10, "wd", "2026-10-14")
    extended = {c["kind"]: (c["extended"], c["unit"]) for c in services.case_detail(ow, case_no)["clocks"]
                if c["kind"] in ("statutory", "promised")}
    assert extended == {"statutory": (7, "d"), "promised": (5, "wd")}
    # The cap (10 working days) counts what was granted, not the calendar days the 20-day clock holds.
    services.extend(ow, case_no, "ecology_head", 5, "需组织专家论证")
    with pytest.raises(InvalidInput, match="total 11 working days"):
        services.extend(ow, case_no, "ecology_head", 1, "再次延期")


def _walk_to_review(ow, clock, category: str, onsite: str) -> str:
    """A permit of `category` accepted Thu 2026-09-17, its material review passed with `onsite_review = onsite`."""
    clock.set(datetime(2026, 9, 17, 2, 0, tzinfo=UTC))
    case_no = services.apply(ow, ITEM, "zhangsan", {**PERMIT, "management_class": category})["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    review = next(t["task_id"] for t in services.inbox(ow, "ecology_reviewer") if t["case_no"] == case_no)
    services.complete(ow, review, "ecology_reviewer", {"decision": "pass", "onsite_review": onsite,
                                                      "opinion": "材料齐全"})
    return case_no


def _open_steps(ow, case_no: str) -> list[str]:
    return [t["bpmn_id"] for t in services.case_detail(ow, case_no)["open_tasks"]]


def test_an_on_site_review_gives_a_key_management_case_45_days(ow, clock):
    case_no = _walk_to_review(ow, clock, "key", "yes")
    assert _open_steps(ow, case_no) == ["onsite"]
    # 45 days from 09-17 end on Sunday 11-01: Monday 11-02 (30 days ended on Monday 10-19).
    assert _due_day(ow, case_no, "statutory") == (45, "d", "2026-11-02")
    assert _due_day(ow, case_no, "promised") == (15, "wd", "2026-10-14")
    rebudget = services.history(ow, case_no)[-1]
    assert (rebudget["type"], rebudget["payload"]["from"], rebudget["payload"]["to"]) == ("clock_rebudgeted", "30d",
                                                                                          "45d")
    # The auditor's view as of the acceptance still shows the 30 days that ran then.
    accepted = next(e["seq"] for e in services.history(ow, case_no) if e["type"] == "accepted")
    statutory = next(c for c in audit.case_as_of(ow, case_no, accepted)["clocks"] if c["kind"] == "statutory")
    assert statutory["budget"] == "30d" and statutory["due_at"].startswith("2026-10-19")
    onsite = next(t["task_id"] for t in services.inbox(ow, "ecology_reviewer") if t["case_no"] == case_no)
    services.complete(ow, onsite, "ecology_reviewer", {"onsite_result": "consistent", "onsite_date": "2026-09-18"})
    assert _open_steps(ow, case_no) == ["tech_review"]
    assert _due_day(ow, case_no, "statutory")[:2] == (45, "d")  # reached once, re-budgeted once
    assert [e["type"] for e in services.history(ow, case_no)].count("clock_rebudgeted") == 1
    assert services.verify_history(ow, case_no) == {"cases_checked": 1, "problems": []}


@pytest.mark.parametrize("category, onsite", [("key", "no"), ("simplified", "yes")])
def test_without_an_on_site_review_of_a_key_case_the_limit_stays(ow, clock, category, onsite):
    case_no = _walk_to_review(ow, clock, category, onsite)
    assert _open_steps(ow, case_no) == ["tech_review"]
    assert _due_day(ow, case_no, "statutory")[:2] == ((30, "d") if category == "key" else (20, "d"))
    assert "clock_rebudgeted" not in [e["type"] for e in services.history(ow, case_no)]
