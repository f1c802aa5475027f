"""Deadline rows of a case: opened and closed as the workflow moves, and shown with what they have used.

`sync_case_clocks` runs in the transaction of every case change (after the work items are projected):
the intake clock while the case waits for intake, the statutory and promised clocks from acceptance,
a step clock for every waiting task with a `limit`, and a deadline for every BPMN timer that is waiting.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.clock.calendar import SHANGHAI, WorkingCalendar
from engine.clock.ladder import (
    CALENDAR_UNITS,
    CARD_OF_STAGE,
    CARD_RANK,
    CASE_KINDS,
    calendar_due,
    local_day,
    next_fire,
    paused_span,
)
from engine.clock.limits import INTAKE_LIMIT, Budget, case_limits, parse_budget, step_budget
from engine.clock.settings import ClockSettings, load_settings
from engine.clock.store import load_calendar
from engine.clock.timers import arm_timers, timer_budget, waiting_timers
from engine.runtime import find_tasks, ready_user_tasks
from engine.store.models import Case, Deadline, ProcessVersion, WorkItem, WorkItemGroup
from engine.store.prepared import Prepared
from engine.store.writes import adopt, insert_row, loaded_columns, stored_in_session, write_through

FINAL_STATUSES = frozenset({"DECIDED", "REJECTED_AT_INTAKE", "WITHDRAWN", "DELIVERED", "CLOSED"})
# arm_timers is re-exported: callers that save a workflow (casework, replay) take timers from here.
__all__ = ["arm_timers", "clock_view", "close_clock", "open_clock", "raise_card", "set_item_due", "sync_case_clocks",
           "task_by_id", "waiting_timers"]
# Prepared statements (engine/store/prepared.py): every change of a case syncs its clocks.
_DL, _WI, _WIG = Deadline.__table__, WorkItem.__table__, WorkItemGroup.__table__
_OPEN_CLOCKS = Prepared(select(*loaded_columns(Deadline)).where(_DL.c.case_id == bindparam("case_id"),
                                                                _DL.c.is_open.is_(True)).order_by(_DL.c.id))
_PV = ProcessVersion.__table__
_MANIFEST = Prepared(select(_PV.c.manifest).where(_PV.c.id == bindparam("id")))
_OPEN_ITEM_DUES = Prepared(select(_WI.c.id, _WI.c.task_id, _WI.c.due_at, _WI.c.card_level).where(
    _WI.c.case_id == bindparam("case_id"), _WI.c.is_open.is_(True)))
_SET_ITEM_DUE = Prepared(update(_WI).where(_WI.c.id == bindparam("_item")).values(due_at=bindparam("due")))
_SET_GROUPS_DUE = Prepared(update(_WIG).where(_WIG.c.work_item_id == bindparam("_item"))
                           .values(due_key=bindparam("key")))
_SET_ITEM_CARD = Prepared(update(_WI).where(_WI.c.id == bindparam("_item")).values(card_level=bindparam("card")))


def open_clock(session: Session, case: Case, kind: str, budget: Budget, started_on: date, now: datetime,
               cal: WorkingCalendar, settings: ClockSettings, **fields: Any) -> Deadline:
    """Add a running clock; `fields` sets task_id, bpmn_id, rule, ladder or a fixed `due_at`."""
    due_at = fields.pop("due_at", None)
    row = Deadline(case_id=case.id, kind=kind, budget_days=budget.amount, budget_unit=budget.unit,
                   extended_days=0, paused_days=0, started_on=started_on, stage="running",
                   calendar_version=cal.version, is_open=True, ladder=fields.pop("ladder", "default"), **fields)
    if budget.unit in CALENDAR_UNITS:
        row.due_at, row.provisional = calendar_due(cal, row)
    else:
        row.due_at, row.provisional = due_at or now + timedelta(hours=budget.amount), False
    row.next_fire_at = next_fire(cal, row, settings)
    return insert_row(session, row)


def close_clock(row: Deadline, now: datetime) -> None:
    """Stop a clock for good (its task finished, or the case concluded)."""
    row.is_open, row.closed_at, row.next_fire_at = False, now, None


def sync_case_clocks(session: Session, case: Case, wf: BpmnWorkflow, now: datetime, new_case: bool = False) -> None:
    """Open and close the case's clocks to match its status and the workflow's waiting tasks (`new_case`: it has
    none yet)."""
    rows = [] if new_case else [adopt(session, Deadline, row._asdict())
                                for row in _OPEN_CLOCKS.rows(session, {"case_id": case.id})]
    _sync_rows(session, case, wf, rows, now)
    # Each changed clock goes out as one statement now, not through the flush (see engine/store/writes.py).
    for row in rows:
        write_through(session, row)


def _sync_rows(session: Session, case: Case, wf: BpmnWorkflow, rows: list[Deadline], now: datetime) -> None:
    if case.status in FINAL_STATUSES:
        for row in rows:
            close_clock(row, now)
        return
    settings = load_settings()
    kinds = {r.kind for r in rows}
    manifest: dict[str, Any] | None = None
    cal: WorkingCalendar | None = None

    def calendar() -> WorkingCalendar:
        # Read only when a clock is opened or restarted: most changes just close the clocks of finished steps.
        nonlocal cal
        if cal is None:
            cal = load_calendar(session)
        return cal

    def item_manifest() -> dict[str, Any]:
        nonlocal manifest
        if manifest is None:
            manifest = _MANIFEST.rows(session, {"id": case.process_version_id})[0].manifest
        return manifest

    today = local_day(now)
    for row in rows:
        if row.kind == "intake" and case.status != "RECEIVED":
            close_clock(row, now)
    _intake_step_waits_for_materials(rows, case, today, calendar, settings)
    if case.status == "RECEIVED" and "intake" not in kinds:
        open_clock(session, case, "intake", parse_budget(INTAKE_LIMIT), today, now, calendar(), settings,
                   rule="deemed-acceptance", ladder="none")
    if case.accepted_at is not None and not kinds & CASE_KINDS:
        limits = case_limits(item_manifest(), application=case.form_data)
        for kind, budget in (("statutory", limits.statutory), ("promised", limits.promised)):
            open_clock(session, case, kind, budget, local_day(case.accepted_at), now, calendar(), settings)
    _sync_steps(session, case, wf, rows, now, calendar, settings)
    _sync_timers(session, case, wf, rows, now, calendar, settings, item_manifest)


def _intake_step_waits_for_materials(rows: list[Deadline], case: Case, today: date,
                                     calendar: Callable[[], WorkingCalendar], settings: ClockSettings) -> None:
    # After a one-time notice the window's step clock waits with the applicant, and when the materials
    # arrive intake starts afresh (the intake clock re-opens above; the step clock restarts with it).
    for row in rows:
        if row.kind != "step":
            continue
        if case.status == "CORRECTION_REQUESTED" and row.paused_since is None:
            row.paused_since, row.next_fire_at = today, None
        elif case.status == "RECEIVED" and row.paused_since is not None:
            row.started_on, row.paused_days, row.paused_since, row.stage = today, 0, None, "running"
            row.due_at, row.provisional = calendar_due(calendar(), row)
            row.next_fire_at = next_fire(calendar(), row, settings)


def _clocked_tasks(wf: BpmnWorkflow) -> dict[str, Task]:
    # READY user tasks and running call activities (a report-up leg runs as a call activity).
    tasks = {str(t.id): t for t in ready_user_tasks(wf)}
    tasks.update({str(t.id): t for t in find_tasks(wf, TaskState.STARTED)
                  if t.task_spec.__class__.__name__ in ("CallActivity", "SubWorkflowTask")})
    return tasks


def _properties(task: Task) -> dict[str, Any]:
    return (getattr(task.task_spec, "extensions", {}) or {}).get("properties", {}) or {}


def _sync_steps(session: Session, case: Case, wf: BpmnWorkflow, rows: list[Deadline], now: datetime,
                calendar: Callable[[], WorkingCalendar], settings: ClockSettings) -> None:
    tasks = _clocked_tasks(wf)
    steps = {r.task_id: r for r in rows if r.kind == "step"}
    for task_id, row in steps.items():
        if task_id not in tasks:
            close_clock(row, now)
    for task_id, task in tasks.items():
        if task_id in steps:
            continue
        budget = step_budget(_properties(task))
        if budget is not None:
            steps[task_id] = open_clock(session, case, "step", budget, local_day(now), now, calendar(), settings,
                                        task_id=task_id, bpmn_id=task.task_spec.bpmn_id)
    case_card = max((CARD_OF_STAGE[r.stage] for r in rows if r.kind in CASE_KINDS and r.is_open),
                    key=CARD_RANK.__getitem__, default="none")
    if case_card == "none" and not any(row.is_open for row in steps.values()):
        return  # no step due to show and no card to raise: the work items stay as projected
    for item in _OPEN_ITEM_DUES.rows(session, {"case_id": case.id}):
        row = steps.get(item.task_id)
        if row is not None and row.is_open and item.due_at != row.due_at:
            set_item_due(session, item.id, row.due_at)
        if CARD_RANK[case_card] > CARD_RANK[item.card_level]:
            _SET_ITEM_CARD.run(session, {"_item": item.id, "card": case_card})
            stored_in_session(session, WorkItem, item.id, card_level=case_card)


def set_item_due(session: Session, item_id: int, due_at: datetime | None) -> None:
    """Show a step's due time on its work item and re-sort it in the group inboxes."""
    from engine.services.casework import due_key  # the inbox sort key belongs to the projection

    _SET_ITEM_DUE.run(session, {"_item": item_id, "due": due_at})
    _SET_GROUPS_DUE.run(session, {"_item": item_id, "key": due_key(due_at)})
    stored_in_session(session, WorkItem, item_id, due_at=due_at)


def _sync_timers(session: Session, case: Case, wf: BpmnWorkflow, rows: list[Deadline], now: datetime,
                 calendar: Callable[[], WorkingCalendar], settings: ClockSettings, item_manifest) -> None:
    waiting = {str(t.id): t for t in waiting_timers(wf)}
    timers = {r.task_id: r for r in rows if r.kind == "timer"}
    for task_id, row in timers.items():
        if task_id not in waiting:
            close_clock(row, now)
    for task_id, task in waiting.items():
        if task_id in timers:
            continue
        props = _properties(task)
        rule = (props.get("rule") or "").strip()
        if rule == "deemed-approval" and not item_manifest().get("deemed_approval"):
            # "Timeout means approved" is an opt-in item policy (DOMAIN.md §1): without it the timer never fires.
            continue
        budget, due_at = timer_budget(task, props, now)
        open_clock(session, case, "timer", budget, local_day(now), now, calendar(), settings, task_id=task_id,
                   bpmn_id=task.task_spec.bpmn_id, rule=rule or None, ladder="none", due_at=due_at)


def raise_card(items: list[WorkItem], card: str) -> None:
    """Show a card on the work items a clock supervises (never lowering one already shown)."""
    for item in items:
        if CARD_RANK[card] > CARD_RANK[item.card_level]:
            item.card_level = card


def clock_view(cal: WorkingCalendar, row: Deadline, now: datetime) -> dict[str, Any]:
    """A clock as people read it: budget, used, paused, remaining working days, due, stage, provisional."""
    budget = row.budget_days + row.extended_days
    paused = row.paused_days
    used = remaining = None
    if row.budget_unit in CALENDAR_UNITS:
        today = local_day(row.closed_at or now)
        if row.paused_since is not None:
            paused += paused_span(cal, row.budget_unit, row.paused_since, today)
            today = row.paused_since
        if row.budget_unit == "wd":
            elapsed = cal.working_days_between(row.started_on, today).days
        else:
            elapsed = (today - row.started_on).days
        used = max(0, elapsed - row.paused_days)
        remaining = budget - used
    return {
        "kind": row.kind, "bpmn_id": row.bpmn_id, "rule": row.rule, "budget": budget, "unit": row.budget_unit,
        "extended": row.extended_days, "paused": paused, "used": used, "remaining": remaining,
        "due_at": row.due_at.isoformat(), "due_local": row.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "stage": row.stage, "card": CARD_OF_STAGE.get(row.stage, "none"), "provisional": row.provisional,
        "is_paused": row.paused_since is not None, "is_open": row.is_open,
        "overdue": row.is_open and now > row.due_at,
    }


def task_by_id(wf: BpmnWorkflow, task_id: str) -> Task | None:
    """A task of the workflow by its id, or None."""
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (KeyError, ValueError, TypeError):
        return None
