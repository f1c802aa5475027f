"""Clerk use cases on tasks: claim, unclaim, complete."""
from __future__ import annotations

from typing import Any

from sqlalchemy import update

from engine.bootstrap import OneWindow
from engine.errors import Conflict, Forbidden
from engine.history import append_event, case_state_hash
from engine.services.actors import resolve_actor
from engine.services.casework import add_group_rows, case_and_item, case_of_task, drop_group_rows
from engine.services.intake import after_intake
from engine.services.workflow_steps import authorise_claim, complete_case_task, open_work_item
from engine.store.models import WorkItem
from engine.store.uow import writing


def claim(ow: OneWindow, task_id: str, username: str) -> None:
    """Take an unclaimed task into one's own inbox; of two clerks racing, exactly one gets it."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = case_of_task(session, task_id)
        item = open_work_item(session, case, task_id)
        if item.assignee == username:
            return
        # Eligibility first: who holds a task is not told to clerks outside its groups and department.
        authorise_claim(actor, item)
        if item.assignee:
            raise Conflict(f"task {task_id} is already held by {item.assignee}")
        won = session.execute(update(WorkItem).where(WorkItem.id == item.id, WorkItem.assignee.is_(None),
                                                     WorkItem.is_open.is_(True)).values(assignee=username)).rowcount
        if not won:
            raise Conflict(f"task {task_id} was claimed by someone else a moment ago")
        drop_group_rows(session, [item.id])
        if case.status == "ACCEPTED":
            case.status = "IN_REVIEW"
        append_event(session, case, "claimed", username, {"task_id": task_id, "bpmn_id": item.bpmn_id},
                     ow.clock.now(), case_state_hash(case))


def unclaim(ow: OneWindow, task_id: str, username: str) -> None:
    """Put a held task back into its groups' inbox."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = case_of_task(session, task_id)
        item = open_work_item(session, case, task_id)
        if item.assignee != username and item.assignee not in actor.covers_for:
            raise Forbidden(f"task {task_id} is not held by {username}")
        acting_for = item.assignee if item.assignee != username else None
        item.assignee = None
        add_group_rows(item)
        append_event(session, case, "unclaimed", username, {"task_id": task_id, "bpmn_id": item.bpmn_id},
                     ow.clock.now(), case_state_hash(case), acting_for)


def complete(ow: OneWindow, task_id: str, username: str, data: dict[str, Any], basis: str = "") -> str:
    """Complete a task with its form data; returns the case's status afterwards. A rejection at intake needs its
    reason, and its refusal notice (with `basis`, the legal basis, or the default) goes out in the same transaction."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case, item = case_and_item(session, task_id)
        before = case.status
        complete_case_task(ow, session, case, task_id, actor, data, item=item)
        after_intake(session, case, before, actor, data, basis)
        return case.status
