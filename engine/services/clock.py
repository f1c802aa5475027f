"""Use cases of the legal clock: calendar, pauses, extensions, corrections and the exactly-once sweeper."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.clock.calendar import SHANGHAI, WorkingCalendar
from engine.clock.deadlines import (
    FINAL_STATUSES,
    clock_view,
    close_clock,
    open_clock,
    raise_card,
    set_item_due,
    task_by_id,
)
from engine.clock.ladder import (
    CALENDAR_UNITS,
    CARD_OF_STAGE,
    CASE_KINDS,
    HOOK_KINDS,
    TICK,
    calendar_due,
    extension_span,
    local_day,
    next_fire,
    paused_span,
    rewind,
    stage_to_fire,
    start_of_day,
)
from engine.clock.limits import Budget, case_limits, parse_budget
from engine.clock.notice import parse_notice
from engine.clock.settings import ClockSettings, load_settings
from engine.clock.store import load_calendar, store_notice
from engine.clock.store import seed_calendar as seed_calendar_rows
from engine.errors import Conflict, Forbidden, InvalidInput, OneWindowError
from engine.history import append_event, case_state_hash
from engine.runtime import complete_task, end_outcome, ready_task, ready_user_tasks
from engine.services.actors import Actor, resolve_actor
from engine.services.casefile import authorise_case
from engine.services.casework import CaseChange, find_case, task_meta
from engine.services.intake import intake_task
from engine.services.materials import applicant_recipient, expire_deficiency
from engine.services.proxy import acting_for_case
from engine.services.workflow_steps import OUTCOME_STATUS
from engine.store.models import (
    Case,
    CaseEvent,
    ClockPause,
    Deadline,
    Department,
    Notification,
    ProcessVersion,
    User,
    UserGroup,
    WorkItem,
)
from engine.store.uow import reading, writing

log = logging.getLogger(__name__)
SYSTEM = "system"  # the actor of events the clock itself causes
PAUSABLE_KINDS = CASE_KINDS | {"step", "timer"}
RETRY_AFTER = timedelta(minutes=5)
DEEMED_EVENT = {"deemed-renewal": "deemed_renewed", "deemed-approval": "deemed_approved"}
_PROBE = select(Deadline.id).where(Deadline.next_fire_at <= bindparam("now")).order_by(Deadline.next_fire_at).limit(1)


# --- calendar ---------------------------------------------------------------------------------------------

def seed_calendar(ow: OneWindow) -> bool:
    """Load the shipped 2004–2026 calendar into an empty database (idempotent); True when it loaded."""
    with writing(ow.db) as session:
        return seed_calendar_rows(session, ow.clock.now())


# No time limit in the law runs for more than a few hundred working days; 10,000 (about 40 years) is generous.
MAX_WORKING_DAYS = 10_000


def calendar_add(ow: OneWindow, start: date, n: int) -> dict[str, Any]:
    """The n-th working day after `start` (start not counted) and the deadline instant at its end."""
    if not 0 <= n <= MAX_WORKING_DAYS:
        raise InvalidInput(f"the number of working days must be 0 to {MAX_WORKING_DAYS}, got {n}")
    with reading(ow.db) as session:
        cal = load_calendar(session)
    try:
        day, provisional = cal.add_working_days(start, n)
        deadline = cal.deadline_at(start, n).at
    except (OverflowError, ValueError):
        raise InvalidInput(f"{n} working days after {start.isoformat()} is past the last date the calendar "
                           "can count (year 9999)") from None
    return {"start": start.isoformat(), "working_days": n, "day": day.isoformat(),
            "deadline_at": deadline.isoformat(), "provisional": provisional,
            "calendar_version": cal.version, "confirmed_through": cal.confirmed_through}


def calendar_between(ow: OneWindow, a: date, b: date) -> dict[str, Any]:
    """Working days in (a, b] (negative when b is before a)."""
    with reading(ow.db) as session:
        cal = load_calendar(session)
    days, provisional = cal.working_days_between(a, b)
    return {"from": a.isoformat(), "to": b.isoformat(), "working_days": days, "provisional": provisional,
            "calendar_version": cal.version, "confirmed_through": cal.confirmed_through}


def import_calendar(ow: OneWindow, text: str, source_name: str, username: str) -> dict[str, Any]:
    """Load a year's official notice, bump the calendar version and recompute every affected open deadline."""
    notice = parse_notice(text, source_name)
    settings = load_settings()
    with writing(ow.db) as session:
        resolve_actor(session, username).require_group("admin")
        now = ow.clock.now()
        cal = store_notice(session, notice, now)
        # Counting runs forward from started_on, so a clock due before the year began cannot be affected.
        affected = session.scalars(select(Deadline).where(
            Deadline.is_open.is_(True), Deadline.budget_unit.in_(CALENDAR_UNITS),
            or_(Deadline.due_at >= start_of_day(date(notice.year, 1, 1)), Deadline.paused_since.is_not(None),
                Deadline.provisional.is_(True)),
        ).order_by(Deadline.case_id, Deadline.id)).all()
        changes: dict[int, list[dict[str, Any]]] = {}
        for row in affected:
            before = (row.due_at, row.provisional)
            row.due_at, row.provisional = calendar_due(cal, row)
            row.calendar_version = cal.version
            if (row.due_at, row.provisional) == before:
                continue
            rewind(cal, row, settings, now)
            _show_step_due(session, row)
            changes.setdefault(row.case_id, []).append({
                "deadline_id": row.id, "kind": row.kind, "bpmn_id": row.bpmn_id, "from": before[0].isoformat(),
                "to": row.due_at.isoformat(), "provisional": row.provisional})
        for case_id, clocks in changes.items():
            case = _lock_case(session, case_id)
            note_event(session, case, "deadline_recomputed", username, now,
                  {"calendar_version": cal.version, "notice_year": notice.year, "source": notice.source,
                   "clocks": clocks})
        return {"year": notice.year, "source": notice.source, "calendar_version": cal.version,
                "confirmed_through": cal.confirmed_through, "clocks_examined": len(affected),
                "clocks_changed": sum(map(len, changes.values())), "cases_changed": len(changes)}


# --- pauses: special procedures and corrections ---------------------------------------------------------

def suspend(ow: OneWindow, case_no: str, username: str, procedure: str, reason: str,
            expected_days: int | None = None) -> dict[str, Any]:
    """Start a special procedure (特别程序: hearing, testing, expert review …): the clocks stop, status SUSPENDED."""
    if not procedure.strip() or not reason.strip():
        raise InvalidInput("a special procedure needs its name and a reason",
                           fields={k: "required" for k, v in (("procedure", procedure), ("reason", reason)) if not v.strip()})
    if expected_days is not None and expected_days < 1:
        raise InvalidInput("expected_days must be at least 1", fields={"expected_days": "must be >= 1"})
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("reviewer", "chief", "dept_head")
        case = find_case(session, case_no)
        authorise_case(session, actor, case)
        if case.status not in ("ACCEPTED", "IN_REVIEW"):
            raise Conflict(f"case {case_no} is {case.status}: only a case under review can enter a special procedure")
        pause = _start_special_procedure(session, case, procedure, reason, username, ow.clock.now(), expected_days)
        return {"case_no": case_no, "status": case.status, "paused_on": pause.started_on.isoformat()}


def _start_special_procedure(session: Session, case: Case, procedure: str, reason: str, username: str,
                             now: datetime, expected_days: int | None, task_id: str | None = None) -> ClockPause:
    pause = _pause(session, case, "special_procedure", procedure, reason, username, now, expected_days)
    pause.task_id = task_id
    case.status = "SUSPENDED"
    # Art. 45: the applicant is told in writing how long the procedure is expected to take.
    notify(session, case, None, "special_procedure_notice", [applicant_recipient(session, case)], now, {
        "zh": f"您的办件 {case.case_no} 进入特别程序（{procedure}），所需时间不计入办理时限"
              + (f"，预计 {expected_days} 个工作日。" if expected_days else "。"),
        "en": f"Case {case.case_no} entered a special procedure ({procedure}); it does not count against the "
              "time limit" + (f", expected {expected_days} working days." if expected_days else "."),
        "reason": reason})
    note_event(session, case, "clock_paused", username, now, _pause_payload(pause))
    return pause


def follow_clock_steps(session: Session, case: Case, wf: BpmnWorkflow, clock_steps: frozenset[str], username: str,
                       now: datetime) -> None:
    """Apply what the waiting steps say about the clocks (`username` acted in this change): a `statutory_limit`
    re-budgets the statutory clock; a `special` step (a technical review, an expert appraisal …: art. 45) pauses the
    clocks while it waits, and they run again once it is completed."""
    waiting = {str(t.id): task_meta(t) for t in ready_user_tasks(wf) if t.task_spec.bpmn_id in clock_steps}
    for meta in waiting.values():
        if meta["properties"].get("statutory_limit"):
            _rebudget(session, case, parse_budget(meta["properties"]["statutory_limit"]), meta["bpmn_id"], username, now)
    special = {tid: meta for tid, meta in waiting.items() if meta["properties"].get("special")}
    pause = _open_pause(session, case)
    if pause is not None and pause.task_id is not None and pause.task_id not in special:
        _resume(session, case, pause, username, now, f"{pause.name} completed")
        pause = None
    # A pause already running (a correction, or a procedure started by hand) keeps the clocks stopped as it is.
    if pause is not None or not special or case.status not in ("ACCEPTED", "IN_REVIEW"):
        return
    task_id, meta = next(iter(special.items()))
    # Named as the step is, so the applicant's notice reads as the diagram does; the reason is the procedure's kind.
    _start_special_procedure(session, case, meta["name"], meta["properties"]["special"], username, now, None, task_id)


def _rebudget(session: Session, case: Case, budget: Budget, bpmn_id: str, username: str, now: datetime) -> None:
    # The limit runs from acceptance as before, with the extensions and pauses it has had; only its length changes.
    # Deployment checked the unit is the statutory limit's, so those days keep their meaning.
    row = next(iter(_open_rows(session, case, kinds={"statutory"})), None)
    if row is None or (row.budget_days, row.budget_unit) == tuple(budget):
        return
    before = f"{row.budget_days}{row.budget_unit}"
    cal, settings = load_calendar(session), load_settings()
    row.budget_days, row.budget_unit = budget
    if row.paused_since is None:
        row.due_at, row.provisional = calendar_due(cal, row)
        row.calendar_version = cal.version
        rewind(cal, row, settings, now)
    note_event(session, case, "clock_rebudgeted", username, now, {
        "bpmn_id": bpmn_id, "from": before, "to": f"{budget.amount}{budget.unit}",
        "clocks": [{"deadline_id": row.id, "kind": row.kind, "due_at": row.due_at.isoformat(),
                    "provisional": row.provisional}]})


def resume(ow: OneWindow, case_no: str, username: str, reason: str = "") -> dict[str, Any]:
    """End the running special procedure: the clocks run again, lengthened by the paused working days."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("reviewer", "chief", "dept_head")
        case = find_case(session, case_no)
        authorise_case(session, actor, case)
        pause = _open_pause(session, case)
        if pause is None or pause.kind != "special_procedure":
            raise Conflict(f"case {case_no} has no special procedure running")
        if pause.task_id is not None:
            raise Conflict(f"the special procedure of case {case_no} is the step '{pause.name}': "
                           "it ends when that step is completed")
        result = _resume(session, case, pause, username, ow.clock.now(), reason)
        return {"case_no": case_no, "status": case.status, **result}


def request_correction(ow: OneWindow, case_no: str, username: str, missing: list[str], reason: str = "") -> dict[str, Any]:
    """Ask for missing materials during review (补正): the clocks pause until they arrive.

    Before acceptance the request is the one-time notice (一次性告知), given with services.materials.one_time_notice.
    """
    missing = [m.strip() for m in missing if m and m.strip()]
    if not missing:
        raise InvalidInput("a correction request lists the missing materials", fields={"missing": "required"})
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("reviewer", "chief")
        case = find_case(session, case_no)
        authorise_case(session, actor, case)
        if case.status not in ("ACCEPTED", "IN_REVIEW"):
            hint = " (before acceptance, give the one-time notice)" if case.status == "RECEIVED" else ""
            raise Conflict(f"case {case_no} is {case.status}: materials can be requested only under review{hint}")
        now = ow.clock.now()
        pause = _pause(session, case, "correction", "补正", reason or "材料补正", username, now, None)
        reply = case_limits(_manifest(session, case)).correction_reply
        reply_by = None
        if reply is not None:
            reply_by = open_clock(session, case, "correction", reply, local_day(now), now, load_calendar(session),
                                  load_settings(), rule="correction-expired", ladder="none").due_at
        notify(session, case, None, "correction_notice", [applicant_recipient(session, case)], now, {
            "zh": f"办件 {case.case_no} 需补正以下材料：{'、'.join(missing)}；补正期间办理时限暂停计算。",
            "en": f"Case {case.case_no} needs these materials: {', '.join(missing)}; the time limit is paused "
                  "until they arrive.", "missing": missing, "reason": reason}, respond_by=reply_by)
        note_event(session, case, "correction_requested", username, now,
              {"phase": "review", "missing": missing, "reason": reason,
               "reply_by": reply_by.isoformat() if reply_by else None})
        note_event(session, case, "clock_paused", username, now, _pause_payload(pause))
        return {"case_no": case_no, "status": case.status, "reply_by": reply_by.isoformat() if reply_by else None}


def receive_correction(ow: OneWindow, case_no: str, username: str, note: str = "") -> dict[str, Any]:
    """Record that the materials asked for during review arrived (from the applicant, their mandated proxy agent,
    a window clerk or a reviewer): the paused clocks run again."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = find_case(session, case_no)
        now = ow.clock.now()
        acting_for = None
        if case.applicant_user_id != actor.user_id and not actor.in_any({"window", "reviewer"}):
            # Only the case's proxy agent under a confirmed, in-date mandate gets past this; anyone else is refused.
            acting_for = acting_for_case(session, actor, case, local_day(now))
        authorise_case(session, actor, case)
        pause = _open_pause(session, case)
        if pause is None or pause.kind != "correction":
            raise Conflict(f"case {case_no} is not waiting for materials asked for during review")
        for row in _open_rows(session, case, kinds={"correction"}):
            close_clock(row, now)
        note_event(session, case, "correction_received", username, now, {"phase": "review", "note": note}, acting_for)
        result = _resume(session, case, pause, username, now, note, acting_for)
        return {"case_no": case_no, "status": case.status, **result}


def extend(ow: OneWindow, case_no: str, username: str, days: int, reason: str) -> dict[str, Any]:
    """Grant an extension (延期): a department head adds working days to the case clocks, within the item's cap."""
    with writing(ow.db) as session:
        return grant_extension(ow, session, resolve_actor(session, username), find_case(session, case_no), days,
                               reason)


def grant_extension(ow: OneWindow, session: Session, actor: Actor, case: Case, days: int,
                    reason: str) -> dict[str, Any]:
    """Extend a case's clocks in the caller's transaction (a head's direct grant, or an approved request)."""
    if days < 1:
        raise InvalidInput("an extension adds at least 1 working day", fields={"days": "must be >= 1"})
    if not reason.strip():
        raise InvalidInput("an extension needs a reason the applicant will read", fields={"reason": "required"})
    actor.require_group("dept_head")
    case_no = case.case_no
    if not actor.covers_department(case.department_id) or actor.department_id is None:
        raise Forbidden(f"{actor.username} heads another department than the one handling case {case_no}")
    if case.status in FINAL_STATUSES or case.accepted_at is None:
        raise Conflict(f"case {case_no} is {case.status}: only an accepted, open case can be extended")
    cap = case_limits(_manifest(session, case)).extension_days
    rows = _open_rows(session, case, kinds=CASE_KINDS)
    # Counted from the grants themselves: a calendar-day clock holds its extension in calendar days.
    granted = sum(payload.get("days", 0) for payload in session.scalars(
        select(CaseEvent.payload).where(CaseEvent.case_id == case.id, CaseEvent.type == "extension_granted")))
    if granted + days > cap:
        raise InvalidInput(f"the extension would total {granted + days} working days; this item allows at most "
                           f"{cap} ({granted} already granted)", fields={"days": f"at most {cap - granted}"})
    now = ow.clock.now()
    cal, settings = load_calendar(session), load_settings()
    for row in rows:
        row.extended_days += extension_span(cal, row, days)
        if row.paused_since is None:
            row.due_at, row.provisional = calendar_due(cal, row)
            row.calendar_version = cal.version
            rewind(cal, row, settings, now)
    clocks = [{"kind": r.kind, "due_at": r.due_at.isoformat(), "provisional": r.provisional} for r in rows]
    notify(session, case, None, "extension_notice", [applicant_recipient(session, case)], now, {
        "zh": f"您的办件 {case.case_no} 经批准延期 {days} 个工作日。理由：{reason}",
        "en": f"Case {case.case_no} was extended by {days} working days. Reason: {reason}",
        "days": days, "reason": reason, "clocks": clocks})
    note_event(session, case, "extension_granted", actor.username, now,
          {"days": days, "reason": reason, "total_extended": granted + days, "cap": cap, "clocks": clocks})
    return {"case_no": case_no, "days": days, "total_extended": granted + days, "clocks": clocks}


def case_clocks(session: Session, case: Case, now: datetime) -> list[dict[str, Any]]:
    """Every clock of a case (open first), as `clock_view` shows it."""
    cal = load_calendar(session)
    rows = session.scalars(select(Deadline).where(Deadline.case_id == case.id).order_by(Deadline.id)).all()
    return [clock_view(cal, r, now) for r in sorted(rows, key=lambda r: not r.is_open)]


# --- the sweeper --------------------------------------------------------------------------------------------

def sweep(ow: OneWindow, now: datetime | None = None, settings: ClockSettings | None = None) -> list[dict[str, Any]]:
    """Fire every stage due at `now` (default: the clock's now), each exactly once; returns what fired."""
    settings = settings or load_settings()
    now = now or ow.clock.now()
    # The empty sweep, by far the common one, is this one index probe and takes no write lock.
    with reading(ow.db) as session:
        if session.scalar(_PROBE, {"now": now}) is None:
            return []
    fired: list[dict[str, Any]] = []
    while True:
        with writing(ow.db) as session:
            due = (select(Deadline).where(Deadline.next_fire_at <= now).order_by(Deadline.next_fire_at)
                   .limit(settings.sweep_batch).with_for_update(skip_locked=True))
            rows = session.scalars(due).all()
            cal = load_calendar(session)
            # Case rows are locked in ascending id order by every worker, so two workers cannot deadlock; within
            # a case the hooks go first, since a deemed outcome can end the step a card would be about.
            ordered = sorted(rows, key=lambda r: (r.case_id, r.kind not in HOOK_KINDS, r.id))
            _lock_cases(session, sorted({r.case_id for r in rows}))
            try:
                # Fast path: the whole batch in one savepoint, so the ORM writes it in a few bulk statements.
                with session.begin_nested():
                    batch = [_fire(ow, session, row, now, cal, settings) for row in ordered]
            except Exception:  # noqa: BLE001 - any failing stage sends the batch down the slow path
                # Slow path: one savepoint per stage, so one broken case cannot hold up the others.
                _forget_batch(session)  # the rollback released those locks and undid what the memos hold
                batch = [_fire_alone(ow, session, row, now, cal, settings) for row in ordered]
            fired.extend(f for f in batch if f is not None)
        if len(rows) < settings.sweep_batch:
            return fired


def _fire_alone(ow: OneWindow, session: Session, row: Deadline, now: datetime, cal: WorkingCalendar,
                settings: ClockSettings) -> dict[str, Any] | None:
    row_id = row.id
    try:
        with session.begin_nested():
            return _fire(ow, session, row, now, cal, settings)
    except Exception as exc:  # noqa: BLE001 - a broken case must not stop the heartbeat for everyone
        log.warning("deadline %s could not fire, retrying in %s: %s", row_id, RETRY_AFTER, exc,
                    exc_info=not isinstance(exc, OneWindowError))
        _forget_batch(session)
        with session.begin_nested():
            session.get(Deadline, row_id).next_fire_at = now + RETRY_AFTER
        return None


def _fire(ow: OneWindow, session: Session, row: Deadline, now: datetime, cal: WorkingCalendar,
          settings: ClockSettings) -> dict[str, Any] | None:
    if row.kind in HOOK_KINDS:
        case = _lock_case(session, row.case_id)
        if not _still_due(row, now):
            return None
        # A hook moves the workflow: the open work items the batch remembered for this case are stale.
        session.info.get("clock_items", {}).pop(case.id, None)
        return _fire_hook(ow, session, case, row, now)
    # A ladder stage reads nothing its own batch wrote before it, so the batch is written in one flush.
    with session.no_autoflush:
        case = _lock_case(session, row.case_id)
        return _fire_ladder(session, case, row, now, cal, settings) if _still_due(row, now) else None


def _forget_batch(session: Session) -> None:
    for key in ("clock_locked_cases", "clock_items", "clock_state_hashes"):
        session.info.pop(key, None)


def _still_due(row: Deadline, now: datetime) -> bool:
    # An earlier stage of the batch may have closed or moved the row (e.g. its task just finished).
    if not row.is_open:
        row.next_fire_at = None  # a closed clock never waits in the due index
    return row.is_open and row.next_fire_at is not None and row.next_fire_at <= now


def _fire_ladder(session: Session, case: Case, row: Deadline, now: datetime, cal: WorkingCalendar,
                 settings: ClockSettings) -> dict[str, Any]:
    stage = stage_to_fire(row, now)
    items = _open_items(session, case, row)
    handlers = _handlers(session, case, items)
    due_local = row.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    what = f"{_CLOCK_NAMES.get(row.kind, row.kind)}{'（' + row.bpmn_id + '）' if row.bpmn_id else ''}"
    body = {"case_no": case.case_no, "clock": row.kind, "bpmn_id": row.bpmn_id, "due_at": row.due_at.isoformat()}
    respond_by = None
    if stage == "warned":
        recipients = {"warning": handlers}
        body |= {"zh": f"预警：办件 {case.case_no} 的{what}将于 {due_local} 到期。",
                 "en": f"Warning: the {row.kind} clock of case {case.case_no} is due on {due_local}."}
        row.stage = "warned"
        row.next_fire_at = next_fire(cal, row, settings)
    elif stage == "yellow":
        respond_by = cal.deadline_at(local_day(now), settings.urging_days).at
        recipients = {"urging_notice": sorted(set(handlers) | set(_supervisors(session, case.department_id)[1]))}
        body |= {"zh": f"催办通知书（黄牌）：办件 {case.case_no} 的{what}已于 {due_local} 超期，请在期限内办结并说明情况。",
                 "en": f"Urging notice (yellow card): the {row.kind} clock of case {case.case_no} ran out on "
                       f"{due_local}; conclude and explain by the reply date."}
        row.stage, row.next_fire_at = "yellow", respond_by + TICK
    else:
        level, upper = _supervisors(session, case.department_id, above=True)
        heads = _users(session, ["dept_head"], case.department_id)
        recipients = {"red_card": sorted(set(upper) | set(heads))}
        body |= {"zh": f"红牌：办件 {case.case_no} 的{what}催办后仍未办结，已上报并启动问责。",
                 "en": f"Red card: the {row.kind} clock of case {case.case_no} is still open after the urging "
                       "notice; escalated for rectification and accountability.", "escalated_to": level}
        row.stage, row.next_fire_at = "red", None
    for kind, people in recipients.items():
        notify(session, case, row, kind, people, now, body, respond_by=respond_by)
    raise_card(items, CARD_OF_STAGE[row.stage])
    event = {"warned": "warning_issued", "yellow": "yellow_card_issued", "red": "red_card_issued"}[row.stage]
    payload = {"deadline_id": row.id, "clock": row.kind, "bpmn_id": row.bpmn_id, "due_at": row.due_at.isoformat(),
               "recipients": sorted({p for people in recipients.values() for p in people}),
               "respond_by": respond_by.isoformat() if respond_by else None}
    note_event(session, case, event, SYSTEM, now, payload)
    return {"case_no": case.case_no, "event": event, **payload}


_CLOCK_NAMES = {"statutory": "法定时限", "promised": "承诺时限", "step": "环节时限"}


def _fire_hook(ow: OneWindow, session: Session, case: Case, row: Deadline, now: datetime) -> dict[str, Any] | None:
    if row.kind == "intake":
        if case.status != "RECEIVED":
            close_clock(row, now)
            return None
        return _deem_accepted(ow, session, case, row, now)
    if row.kind == "correction":
        return _withdraw_for_no_correction(ow, session, case, row, now)
    if row.kind == "deficiency":
        return expire_deficiency(ow, session, case, row, now)
    return _fire_timer(ow, session, case, row, now)


def _deem_accepted(ow: OneWindow, session: Session, case: Case, row: Deadline, now: datetime) -> dict[str, Any]:
    # Art. 32: no one-time notice and no decision within 5 working days: accepted from the day of receipt.
    task_id, change = intake_task(ow, session, case)
    task = ready_task(change.wf, task_id)
    meta = task_meta(task)
    data = ow.forms.clean(meta["form_key"], {"intake_decision": "accept",
                                             "intake_opinion": "逾期未作出受理决定，依法自收到申请之日起视为受理"})
    with change.stepping(now):
        complete_task(change.wf, task, data)
    case.status, case.accepted_at = "ACCEPTED", case.received_at
    close_clock(row, now)
    payload = {"deadline_id": row.id, "rule": "deemed-acceptance", "task_id": task_id, "bpmn_id": meta["bpmn_id"],
               "data": data, "accepted_from": local_day(case.received_at).isoformat(), "due_at": row.due_at.isoformat(),
               "status": case.status}
    change.record("deemed_accepted", SYSTEM, payload, now)
    return {"case_no": case.case_no, "event": "deemed_accepted", **payload}


def _withdraw_for_no_correction(ow: OneWindow, session: Session, case: Case, row: Deadline,
                                now: datetime) -> dict[str, Any]:
    change = CaseChange(ow, session, case)
    with change.stepping(now):
        change.wf.cancel()
    case.status, case.result, case.concluded_at = "WITHDRAWN", "withdrawn", now
    pause = _open_pause(session, case)
    if pause is not None:
        pause.ended_at, pause.closed_by = now, SYSTEM
    payload = {"deadline_id": row.id, "rule": "correction-expired", "requested_on": row.started_on.isoformat(),
               "due_at": row.due_at.isoformat(), "status": case.status}
    change.record("withdrawn_for_no_correction", SYSTEM, payload, now)
    return {"case_no": case.case_no, "event": "withdrawn_for_no_correction", **payload}


def _fire_timer(ow: OneWindow, session: Session, case: Case, row: Deadline, now: datetime) -> dict[str, Any] | None:
    change = CaseChange(ow, session, case)
    task = task_by_id(change.wf, row.task_id)
    if task is None or task.state != TaskState.WAITING or case.status in FINAL_STATUSES:
        close_clock(row, now)
        return None
    definition = task.task_spec.event_definition
    # SpiffWorkflow never sees the due time (the timer holds a value no clock reaches): OneWindow fires it.
    with change.stepping(now):
        change.wf.catch(BpmnEvent(definition, target=task.workflow))
        change.wf.do_engine_steps()
    if change.wf.is_completed():
        outcome = end_outcome(change.wf) or "approved"
        case.status, case.result, case.concluded_at = OUTCOME_STATUS.get(outcome, "DECIDED"), outcome, now
    close_clock(row, now)
    event = DEEMED_EVENT.get(row.rule or "", "timer_fired")
    payload = {"deadline_id": row.id, "rule": row.rule, "task_id": row.task_id, "bpmn_id": row.bpmn_id,
               "timer": definition.name, "due_at": row.due_at.isoformat(), "status": case.status}
    change.record(event, SYSTEM, payload, now)
    return {"case_no": case.case_no, "event": event, **payload}


# --- helpers ------------------------------------------------------------------------------------------------

def _lock_cases(session: Session, case_ids: list[int]) -> None:
    """Lock and load a batch's cases in one statement (ascending id), with their current state hash and open items."""
    rows = session.execute(
        select(Case, CaseEvent.state_hash)
        .outerjoin(CaseEvent, (CaseEvent.case_id == Case.id) & (CaseEvent.seq == Case.last_seq))
        .where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update(of=Case)
        .execution_options(populate_existing=True)).all()
    hashes = session.info.setdefault("clock_state_hashes", {})
    # Held here, not only in the identity map: the session keeps unchanged objects weakly, and a case collected
    # before its stage fired was read again, one more round trip per stage.
    locked = session.info.setdefault("clock_locked_cases", {})
    for case, last_state_hash in rows:
        locked[case.id] = case
        if last_state_hash is not None:
            hashes[case.id] = (case.state_json, last_state_hash)
    items = session.info.setdefault("clock_items", {})
    for case_id in case_ids:
        items[case_id] = []
    for item in session.scalars(select(WorkItem).where(WorkItem.case_id.in_(case_ids), WorkItem.is_open.is_(True))):
        items[item.case_id].append(item)


def _lock_case(session: Session, case_id: int) -> Case:
    """Lock a case row for this transaction, re-read once; later stages of the batch reuse it as changed."""
    locked = session.info.setdefault("clock_locked_cases", {})
    case = locked.get(case_id)
    if case is None:
        case = locked[case_id] = session.get(Case, case_id, with_for_update=True, populate_existing=True)
    return case


def _manifest(session: Session, case: Case) -> dict[str, Any]:
    return session.scalar(select(ProcessVersion.manifest).where(ProcessVersion.id == case.process_version_id))


def _open_rows(session: Session, case: Case, kinds: frozenset[str] | set[str]) -> list[Deadline]:
    return list(session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.is_open.is_(True),
                                                       Deadline.kind.in_(kinds)).order_by(Deadline.id)))


def _open_pause(session: Session, case: Case) -> ClockPause | None:
    return session.scalar(select(ClockPause).where(ClockPause.case_id == case.id, ClockPause.ended_at.is_(None)))


def _pause(session: Session, case: Case, kind: str, name: str, reason: str, username: str, now: datetime,
           expected_days: int | None) -> ClockPause:
    if _open_pause(session, case) is not None:
        raise Conflict(f"case {case.case_no} is already paused; resume it first")
    today = local_day(now)
    pause = ClockPause(case_id=case.id, kind=kind, name=name, reason=reason, previous_status=case.status,
                       started_at=now, started_on=today, expected_days=expected_days, opened_by=username)
    session.add(pause)
    for row in _open_rows(session, case, PAUSABLE_KINDS):
        if row.budget_unit in CALENDAR_UNITS and row.paused_since is None:
            row.paused_since, row.next_fire_at = today, None
    session.flush()
    return pause


def _resume(session: Session, case: Case, pause: ClockPause, username: str, now: datetime,
            reason: str, acting_for: str | None = None) -> dict[str, Any]:
    cal, settings, today = load_calendar(session), load_settings(), local_day(now)
    for row in _open_rows(session, case, PAUSABLE_KINDS):
        if row.paused_since is None:
            continue
        # Days in (paused_since, today] do not count: the clock runs again the day after the resumption.
        row.paused_days += paused_span(cal, row.budget_unit, row.paused_since, today)
        row.paused_since = None
        row.due_at, row.provisional = calendar_due(cal, row)
        row.calendar_version = cal.version
        rewind(cal, row, settings, now)
        _show_step_due(session, row)
    pause.ended_at, pause.closed_by = now, username
    pause.paused_days = max(0, cal.working_days_between(pause.started_on, today).days)
    if case.status == "SUSPENDED":
        case.status = pause.previous_status
    clocks = [{"kind": r.kind, "bpmn_id": r.bpmn_id, "due_at": r.due_at.isoformat(), "provisional": r.provisional}
              for r in _open_rows(session, case, CASE_KINDS)]
    note_event(session, case, "clock_resumed", username, now,
          {"kind": pause.kind, "name": pause.name, "reason": reason, "paused_days": pause.paused_days,
           "clocks": clocks}, acting_for)
    return {"paused_days": pause.paused_days, "clocks": clocks}


def _pause_payload(pause: ClockPause) -> dict[str, Any]:
    return {"kind": pause.kind, "name": pause.name, "reason": pause.reason, "expected_days": pause.expected_days,
            "paused_on": pause.started_on.isoformat()}


def _show_step_due(session: Session, row: Deadline) -> None:
    if row.kind == "step":
        item_id = session.scalar(select(WorkItem.id).where(WorkItem.task_id == row.task_id,
                                                           WorkItem.is_open.is_(True)))
        if item_id is not None:
            set_item_due(session, item_id, row.due_at)


def note_event(session: Session, case: Case, type_: str, actor: str, now: datetime, payload: dict[str, Any],
               acting_for: str | None = None) -> None:
    """Append a clock event that leaves the workflow state as it is (its hash is the current state's)."""
    memo = session.info.setdefault("clock_state_hashes", {})
    known = memo.get(case.id)
    if known is None or known[0] is not case.state_json:
        known = memo[case.id] = (case.state_json, case_state_hash(case))
    append_event(session, case, type_, actor, payload, now, known[1], acting_for)


def notify(session: Session, case: Case, row: Deadline | None, kind: str, recipients: list[str], now: datetime,
           body: dict[str, Any], respond_by: datetime | None = None) -> None:
    """One notification row per recipient (the clock's `row`, when a deadline prompted it)."""
    for recipient in recipients:
        session.add(Notification(case_id=case.id, deadline_id=row.id if row is not None else None, kind=kind,
                                 recipient=recipient, body=body, created_at=now, respond_by=respond_by))


def _users(session: Session, groups: list[str], department_id: int | None) -> list[str]:
    # Memoised for the transaction: a sweep batch asks the same few questions for many stages.
    memo = session.info.setdefault("clock_users", {})
    key = (tuple(sorted(groups)), department_id)
    if key not in memo:
        query = (select(User.username).join(UserGroup, UserGroup.user_id == User.id)
                 .where(UserGroup.group_code.in_(groups), User.active.is_(True), User.department_id == department_id))
        memo[key] = sorted(set(session.scalars(query)))
    return memo[key]


def _open_items(session: Session, case: Case, row: Deadline) -> list[WorkItem]:
    """The work a clock supervises: a step's item, or every open item of the case (read once per batch)."""
    memo = session.info.setdefault("clock_items", {})
    if case.id not in memo:
        memo[case.id] = list(session.scalars(select(WorkItem).where(WorkItem.case_id == case.id,
                                                                    WorkItem.is_open.is_(True))))
    return [i for i in memo[case.id] if row.kind != "step" or i.task_id == row.task_id]


def _handlers(session: Session, case: Case, items: list[WorkItem]) -> list[str]:
    """Who handles the clocked work: each item's holder, or its candidates in its department."""
    people: set[str] = set()
    for item in items:
        if item.assignee:
            people.add(item.assignee)
        else:
            people.update(_users(session, item.candidate_groups.split(","), item.department_id))
    # Nobody holds a task (e.g. the case waits on a timer): the department head answers for the case.
    return sorted(people) or _users(session, ["dept_head"], case.department_id)


def _supervisors(session: Session, department_id: int | None, above: bool = False) -> tuple[str | None, list[str]]:
    """The nearest supervisors at or above a department; `above`: those one organisation level higher still."""
    chain: list[Department] = []
    dep = session.get(Department, department_id) if department_id else None
    while dep is not None:
        chain.append(dep)
        dep = session.get(Department, dep.parent_id) if dep.parent_id else None
    found = [(d.code, people) for d in chain if (people := _users(session, ["supervisor"], d.id))]
    if not found:
        return None, []
    # With no level above the nearest supervisors, the top of the organisation answers for the red card too.
    return found[1] if above and len(found) > 1 else found[0]
