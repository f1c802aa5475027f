"""Limits, settings and ladder arithmetic without a database."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.clock.ladder import calendar_due, next_fire, stage_to_fire, warning_at
from engine.clock.limits import Budget, case_limits, parse_budget, step_budget
from engine.clock.seed import load_seed
from engine.clock.settings import ClockSettings, parse_settings
from engine.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")


@dataclass
class Row:
    kind: str = "promised"
    budget_days: int = 3
    budget_unit: str = "wd"
    extended_days: int = 0
    paused_days: int = 0
    started_on: date = date(2026, 3, 10)
    paused_since: date | None = None
    due_at: datetime = datetime(2026, 3, 13, 15, 59, 59, 999999, tzinfo=UTC)
    next_fire_at: datetime | None = None
    stage: str = "running"
    is_open: bool = True


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(UTC)


def test_limits_parse_every_written_form():
    assert [parse_budget(t) for t in ("3wd", "30d", "P5D", "PT4H")] == [
        Budget(3, "wd"), Budget(30, "d"), Budget(5, "d"), Budget(4, "h")]
    with pytest.raises(InvalidInput, match="'3 days'"):
        parse_budget("3 days")


def test_joint_items_and_report_up_legs_get_the_statutory_defaults():
    joint = case_limits({"pattern": "joint", "promised_limit": "30wd"})
    assert (joint.statutory, joint.extension_days) == (Budget(45, "wd"), 15)
    ordinary = case_limits({"statutory_limit": "15wd", "promised_limit": "3wd", "correction_reply_limit": "10wd"})
    assert (ordinary.promised, ordinary.extension_days, ordinary.correction_reply) == (Budget(3, "wd"), 10, Budget(10, "wd"))
    assert step_budget({"leg": "report-up"}) == Budget(20, "wd")
    assert step_budget({"leg": "report-up", "limit": "10wd"}) == Budget(10, "wd")
    assert step_budget({}) is None


def test_warning_comes_at_80_percent_or_one_day_left_whichever_is_first():
    cal, settings = load_seed(), ClockSettings()
    # 3 wd from Tue 03-10: one day left from the start of Fri 03-13.
    assert warning_at(cal, Row(), settings) == local("2026-03-13T00:00")
    # 15 wd from Tue 03-10: 12 used (80 %) at the end of Thu 03-26, before "one day left".
    assert warning_at(cal, Row(budget_days=15), settings) == local("2026-03-27T00:00")
    assert calendar_due(cal, Row(budget_days=15)).at == local("2026-03-31T23:59:59.999999")


def test_calendar_days_ending_on_a_rest_day_move_to_the_next_working_day():
    cal = load_seed()
    # 2026-09-25 + 7 days = Fri 10-02, inside the National Day holiday: due at the end of Thu 10-08.
    due = calendar_due(cal, Row(budget_days=7, budget_unit="d", started_on=date(2026, 9, 25)))
    assert due.at == local("2026-10-08T23:59:59.999999") and due.provisional is False


def test_stages_in_order_and_an_overdue_clock_skips_the_warning():
    row = Row()
    assert stage_to_fire(row, local("2026-03-13T08:00")) == "warned"
    assert stage_to_fire(row, local("2026-03-14T08:00")) == "yellow"
    row.stage = "yellow"
    assert stage_to_fire(row, local("2026-03-20T08:00")) == "red"
    paused = Row(paused_since=date(2026, 3, 11))
    assert next_fire(load_seed(), paused, ClockSettings()) is None


def test_settings_refuse_unknown_keys_and_bad_values():
    assert parse_settings("[clock]\nwarn_ratio = 0.5\n", "c.toml").warn_ratio == 0.5
    with pytest.raises(InvalidInput, match="warn_ration"):
        parse_settings("[clock]\nwarn_ration = 0.5\n", "c.toml")
    with pytest.raises(InvalidInput, match="warn_ratio"):
        ClockSettings(warn_ratio=1.5)
