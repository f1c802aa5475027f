"""When each clock is due and what fires next: the supervision ladder as pure functions of a deadline row.

Ladder clocks (case and step) go running → warned (预警) → yellow (黄牌 + 催办通知书) → red (红牌, escalated);
hook clocks (intake, correction, BPMN timers) fire once when their due instant has passed. A clock is
overdue when ``now > due_at`` (due_at is the inclusive last instant of the last day), so the next stage
is stored in ``next_fire_at`` as the first instant at which it may fire.
"""
from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from engine.clock.calendar import END_OF_DAY, SHANGHAI, DeadlineResult, WorkingCalendar
from engine.clock.settings import ClockSettings

TICK = timedelta(microseconds=1)
# Accept-with-deficiency (容缺受理) dates are hooks too: services.materials ends the case when one passes.
HOOK_KINDS = frozenset({"intake", "correction", "timer", "deficiency"})
CASE_KINDS = frozenset({"statutory", "promised"})
# Units the calendar decides; hour budgets and fixed instants (`at`) do not move with the calendar.
CALENDAR_UNITS = frozenset({"wd", "d"})
CARD_OF_STAGE = {"running": "none", "warned": "warning", "yellow": "yellow", "red": "red"}
CARD_RANK = {"none": 0, "warning": 1, "yellow": 2, "red": 3}


class ClockRow(Protocol):
    """The fields of a deadline row the ladder reads (the ORM Deadline satisfies it)."""

    kind: str
    budget_days: int
    budget_unit: str
    extended_days: int
    paused_days: int
    started_on: date
    paused_since: date | None
    due_at: datetime
    next_fire_at: datetime | None
    stage: str
    is_open: bool


def local_day(at: datetime) -> date:
    """The Shanghai calendar day of an instant."""
    return at.astimezone(SHANGHAI).date()


def end_of_day(day: date) -> datetime:
    """The last instant (UTC) of a Shanghai day."""
    return datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI).astimezone(UTC)


def start_of_day(day: date) -> datetime:
    """The first instant (UTC) of a Shanghai day."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def calendar_due(cal: WorkingCalendar, row: ClockRow) -> DeadlineResult:
    """Due instant of a working-day or calendar-day clock, counting extensions and finished pauses."""
    total = row.budget_days + row.extended_days + row.paused_days
    if row.budget_unit == "wd":
        return cal.deadline_at(row.started_on, total)
    # Calendar days: a period ending on a rest day moves to the next working day (Civil Code art. 203).
    day = row.started_on + timedelta(days=total)
    if not cal.is_working_day(day):
        day = cal.next_working_day(day).day
    return DeadlineResult(end_of_day(day), day.year > cal.confirmed_through)


def paused_span(cal: WorkingCalendar, unit: str, since: date, today: date) -> int:
    """Days a pause over (since, today] takes off a clock, in the clock's own unit: the working days of a
    working-day clock, every day of a calendar-day clock (rest days run on those too)."""
    if unit == "wd":
        return max(0, cal.working_days_between(since, today).days)
    return max(0, (today - since).days)


def extension_span(cal: WorkingCalendar, row: ClockRow, working_days: int) -> int:
    """What an extension of `working_days` (行政许可法 art. 42, counted in working days by art. 82) adds to a clock,
    in the clock's own unit: on a calendar-day clock, the days from its due day to that many working days later."""
    if row.budget_unit != "d":
        return working_days
    raw = row.started_on + timedelta(days=row.budget_days + row.extended_days + row.paused_days)
    due_day = raw if cal.is_working_day(raw) else cal.next_working_day(raw).day
    return (cal.add_working_days(due_day, working_days).day - raw).days


def warning_at(cal: WorkingCalendar, row: ClockRow, settings: ClockSettings) -> datetime:
    """When the warning is due: the share `warn_ratio` of the budget used or `warn_remaining_days` left."""
    total = row.budget_days + row.extended_days
    if row.budget_unit == "wd":
        used = max(0, min(math.ceil(settings.warn_ratio * total), total - settings.warn_remaining_days))
        return cal.deadline_at(row.started_on, used + row.paused_days).at + TICK
    span = timedelta(days=total) if row.budget_unit == "d" else timedelta(hours=total)
    return row.due_at - span * (1 - settings.warn_ratio)


def next_fire(cal: WorkingCalendar, row: ClockRow, settings: ClockSettings) -> datetime | None:
    """The instant the row's next stage becomes due, or None when nothing more will fire."""
    if not row.is_open or row.paused_since is not None:
        return None
    if row.kind in HOOK_KINDS:
        return row.due_at + TICK if row.stage == "running" else None
    if row.stage == "running":
        return warning_at(cal, row, settings)
    if row.stage == "warned":
        return row.due_at + TICK
    # A yellow card keeps the urging notice's own deadline (set when it fired); red is the last stage.
    return row.next_fire_at if row.stage == "yellow" else None


def stage_to_fire(row: ClockRow, now: datetime) -> str:
    """The stage a due ladder row moves to now (an overdue row skips the warning)."""
    if row.stage == "running":
        return "yellow" if now > row.due_at else "warned"
    return "yellow" if row.stage == "warned" else "red"


def rewind(cal: WorkingCalendar, row: ClockRow, settings: ClockSettings, now: datetime) -> None:
    """After the due time moved (extension, resume, new calendar), take the ladder back to where it now stands."""
    if row.kind in HOOK_KINDS:
        row.next_fire_at = next_fire(cal, row, settings)
        return
    if row.stage in ("yellow", "red") and row.due_at >= now:
        row.stage = "warned"
    if row.stage == "warned" and warning_at(cal, row, settings) > now:
        row.stage = "running"
    if row.stage != "yellow":
        row.next_fire_at = next_fire(cal, row, settings)
