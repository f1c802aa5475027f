"""Auditor use cases: verify every case's history (hash chain + re-execution), the as-of view, the read log.

Reads by auditors and supervisors go to `audit_read`, not to case events: a case's chain records what was done
to the case, and a look at it must not change its hashes or its sequence numbers. The auditors' only writes
are their own trail (audit_read, audit_run); every use case that changes a case refuses them by group.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.bpmn.render import render_svg
from engine.bpmn.xml import parse_xml
from engine.clock.ladder import CALENDAR_UNITS, CASE_KINDS, calendar_due, start_of_day
from engine.clock.limits import Budget, parse_budget
from engine.clock.store import load_calendar
from engine.errors import InvalidInput
from engine.history import verify_chain
from engine.replay import Replay, recorded_state_format, recorded_task_ids, replay_events
from engine.runtime import ENGINE_JSON, canonical_state, dump_state, end_outcome, ready_user_tasks
from engine.services.actors import Actor, resolve_actor
from engine.services.admin_edits import applicant_from_history
from engine.services.casework import case_of_task, find_case, spec_bundle, task_meta
from engine.services.complaint_stages import stage_from_events
from engine.services.queries import history
from engine.services.workflow_steps import FINAL_STATUSES
from engine.store.models import (
    AuditRead,
    AuditRun,
    Case,
    CaseCheckpoint,
    CaseEvent,
    Complaint,
    Deadline,
    ProcessVersion,
    Rating,
)
from engine.store.uow import reading, writing

AUDIT_GROUPS = ("auditor", "supervisor")
log = logging.getLogger(__name__)
_BATCH = 200


def audit_reader(session: Session, username: str) -> Actor:
    """Resolve a user who may read histories and figures (auditor or supervisor), or refuse."""
    actor = resolve_actor(session, username)
    actor.require_group(*AUDIT_GROUPS)
    return actor


def log_read(ow: OneWindow, username: str, action: str, case_no: str | None = None, **detail: Any) -> None:
    """Record that an auditor or supervisor looked at something (own transaction, append-only)."""
    with writing(ow.db) as session:
        session.add(AuditRead(at=ow.clock.now(), username=username, action=action, case_no=case_no, detail=detail))


def log_look(ow: OneWindow, username: str, action: str, case_no: str | None = None, task_id: str | None = None,
             **detail: Any) -> bool:
    """Log a look at a case, a task or an inbox through the clerk pages or the API when the reader is an auditor
    or supervisor (anyone else's reads are their own work, not supervision); True when it was logged."""
    # Checked in a read transaction: on SQLite a write transaction would queue every clerk's read behind writes.
    with reading(ow.db) as session:
        if not resolve_actor(session, username).in_any(AUDIT_GROUPS):
            return False
        if task_id is not None:
            case_no = case_no or case_of_task(session, task_id).case_no
            detail = {"task_id": task_id, **detail}
    log_read(ow, username, action, case_no, **detail)
    return True


def read_log(ow: OneWindow, username: str, case_no: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest entries of the read log (optionally for one case)."""
    with reading(ow.db) as session:
        audit_reader(session, username)
        query = select(AuditRead).order_by(AuditRead.id.desc()).limit(max(1, min(limit, 1000)))
        if case_no:
            query = query.where(AuditRead.case_no == case_no)
        return [{"at": r.at.isoformat(), "username": r.username, "action": r.action, "case_no": r.case_no,
                 "detail": r.detail} for r in session.scalars(query)]


def logged_history(ow: OneWindow, case_no: str, reader: str) -> list[dict[str, Any]]:
    """A case's event list for an auditor or supervisor, with the look logged."""
    with reading(ow.db) as session:
        audit_reader(session, reader)
    events = history(ow, case_no)
    log_read(ow, reader, "history", case_no, events=len(events))
    return events


# --- verification ---------------------------------------------------------------------------------------


def _events(session: Session, case: Case) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))


def _cases(session: Session, case_no: str | None) -> Iterator[Case]:
    if case_no:
        yield find_case(session, case_no)
        return
    last_id = 0
    while True:
        batch = session.scalars(select(Case).where(Case.id > last_id).order_by(Case.id).limit(_BATCH)).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        session.expunge_all()


def reexecution_problems(ow: OneWindow, session: Session, case: Case, events: list[CaseEvent]) -> list[dict[str, Any]]:
    """Re-execute a case's events against its pinned version; every divergence, plus a case row that disagrees."""
    bundle = spec_bundle(ow, session, case.process_version_id)
    replay, divergences = replay_events(bundle, ow.forms, case.case_no, events)
    problems = [{"case_no": case.case_no, "seq": d.seq, "check": "replay", "problem": d.problem} for d in divergences]
    if events and case.state_format != replay.state_format:
        problems.append({"case_no": case.case_no, "seq": None, "check": "case",
                         "problem": "the case's state format is not the one its application recorded"})
    if replay.workflow is not None and replay.hash_of(case.state_json) != replay.current_hash():
        problems.append({"case_no": case.case_no, "seq": None, "check": "case",
                         "problem": "the stored workflow state differs from the re-executed history"})
    elif replay.workflow is not None and replay.state_format == ENGINE_JSON and _in_environment(events) and \
            canonical_state(case.state_json) != canonical_state(dump_state(replay.workflow, ENGINE_JSON)):
        # The normalised hash ignores task ids and times; CANONICAL_JSON is hashed as stored, ids and times included.
        problems.append({"case_no": case.case_no, "seq": None, "check": "case",
                         "problem": "the stored workflow state has task ids or times its history does not produce"})
    recorded = {e.seq: e.state_hash for e in events}
    for seq, state in session.execute(select(CaseCheckpoint.seq, CaseCheckpoint.state_json)
                                      .where(CaseCheckpoint.case_id == case.id)):
        if recorded.get(seq) != replay.hash_of(state):
            problems.append({"case_no": case.case_no, "seq": seq, "check": "checkpoint",
                             "problem": "the saved state at this event differs from the state hash it recorded"})
    if events and replay.facts.status != case.status:
        problems.append({"case_no": case.case_no, "seq": None, "check": "case",
                         "problem": f"the case says {case.status} but its history leads to {replay.facts.status}"})
    return problems + derived_row_problems(session, case, events)


def _in_environment(events: list[CaseEvent]) -> bool:
    """True for a case whose engine ran in EngineEnvironments from its application on (exact re-execution)."""
    return bool(events) and events[0].type == "applied" and "environment" in (events[0].payload or {})


def derived_row_problems(session: Session, case: Case, events: list[CaseEvent]) -> list[dict[str, Any]]:
    """Rows the supervision figures and the centre read (conclusion time, rating, complaints and their stage, the
    applicant's contact details) checked against the events."""
    # The figures are computed from these rows, not from the chain: an edited rating or conclusion time
    # would change the satisfaction and on-time rates while every hash still verifies.
    def problem(check: str, text: str, seq: int | None = None) -> dict[str, Any]:
        return {"case_no": case.case_no, "seq": seq, "check": check, "problem": text}

    found: list[dict[str, Any]] = []
    concluded = next((e for e in events if (e.payload or {}).get("status") in FINAL_STATUSES
                      or e.type in ("withdrawn", "terminated")), None)
    expected_at = concluded.at if concluded is not None else None
    if case.concluded_at != expected_at:
        found.append(problem("case", f"the case records its conclusion at {case.concluded_at} but its history "
                                     f"concludes it at {expected_at}", concluded.seq if concluded else None))
    rated = [e for e in events if e.type == "rated"]
    rating = session.scalar(select(Rating).where(Rating.case_id == case.id))
    if rated and rating is None:
        found.append(problem("rating", "the history records a rating whose row is missing", rated[-1].seq))
    elif rating is not None and not rated:
        found.append(problem("rating", f"a rating of level {rating.level} exists with no rating event"))
    elif rating is not None:
        last = rated[-1]
        recorded = (last.payload.get("level"), last.payload.get("comment", ""), last.actor, last.at)
        if (rating.level, rating.comment, rating.rated_by, rating.at) != recorded:
            found.append(problem("rating", f"the stored rating (level {rating.level}) differs from the rating "
                                           f"event (level {recorded[0]})", last.seq))
    filed = {e.payload.get("complaint_id"): e for e in events if e.type == "complained"}
    stored = {c.id: c for c in session.scalars(select(Complaint).where(Complaint.case_id == case.id))}
    for complaint_id in filed.keys() - stored.keys():
        found.append(problem("complaint", f"complaint {complaint_id} is in the history but its row is missing",
                             filed[complaint_id].seq))
    for complaint_id in stored.keys() - filed.keys():
        found.append(problem("complaint", f"complaint {complaint_id} exists with no complaint event"))
    for complaint_id in stored.keys() & filed.keys():
        event, row = filed[complaint_id], stored[complaint_id]
        if (row.text, row.filed_by, row.at) != (event.payload.get("text"), event.actor, event.at):
            found.append(problem("complaint", f"complaint {complaint_id} differs from the text its event recorded",
                                 event.seq))
        # The stage drives the overdue-complaint list: an edited stage would hide an unanswered complaint.
        stage, seq = stage_from_events(events, complaint_id)
        if row.status != stage:
            found.append(problem("complaint", f"complaint {complaint_id} is stored as {row.status} but its history "
                                              f"leaves it {stage}", seq or event.seq))
    return found + applicant_problems(case, events)


def applicant_problems(case: Case, events: list[CaseEvent]) -> list[dict[str, Any]]:
    """The case's applicant details against the application event and the administrative edits after it."""
    expected = applicant_from_history(events)
    if expected is None or case.applicant == expected:
        return []
    changed = sorted(k for k in expected.keys() | case.applicant.keys() if expected.get(k) != case.applicant.get(k))
    return [{"case_no": case.case_no, "seq": None, "check": "applicant",
             "problem": f"the stored applicant details ({', '.join(changed)}) differ from the application and its "
                        "administrative edits"}]


def verify_history(ow: OneWindow, case_no: str | None = None, reexecute: bool = True) -> dict[str, Any]:
    """Check the hash chain of one case or of all and, with `reexecute`, replay each against its pinned version."""
    checked, _, problems = _verify(ow, case_no, reexecute)
    return {"cases_checked": checked, "problems": problems}


def _verify(ow: OneWindow, case_no: str | None, reexecute: bool) -> tuple[int, int, list[dict[str, Any]]]:
    with reading(ow.db) as session:
        checked, events_checked, problems = 0, 0, []
        for case in _cases(session, case_no):
            checked += 1
            problems += [{**vars(p), "check": "chain"} for p in verify_chain(session, case)]
            if reexecute:
                events = _events(session, case)
                events_checked += len(events)
                problems += reexecution_problems(ow, session, case, events)
            else:
                events_checked += case.last_seq
        return checked, events_checked, problems


def run_verification(ow: OneWindow, reader: str | None, trigger: str = "manual",
                     case_no: str | None = None) -> dict[str, Any]:
    """Verify (chains and re-execution) and store the run in audit_run; returns the report with the run id.

    `reader` is the auditor or supervisor who asked (checked); None is the operator's shell or the scheduler.
    """
    if reader is not None:
        with reading(ow.db) as session:
            audit_reader(session, reader)
    started = ow.clock.now()
    checked, events, problems = _verify(ow, case_no, reexecute=True)
    with writing(ow.db) as session:
        run = AuditRun(started_at=started, finished_at=ow.clock.now(), trigger=trigger,
                       requested_by=reader or trigger, scope=case_no, cases_checked=checked, events_checked=events,
                       problem_count=len(problems), problems=problems[:1000])
        session.add(run)
        session.flush()
        return {"run_id": run.id, "cases_checked": checked, "events_checked": events, "problems": problems}


def scheduled_verification(ow: OneWindow) -> dict[str, Any]:
    """The scheduler's job: verify every case and store the run (APScheduler calls this nightly)."""
    report = run_verification(ow, None, trigger="scheduler")
    if report["problems"]:
        log.warning("history verification run %s found %d problem(s)", report["run_id"], len(report["problems"]))
    return report


def verification_runs(ow: OneWindow, username: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest verification runs, newest first."""
    with reading(ow.db) as session:
        audit_reader(session, username)
        runs = session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(max(1, min(limit, 200))))
        return [{"id": r.id, "started_at": r.started_at.isoformat(), "finished_at": r.finished_at.isoformat(),
                 "trigger": r.trigger, "requested_by": r.requested_by, "scope": r.scope,
                 "cases_checked": r.cases_checked, "events_checked": r.events_checked,
                 "problem_count": r.problem_count, "problems": r.problems} for r in runs]


# --- as-of view -------------------------------------------------------------------------------------------


def case_as_of(ow: OneWindow, case_no: str, seq: int | None = None, reader: str | None = None,
               diagram: bool = False) -> dict[str, Any]:
    """The case exactly as it stood after event `seq` (default: the last), rebuilt by re-executing its log.

    `reader` (an auditor or supervisor) is checked and the look is logged; the operator's CLI may omit it.
    """
    with reading(ow.db) as session:
        if reader is not None:
            audit_reader(session, reader)
        case = find_case(session, case_no)
        events = _events(session, case)
        if not events:
            raise InvalidInput(f"case {case_no} has no events")
        last = events[-1].seq
        seq = last if seq is None else seq
        if not 1 <= seq <= last:
            raise InvalidInput(f"case {case_no} has events 1 to {last}; there is no event {seq}",
                               fields={"at": f"between 1 and {last}"})
        version = session.get(ProcessVersion, case.process_version_id)
        replay = Replay(spec_bundle(ow, session, case.process_version_id), ow.forms, case.case_no,
                        recorded_state_format(events))
        upto = [e for e in events if e.seq <= seq]
        start = _checkpoint(session, case, events, replay, seq, before=True)
        if start is not None:
            replay.start_from(start.state_json, start.seq)
        # Events before the start point only feed the facts (status, holders, cards); the rest re-execute,
        # hashed once at `seq` (a faithful replay cannot drift and come back).
        found = []
        for e in upto:
            if start is not None and e.seq <= start.seq:
                replay.facts.observe(e)
            elif (divergence := replay.apply(e, check=e is upto[-1])) is not None:
                found.append(divergence)
        view = _view(case, version, replay, upto[-1], events, seq)
        assignees = dict(replay.facts.assignees)
        chain = [vars(p) for p in verify_chain(session, case)]
        view["verified"] = not found and not [p for p in chain if p["seq"] is None or p["seq"] <= seq]
        view["problems"] = [vars(d) for d in found] + chain
        # Task ids the running system used: replay on to the next checkpoint (or the stored state) and pair
        # every replayed id with the recorded one there, where the two states hash equal.
        after = _checkpoint(session, case, events, replay, seq, before=False)
        for e in events[len(upto):]:
            if after is not None and e.seq > after.seq:
                break
            replay.apply(e, check=False)
        recorded = after.state_json if after is not None else case.state_json
        ids = recorded_task_ids(replay, recorded, dump_state(replay.workflow, replay.state_format)) \
            if replay.workflow else {}
        for task in view["open_tasks"]:
            task["task_id"] = ids.get(task.pop("replay_id")) or task["task_id"]
            task["assignee"] = assignees.get(task["task_id"] or "")
        view["clocks"] = _clocks_as_of(session, case, events, upto[-1], view["status"],
                                       {t["task_id"] for t in view["open_tasks"]})
        for task in view["open_tasks"]:
            # Past its due time is overdue at that moment, whether or not the sweeper had yet raised a card.
            if any(c["overdue"] or c["stage"] in ("yellow", "red")
                   for c in view["clocks"] if c["task_id"] == task["task_id"]):
                view["highlights"][task["bpmn_id"]] = "overdue"
        if diagram:
            view["diagram_svg"] = render_svg(parse_xml(version.bpmn_xml, f"{case.item_code}.bpmn"), view["highlights"])
    if reader is not None:
        log_read(ow, reader, "as_of", case_no, seq=seq)
    return view


def _checkpoint(session: Session, case: Case, events: list[CaseEvent], replay: Replay, seq: int,
                before: bool) -> CaseCheckpoint | None:
    """The nearest checkpoint at or before `seq` (or after it) that hashes as its chained event recorded."""
    query = select(CaseCheckpoint).where(CaseCheckpoint.case_id == case.id)
    query = (query.where(CaseCheckpoint.seq <= seq).order_by(CaseCheckpoint.seq.desc()) if before
             else query.where(CaseCheckpoint.seq > seq).order_by(CaseCheckpoint.seq))
    recorded = {e.seq: e.state_hash for e in events}
    for point in session.scalars(query.limit(3)):
        if recorded.get(point.seq) == replay.hash_of(point.state_json):
            return point
    return None


def _view(case: Case, version: ProcessVersion, replay: Replay, event: CaseEvent, events: list[CaseEvent],
          seq: int) -> dict[str, Any]:
    wf = replay.workflow
    open_tasks, highlights = [], {}
    if wf is not None:
        for task in wf.get_tasks(state=TaskState.COMPLETED):
            if task.workflow is wf and task.task_spec.bpmn_id:
                highlights[task.task_spec.bpmn_id] = "completed"
        for task in wf.get_tasks(state=TaskState.WAITING):
            if task.workflow is wf and isinstance(task.task_spec, CatchingEvent):
                highlights[task.task_spec.bpmn_id] = "active"
        for task in ready_user_tasks(wf):
            meta = task_meta(task)
            open_tasks.append({"task_id": replay.recorded_id(task), "replay_id": str(task.id), "bpmn_id": meta["bpmn_id"],
                               "name": meta["name"], "groups": meta["groups"]})
            highlights[meta["bpmn_id"]] = "active"
    result = replay.facts.result or (end_outcome(wf) if wf is not None and wf.is_completed() else None)
    data = json.loads(json.dumps(wf.last_task.data if wf is not None and wf.last_task else {}, default=str))
    return {
        "case_no": case.case_no, "item_code": case.item_code, "version": version.version, "seq": seq,
        "last_seq": events[-1].seq, "at": event.at.isoformat(),
        "event": _event_row(event), "status": replay.facts.status, "result": result,
        "open_tasks": open_tasks, "data": data, "cards": [dict(c) for c in replay.facts.cards], "highlights": highlights,
        "state_hash": event.state_hash, "replayed_state_hash": replay.current_hash(),
        "timeline": [_event_row(e) for e in events],
    }


# Events that move a clock's due time, and the payload list naming the clocks they moved.
_DUE_CHANGES = {"extension_granted": "clocks", "clock_resumed": "clocks", "deadline_recomputed": "clocks",
                "clock_rebudgeted": "clocks"}
_STAGE_OF_CARD = {"warning_issued": "warned", "yellow_card_issued": "yellow", "red_card_issued": "red"}


def _clocks_as_of(session: Session, case: Case, events: list[CaseEvent], event: CaseEvent, status: str | None,
                  open_task_ids: set[str | None]) -> list[dict[str, Any]]:
    """The clocks running after `event`, with the due time and ladder stage the events up to it recorded.

    Deadline rows hold only the latest due time and stage; what they were at an earlier event is read back
    from the events that changed them (cards, extensions, resumptions, recomputations). Rows the events never
    mention keep their first due time, recomputed from the row's budget without later extensions or pauses.
    """
    at, seq = event.at, event.seq
    if status in FINAL_STATUSES:  # a concluded case's clocks all stopped with the event that concluded it
        return []
    rows = session.scalars(select(Deadline).where(Deadline.case_id == case.id).order_by(Deadline.id)).all()
    cal = load_calendar(session)
    out = []
    for row in rows:
        # Closed by a later event, even one in the same instant (the clock did not move in between).
        if row.closed_at is not None and row.closed_at < at:
            continue
        if row.kind == "step" and row.task_id not in open_task_ids:
            continue
        if row.kind in CASE_KINDS and (case.accepted_at is None or case.accepted_at > at):
            continue
        if row.kind not in CASE_KINDS | {"step"} and start_of_day(row.started_on) > at:
            continue
        if (row.kind == "intake" and status != "RECEIVED") or (row.kind == "correction"
                                                                and not _correcting(events, seq)):
            continue  # closed by the event that left intake or answered the request, perhaps in the same instant
        due, stage, changed_later = None, "running", False
        for e in events:
            mentioned = _due_in(e, row)
            if e.seq > seq:
                changed_later = changed_later or mentioned is not None
                continue
            if mentioned is not None:
                due = mentioned
                if e.type in _DUE_CHANGES and datetime.fromisoformat(mentioned) >= at:
                    stage = "running"
            if e.type in _STAGE_OF_CARD and e.payload.get("deadline_id") == row.id:
                stage = _STAGE_OF_CARD[e.type]
        budget = _budget_as_of(events, seq, row)
        if due is None:
            first = row.due_at
            if changed_later and row.budget_unit in CALENDAR_UNITS:
                original = Deadline(kind=row.kind, budget_days=budget.amount, budget_unit=budget.unit,
                                    extended_days=0, paused_days=0, started_on=row.started_on)
                first = calendar_due(cal, original).at
            due = first.isoformat()
        out.append({"kind": row.kind, "bpmn_id": row.bpmn_id, "task_id": row.task_id, "rule": row.rule,
                    "budget": f"{budget.amount}{budget.unit}", "due_at": due, "stage": stage,
                    "overdue": at > datetime.fromisoformat(due)})
    return out


def _budget_as_of(events: list[CaseEvent], seq: int, row: Deadline) -> Budget:
    """The row's budget after event `seq`: what the first later re-budgeting changed it from, else its own."""
    for e in events:
        if e.seq > seq and e.type == "clock_rebudgeted" and any(c.get("deadline_id") == row.id
                                                                 for c in e.payload.get("clocks", [])):
            return parse_budget(e.payload["from"])
    return Budget(row.budget_days, row.budget_unit)


def _correcting(events: list[CaseEvent], seq: int) -> bool:
    """True when a correction request is waiting for its materials after event `seq`."""
    waiting = False
    for e in events:
        if e.seq > seq:
            break
        if e.type == "correction_requested":
            waiting = True
        elif e.type in ("correction_received", "supplemented", "withdrawn_for_no_correction"):
            waiting = False
    return waiting


def _due_in(e: CaseEvent, row: Deadline) -> str | None:
    payload = e.payload or {}
    if e.type in _STAGE_OF_CARD:
        return payload.get("due_at") if payload.get("deadline_id") == row.id else None
    for clock in payload.get(_DUE_CHANGES.get(e.type, ""), None) or []:
        if clock.get("deadline_id") == row.id or (clock.get("deadline_id") is None and clock.get("kind") == row.kind
                                                   and clock.get("bpmn_id") == row.bpmn_id):
            return clock.get("due_at") or clock.get("to")
    return None


def _event_row(e: CaseEvent) -> dict[str, Any]:
    return {"seq": e.seq, "type": e.type, "actor": e.actor, "acting_for": e.acting_for, "at": e.at.isoformat(),
            "payload": e.payload, "state_hash": e.state_hash}


def event_counts(ow: OneWindow) -> dict[str, int]:
    """How many cases and events the history holds (for the audit page)."""
    with reading(ow.db) as session:
        return {"cases": session.scalar(select(func.count(Case.id))) or 0,
                "events": session.scalar(select(func.count(CaseEvent.id))) or 0}
