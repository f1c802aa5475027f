"""The case file as a clerk sees it: who may see a case, the file itself, a task with its form, the diagram."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.bpmn.render import render_svg
from engine.bpmn.xml import parse_xml
from engine.errors import Forbidden, NotFound
from engine.services.actors import Actor, resolve_actor
from engine.services.casework import case_and_item
from engine.services.workflow_steps import authorise_work
from engine.store.models import (
    Case,
    Complaint,
    Department,
    Opinion,
    ProcessVersion,
    Rating,
    Upload,
    WorkItem,
)
from engine.store.uow import reading

# Groups that only ever act as the public side of a case: they see their own cases, never a department's.
PUBLIC_GROUPS = {"applicant", "proxy_agent"}


def may_view_case(actor: Actor, case: Case) -> bool:
    """The applicant, the case's proxy agent, or staff whose department covers the case's department."""
    if case.applicant_user_id == actor.user_id or case.proxy_agent_id == actor.user_id:
        return True
    return bool(actor.groups - PUBLIC_GROUPS) and actor.covers_department(case.department_id)


def authorise_case(session: Session, actor: Actor, case: Case) -> None:
    """Refuse (Forbidden) an action on a case unless the actor is its applicant or proxy agent, or staff whose
    department covers the case's department."""
    if may_view_case(actor, case):
        return
    # may_view_case admits every actor when the case has no department, so here it always has one.
    department = session.get(Department, case.department_id)
    raise Forbidden(f"{actor.username} may not act on case {case.case_no}: it belongs to {department.name} "
                    f"({department.code}), which {actor.username}'s department does not cover")


def visible_case(session: Session, actor: Actor, case_no: str) -> Case:
    """Load a case the actor may see; any other case is reported as not found (its existence is not revealed)."""
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    if case is None:
        raise NotFound(f"no case {case_no}")
    if not _may_see(session, actor, case):
        raise NotFound(f"no case {case_no}")
    return case


def _may_see(session: Session, actor: Actor, case: Case) -> bool:
    """may_view_case, or the actor may work an open task of the case."""
    return may_view_case(actor, case) or _may_work(session, actor, case)


def _may_work(session: Session, actor: Actor, case: Case) -> bool:
    """True when authorise_work lets the actor work an open task of the case: one they (or an absent holder they
    back up) hold, or an unclaimed one in their groups and department, e.g. a co-department's joint review."""
    for item in session.scalars(select(WorkItem).where(WorkItem.case_id == case.id, WorkItem.is_open.is_(True))):
        try:
            authorise_work(actor, item)
        except Forbidden:
            continue
        return True
    return False


def require_visible(ow: OneWindow, case_no: str, username: str) -> None:
    """Refuse (NotFound) unless the user may see the case: the guard before actions owned by other areas."""
    with reading(ow.db) as session:
        visible_case(session, resolve_actor(session, username), case_no)


def case_file(ow: OneWindow, case_no: str, username: str) -> dict[str, Any]:
    """Everything about a case the actor may see: status, applicant, materials, opinions, clocks, diagram."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        case = visible_case(session, actor, case_no)
        version = session.get(ProcessVersion, case.process_version_id)
        department = session.get(Department, case.department_id) if case.department_id else None
        opinions = session.scalars(select(Opinion).where(Opinion.case_id == case.id).order_by(Opinion.at, Opinion.id))
        uploads = session.scalars(select(Upload).where(Upload.case_id == case.id).order_by(Upload.id))
        rating = session.scalar(select(Rating).where(Rating.case_id == case.id))
        complaints = session.scalars(select(Complaint).where(Complaint.case_id == case.id).order_by(Complaint.id))
        extra = {
            "item_name": version.manifest["name"], "item_name_en": version.manifest["name_en"],
            "version": version.version, "materials_required": version.manifest.get("materials", []),
            "application_form": version.manifest["application_form"],
            "department": department.code if department else None,
            "department_name": department.name if department else None,
            "opinions": [{"bpmn_id": o.bpmn_id, "handler": o.handler, "decision": o.decision, "text": o.text,
                          "at": o.at.isoformat()} for o in opinions],
            "uploads": [{"id": u.id, "material": u.material, "filename": u.filename, "size": u.size,
                         "content_type": u.content_type, "at": u.at.isoformat()} for u in uploads],
            "rating": {"level": rating.level, "comment": rating.comment} if rating else None,
            "complaints": [{"text": c.text, "status": c.status, "at": c.at.isoformat()} for c in complaints],
        }
    # The detail (with its clocks) comes from the shared read model, so what other areas add shows up here too.
    # Imported here: the read model imports the clock use cases, which check departments with authorise_case.
    from engine.services.queries import case_detail

    return {**extra, **case_detail(ow, case_no)}


def case_diagram(ow: OneWindow, case_no: str, username: str) -> str:
    """The case's process diagram as SVG with finished steps, the current position and overdue steps marked."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        case = visible_case(session, actor, case_no)
        xml = session.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == case.process_version_id))
        source = f"{case.item_code}.bpmn"
        items = session.scalars(select(WorkItem).where(WorkItem.case_id == case.id).order_by(WorkItem.id)).all()
        now = ow.clock.now()
        highlights: dict[str, str] = {}
        for w in items:
            if w.is_open:
                highlights[w.bpmn_id] = "overdue" if w.due_at and w.due_at < now else "active"
            else:
                highlights.setdefault(w.bpmn_id, "completed")
    return render_svg(parse_xml(xml.encode("utf-8"), source), highlights)


def task_detail(ow: OneWindow, task_id: str, username: str) -> dict[str, Any]:
    """A task the actor may work on: its item, form schema and case number (Forbidden for other departments)."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        try:
            case, item = case_and_item(session, task_id)
        except NotFound:
            raise NotFound(f"no task {task_id}") from None
        if not item.is_open:
            if not _may_see(session, actor, case):
                raise NotFound(f"no task {task_id}")
        else:
            authorise_work(actor, item)
        return {"task_id": item.task_id, "name": item.name, "bpmn_id": item.bpmn_id, "case_no": case.case_no,
                "form_key": item.form_key, "schema": ow.forms.schema(item.form_key) if item.form_key else None,
                "assignee": item.assignee, "is_open": item.is_open,
                "held_by_me": item.assignee == username,
                "acting_for": item.assignee if item.assignee in actor.covers_for else None,
                "due_at": item.due_at.isoformat() if item.due_at else None, "card_level": item.card_level}

