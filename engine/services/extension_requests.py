"""Extension requests (延期申请): the clerk handling a case asks for more working days with a reason; the head of
the case's department approves (which grants the extension through `clock.extend`) or declines with a reason."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.clock.ladder import CASE_KINDS
from engine.clock.limits import case_limits
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.services import clock as clock_service
from engine.services.actors import Actor, resolve_actor
from engine.services.casefile import visible_case
from engine.services.casework import case_and_item
from engine.services.reasons import required_text
from engine.services.workflow_steps import FINAL_STATUSES, open_work_item
from engine.store.models import Case, Deadline, ProcessVersion, User, UserGroup
from engine.store.requests_models import ExtensionRequest
from engine.store.uow import reading, writing

PENDING, APPROVED, DECLINED = "pending", "approved", "declined"
OPEN = (PENDING,)
DECIDERS = "dept_head"


def request_extension(ow: OneWindow, task_id: str, username: str, days: int, reason: str) -> dict[str, Any]:
    """The clerk holding an open task of an accepted case asks the department head for `days` more working days."""
    reason = required_text(reason, "reason")
    if days < 1:
        raise InvalidInput("an extension adds at least 1 working day", fields={"days": "must be >= 1"})
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case, item = case_and_item(session, task_id)
        item = open_work_item(session, case, task_id, item)
        # The handling clerk is the task's holder (or the backup post standing in for them), nobody else.
        if not item.assignee or (item.assignee != username and item.assignee not in actor.covers_for):
            raise Forbidden(f"only the clerk handling task {task_id} may ask for an extension of case {case.case_no}",
                            code="not_task_holder")
        _require_extendable(case)
        room = extension_room(session, case)
        if days > room:
            raise InvalidInput(f"case {case.case_no} can be extended by at most {room} more working days",
                               fields={"days": f"at most {room}"}, code="extension_cap", params={"room": room})
        if _open_request(session, case) is not None:
            raise Conflict(f"case {case.case_no} already has an extension request waiting for a decision",
                           code="extension_request_open")
        now = ow.clock.now()
        acting_for = item.assignee if item.assignee != username else None
        row = ExtensionRequest(case_id=case.id, task_id=task_id, department_id=case.department_id, days=days,
                               reason=reason, status=PENDING, requested_by=username, acting_for=acting_for,
                               requested_at=now, decision_reason="")
        session.add(row)
        session.flush()
        clock_service.note_event(session, case, "extension_requested", username, now,
                                 {"request_id": row.id, "days": days, "reason": reason, "task_id": task_id,
                                  "bpmn_id": item.bpmn_id}, acting_for)
        clock_service.notify(session, case, None, "extension_request", _heads(session, case), now, {
            "zh": f"办件 {case.case_no} 申请延期 {days} 个工作日，待您审批。理由：{reason}",
            "en": f"Case {case.case_no}: an extension of {days} working days awaits your decision. Reason: {reason}",
            "request_id": row.id, "days": days, "reason": reason})
        return _view(row, case.case_no)


def approve(ow: OneWindow, request_id: int, username: str) -> dict[str, Any]:
    """The department head approves a pending request: the extension is granted (the applicant is told as with a
    direct grant) and the requesting clerk is told the decision, all in one transaction."""
    with writing(ow.db) as session:
        row, case = _locked(session, request_id)
        actor = resolve_actor(session, username)
        _require_decider(actor, row)
        if row.status != PENDING:
            raise Conflict(f"extension request {request_id} is {row.status}: it was decided already",
                           code="extension_request_decided")
        # A refusal here (the case closed, or the cap was reached meanwhile) rolls everything back: still pending.
        granted = clock_service.grant_extension(ow, session, actor, case, row.days, row.reason)
        now = ow.clock.now()
        row.status, row.decided_by, row.decided_at = APPROVED, username, now
        clock_service.note_event(session, case, "extension_request_approved", username, now,
                                 {"request_id": row.id, "days": row.days, "total_extended": granted["total_extended"]})
        _tell_requester(session, case, row, now)
        return _view(row, case.case_no)


def decline(ow: OneWindow, request_id: int, username: str, reason: str) -> dict[str, Any]:
    """The department head declines a pending request, with the reason the requesting clerk will read."""
    reason = required_text(reason, "reason")
    with writing(ow.db) as session:
        row, case = _locked(session, request_id)
        _require_decider(resolve_actor(session, username), row)
        if row.status != PENDING:
            raise Conflict(f"extension request {request_id} is {row.status}: it was decided already",
                           code="extension_request_decided")
        now = ow.clock.now()
        row.status, row.decided_by, row.decided_at, row.decision_reason = DECLINED, username, now, reason
        clock_service.note_event(session, case, "extension_request_declined", username, now,
                                 {"request_id": row.id, "reason": reason})
        _tell_requester(session, case, row, now)
        return _view(row, case.case_no)


def pending_for(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """The open requests a department head may decide (their departments' open cases), oldest first."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        if DECIDERS not in actor.groups or actor.department_id is None:
            return []
        rows = session.execute(
            select(ExtensionRequest, Case.case_no).join(Case, Case.id == ExtensionRequest.case_id)
            .where(ExtensionRequest.status.in_(OPEN), ExtensionRequest.department_id.in_(actor.departments_governed),
                   Case.status.not_in(FINAL_STATUSES))
            .order_by(ExtensionRequest.requested_at, ExtensionRequest.id)).all()
        return [_view(row, case_no) for row, case_no in rows]


def for_case(ow: OneWindow, case_no: str, username: str) -> dict[str, Any]:
    """A case's extension requests (newest first) and how many more working days it may still be extended by."""
    with reading(ow.db) as session:
        case = visible_case(session, resolve_actor(session, username), case_no)
        rows = session.scalars(select(ExtensionRequest).where(ExtensionRequest.case_id == case.id)
                               .order_by(ExtensionRequest.id.desc())).all()
        return {"requests": [_view(r, case.case_no) for r in rows], "room": extension_room(session, case),
                "open": any(r.status in OPEN for r in rows)}


def extension_room(session: Session, case: Case) -> int:
    """Working days the case may still be extended by: the item's cap less what its case clocks were given."""
    manifest = session.scalar(select(ProcessVersion.manifest).where(ProcessVersion.id == case.process_version_id))
    granted = session.scalar(select(func.max(Deadline.extended_days)).where(
        Deadline.case_id == case.id, Deadline.is_open.is_(True), Deadline.kind.in_(CASE_KINDS))) or 0
    return max(0, case_limits(manifest).extension_days - granted)


def _locked(session: Session, request_id: int) -> tuple[ExtensionRequest, Case]:
    row = session.get(ExtensionRequest, request_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"no extension request {request_id}")
    return row, session.get(Case, row.case_id)


def _require_decider(actor: Actor, row: ExtensionRequest) -> None:
    """Only a department head whose department covers the case's department decides (as `clock.extend` requires)."""
    actor.require_group(DECIDERS)
    if actor.department_id is None or not actor.covers_department(row.department_id):
        raise Forbidden(f"{actor.username} heads another department than the one that must decide "
                        f"extension request {row.id}")


def _require_extendable(case: Case) -> None:
    if case.status in FINAL_STATUSES or case.accepted_at is None:
        raise Conflict(f"case {case.case_no} is {case.status}: only an accepted, open case can be extended",
                       code="not_extendable")


def _open_request(session: Session, case: Case) -> ExtensionRequest | None:
    return session.scalar(select(ExtensionRequest).where(ExtensionRequest.case_id == case.id,
                                                         ExtensionRequest.status.in_(OPEN)))


def _heads(session: Session, case: Case) -> list[str]:
    return sorted(set(session.scalars(
        select(User.username).join(UserGroup, UserGroup.user_id == User.id)
        .where(UserGroup.group_code == DECIDERS, User.active.is_(True), User.department_id == case.department_id))))


def _tell_requester(session: Session, case: Case, row: ExtensionRequest, now: datetime) -> None:
    zh, en = ("已批准", "approved") if row.status == APPROVED else (f"未获批准。理由：{row.decision_reason}",
                                                                  f"declined. Reason: {row.decision_reason}")
    clock_service.notify(session, case, None, "extension_request_decided", [row.requested_by], now, {
        "zh": f"办件 {case.case_no} 的延期申请（{row.days} 个工作日）{zh}",
        "en": f"The extension request of case {case.case_no} ({row.days} working days) was {en}",
        "request_id": row.id, "status": row.status, "decision_reason": row.decision_reason})


def _view(row: ExtensionRequest, case_no: str) -> dict[str, Any]:
    return {"id": row.id, "case_no": case_no, "task_id": row.task_id, "days": row.days, "reason": row.reason,
            "status": row.status, "requested_by": row.requested_by, "acting_for": row.acting_for,
            "requested_at": row.requested_at.isoformat(), "decided_by": row.decided_by,
            "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            "decision_reason": row.decision_reason}
