"""Completing a task of a case: authorisation, form validation, engine step, status, opinion and event."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.runtime import complete_task, end_outcome, ready_task
from engine.services.actors import Actor
from engine.services.casework import CaseChange, task_meta
from engine.store.models import Case, Opinion, WorkItem
from engine.store.writes import insert_row

OUTCOME_STATUS = {"approved": "DECIDED", "refused": "DECIDED", "rejected_at_intake": "REJECTED_AT_INTAKE",
                  "withdrawn": "WITHDRAWN", "revoked": "REVOKED"}
FINAL_STATUSES = {"DECIDED", "REJECTED_AT_INTAKE", "WITHDRAWN", "DELIVERED", "CLOSED", "REVOKED", "TERMINATED"}


def authorise_work(actor: Actor, item: WorkItem) -> None:
    """Refuse unless the actor holds the task, or it is unclaimed and falls in the actor's groups and department."""
    if item.assignee:
        if item.assignee != actor.username and item.assignee not in actor.covers_for:
            raise Forbidden(f"task {item.task_id} is held by {item.assignee}")
        return
    authorise_claim(actor, item)


def authorise_claim(actor: Actor, item: WorkItem) -> None:
    """Refuse unless the task falls in the actor's candidate groups and department (whoever holds it now)."""
    groups = [g for g in item.candidate_groups.split(",") if g]
    if not actor.in_any(groups):
        raise Forbidden(f"{actor.username} is not in the candidate groups of '{item.name}' ({', '.join(groups)})")
    if not actor.covers_department(item.department_id):
        raise Forbidden(f"'{item.name}' belongs to another department")


def open_work_item(session: Session, case: Case, task_id: str, item: WorkItem | None = None) -> WorkItem:
    """The open work item for a task of a case, or Conflict if the task is no longer waiting."""
    if item is None:
        item = session.scalar(select(WorkItem).where(WorkItem.task_id == task_id, WorkItem.case_id == case.id))
    if item is None or not item.is_open:
        raise Conflict(f"task {task_id} is not open: it was completed or withdrawn")
    return item


def complete_case_task(ow: OneWindow, session: Session, case: Case, task_id: str, actor: Actor,
                       data: dict[str, Any], event_type: str = "task_completed",
                       change: CaseChange | None = None, item: WorkItem | None = None) -> CaseChange:
    """Complete one READY task of `case` with validated form data and record it."""
    # A decision on a written commitment (告知承诺制) concludes the case while its verification is still open,
    # so a DECIDED case may have work left; one without any is refused by open_work_item below.
    if case.status in FINAL_STATUSES - {"DECIDED"}:
        raise Conflict(f"case {case.case_no} is {case.status}: no task can be completed")
    item = open_work_item(session, case, task_id, item)
    authorise_work(actor, item)
    change = change or CaseChange(ow, session, case)
    task = ready_task(change.wf, task_id)
    meta = task_meta(task)
    cleaned = ow.forms.clean(meta["form_key"], data)
    declared = ow.forms.schema(meta["form_key"]).get("properties", {}) if meta["form_key"] else {}
    # A task re-entered through a return loop inherits the last pass's data: reset every declared field
    # so a stale decision can never route this pass.
    values = {name: cleaned.get(name) for name in declared}
    now = ow.clock.now()
    phase = meta["properties"].get("phase")
    if phase == "intake":
        decision = cleaned.get("intake_decision")
        if decision not in ("accept", "reject"):
            raise InvalidInput("intake needs intake_decision = accept or reject", fields={"intake_decision": "required"})
        if decision == "accept":
            case.status, case.accepted_at = "ACCEPTED", now
            event_type = "accepted"
        else:
            event_type = "rejected_at_intake"
    elif case.status == "ACCEPTED":
        case.status = "IN_REVIEW"
    with change.stepping(now):
        complete_task(change.wf, task, values)
    if "opinion" in cleaned or "decision" in cleaned:
        insert_row(session, Opinion(case_id=case.id, task_id=task_id, bpmn_id=meta["bpmn_id"],
                            department_id=item.department_id, handler=actor.username,
                            decision=cleaned.get("decision"), text=str(cleaned.get("opinion", "")), at=now))
    if change.wf.is_completed():
        outcome = end_outcome(change.wf) or "approved"
        case.status, case.result = OUTCOME_STATUS.get(outcome, "DECIDED"), outcome
        case.concluded_at = case.concluded_at or now
    elif meta["properties"].get("concludes") == "true" and cleaned.get("decision") == "approve":
        # Approval on commitment: the licence is granted now, the verification after it is post-decision work.
        case.status, case.result, case.concluded_at = "DECIDED", "approved", now
    # An instant item (即办件) concluded by the window step itself is marked `on_site` in its event:
    # on_site_rate = cases with an event whose payload has on_site = true ÷ all concluded cases.
    on_site = meta["properties"].get("on_site") == "true" and case.status == "DECIDED"
    # A backup post completing an absent holder's task: the event names both (who acted, for whom).
    acting_for = item.assignee if item.assignee and item.assignee != actor.username else None
    change.record(event_type, actor.username,
                  {"task_id": task_id, "bpmn_id": meta["bpmn_id"], "data": cleaned, "status": case.status,
                   **({"on_site": True} if on_site else {})}, now, acting_for)
    return change
