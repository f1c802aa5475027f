"""Backup posts (AB岗) on the cases: marking a holder absent, or back, is recorded on each case whose work moves.

Recorded as case events rather than one organisation-level row: what an auditor must explain later is why a
backup acted on *this* case (its events then name the backup as actor and the holder as acting_for). With the
absence in the case's own hash-chained history, the as-of view and `audit verify` show and check it there, and
the holder's return closes it in the same place. A holder without held work moves nothing, so no case changes.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.history import append_event, case_state_hash
from engine.store.models import Case, User, WorkItem


def record_cover_change(session: Session, actor: str, holder: User, was_absent: bool, old_backup_id: int | None,
                        now: datetime) -> list[str]:
    """Append `holder_absent` or `holder_returned` to every case with open work `holder` holds; the case numbers."""
    if holder.is_absent and (not was_absent or holder.backup_user_id != old_backup_id):
        type_, backup_id = "holder_absent", holder.backup_user_id
    elif was_absent and not holder.is_absent:
        type_, backup_id = "holder_returned", old_backup_id
    else:
        return []
    backup = session.scalar(select(User.username).where(User.id == backup_id)) if backup_id else None
    held = session.execute(select(Case, WorkItem.task_id, WorkItem.bpmn_id).join(WorkItem, WorkItem.case_id == Case.id)
                           .where(WorkItem.assignee == holder.username, WorkItem.is_open.is_(True))
                           .order_by(Case.id, WorkItem.id)).all()
    tasks: dict[int, list[dict[str, str]]] = {}
    cases: dict[int, Case] = {}
    for case, task_id, bpmn_id in held:
        cases[case.id] = case
        tasks.setdefault(case.id, []).append({"task_id": task_id, "bpmn_id": bpmn_id})
    for case_id, case in cases.items():
        payload = {"holder": holder.username, "backup": backup, "tasks": tasks[case_id]}
        if type_ == "holder_absent" and was_absent:
            payload["previous_backup"] = session.scalar(select(User.username).where(User.id == old_backup_id))
        append_event(session, case, type_, actor, payload, now, case_state_hash(case))
    return [case.case_no for case in cases.values()]
