"""Reassignment (转办): a department head or supervisor moves an open task to another clerk who could claim it.

The holder of a task lives in the inbox projection only (claim never writes it into the workflow state), so a
reassignment changes the work item and records a `reassigned` event; the state hash stays as it was.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.history import append_event, case_state_hash
from engine.services.actors import Actor, resolve_actor
from engine.services.casework import case_and_item, drop_group_rows
from engine.services.reasons import required_text
from engine.services.workflow_steps import authorise_work, open_work_item
from engine.store.models import Case, User, UserGroup, WorkItem
from engine.store.uow import reading, writing

REASSIGNERS = ("dept_head", "supervisor")


def reassign(ow: OneWindow, task_id: str, username: str, to: str, reason: str) -> dict[str, Any]:
    """Give an open task (held or not) to `to`, who must be able to claim it; the reason is recorded."""
    reason = required_text(reason, "reason")
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group(*REASSIGNERS)
        case, item = case_and_item(session, task_id)
        item = open_work_item(session, case, task_id, item)
        require_department(actor, item)
        target = _target(session, to)
        require_holder(session, target, item)
        previous = item.assignee
        if previous == target.username:
            raise Conflict(f"task {task_id} is already held by {target.username}")
        # Only if nobody claimed, released or reassigned it since it was read (as claim guards its race).
        held_as_read = WorkItem.assignee == previous if previous else WorkItem.assignee.is_(None)
        moved = session.execute(update(WorkItem).where(WorkItem.id == item.id, WorkItem.is_open.is_(True), held_as_read)
                                .values(assignee=target.username)).rowcount
        if not moved:
            raise Conflict(f"task {task_id} changed hands a moment ago; reload and try again")
        if previous is None:
            drop_group_rows(session, [item.id])
        payload: dict[str, Any] = {"task_id": task_id, "bpmn_id": item.bpmn_id, "from": previous,
                                   "to": target.username, "reason": reason}
        if case.status == "ACCEPTED":
            # Work on the case has started, as when the new holder claims it; the payload carries the status
            # so that the replay's case facts follow.
            case.status = payload["status"] = "IN_REVIEW"
        now = ow.clock.now()
        append_event(session, case, "reassigned", username, payload, now, case_state_hash(case))
        return {"task_id": task_id, "case_no": case.case_no, "from": previous, "to": target.username,
                "at": now.isoformat()}


def require_department(actor: Actor, item: WorkItem) -> None:
    """Refuse unless the (head's or supervisor's) department covers the task's department."""
    if not actor.covers_department(item.department_id):
        raise Forbidden(f"'{item.name}' belongs to a department {actor.username} does not head or supervise")


def _target(session: Session, username: str) -> Actor:
    try:
        return resolve_actor(session, (username or "").strip())
    except NotFound:
        raise InvalidInput(f"no active user '{username}'", fields={"to": "unknown user"}) from None


def require_holder(session: Session, target: Actor, item: WorkItem) -> None:
    """Refuse (InvalidInput) unless `target` is present and could claim the task: its groups and department."""
    if session.scalar(select(User.is_absent).where(User.id == target.user_id)):
        raise InvalidInput(f"{target.username} is marked absent; give the task to someone present",
                           fields={"to": "absent"})
    require_claimable(target, item)


def require_claimable(target: Actor, item: WorkItem) -> None:
    """Refuse (InvalidInput) unless `target` could claim the task if nobody held it."""
    try:
        # The claim rule itself, applied to the task as if nobody held it.
        authorise_work(target, _unheld(item))
    except Forbidden as exc:
        raise InvalidInput(f"{target.username} cannot hold this task: {exc}", fields={"to": "cannot hold it"}) from None


def _unheld(item: WorkItem) -> WorkItem:
    """A detached copy of the work item without its holder (never added to the session)."""
    return WorkItem(task_id=item.task_id, name=item.name, candidate_groups=item.candidate_groups,
                    department_id=item.department_id, assignee=None)


def reassign_options(ow: OneWindow, case_no: str, username: str) -> list[dict[str, Any]]:
    """The case's open tasks the user may reassign, each with the present clerks who could take it."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        if not actor.in_any(REASSIGNERS):
            return []
        items = session.scalars(select(WorkItem).join(Case, Case.id == WorkItem.case_id)
                                .where(Case.case_no == case_no, WorkItem.is_open.is_(True))
                                .order_by(WorkItem.id)).all()
        items = [w for w in items if actor.covers_department(w.department_id)]
        people = _candidates(session, {g for w in items for g in w.candidate_groups.split(",") if g})
        out = []
        for item in items:
            eligible = []
            for candidate in people:
                try:
                    require_claimable(candidate, item)
                except InvalidInput:
                    continue
                if candidate.username != item.assignee:
                    eligible.append({"username": candidate.username, "display_name": candidate.display_name})
            out.append({"task_id": item.task_id, "name": item.name, "bpmn_id": item.bpmn_id,
                        "assignee": item.assignee, "candidates": eligible})
        return out


def _candidates(session: Session, groups: set[str]) -> list[Actor]:
    """Present (not absent) active users in any of `groups`, resolved once each."""
    if not groups:
        return []
    names = session.scalars(select(User.username).join(UserGroup, UserGroup.user_id == User.id)
                            .where(UserGroup.group_code.in_(groups), User.active.is_(True), User.is_absent.is_(False))
                            .distinct().order_by(User.username)).all()
    return [resolve_actor(session, name) for name in names]


def team_work(ow: OneWindow, username: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Open work in the departments a head or supervisor covers, by due time, with who holds it."""
    limit, offset = max(1, min(limit, 200)), max(0, min(offset, 100_000))
    now = ow.clock.now()
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group(*REASSIGNERS)
        rows = session.execute(
            select(WorkItem, Case.case_no, Case.applicant).join(Case, Case.id == WorkItem.case_id)
            .where(WorkItem.is_open.is_(True),
                   or_(WorkItem.department_id.in_(actor.departments_governed), WorkItem.department_id.is_(None)))
            .order_by(WorkItem.due_at.is_(None), WorkItem.due_at, WorkItem.id).limit(limit).offset(offset)).all()
        absent = set(session.scalars(select(User.username).where(User.is_absent.is_(True))))
        return [{"task_id": w.task_id, "name": w.name, "bpmn_id": w.bpmn_id, "case_no": case_no,
                 "applicant": (applicant or {}).get("name"), "assignee": w.assignee,
                 "holder_absent": w.assignee in absent, "due_at": w.due_at.isoformat() if w.due_at else None,
                 "overdue": bool(w.due_at and w.due_at < now), "card_level": w.card_level}
                for w, case_no, applicant in rows]
