"""Supervisors handle efficiency complaints (效能投诉): received → investigated → resolved → answered → archived.

Each stage is reached by a supervisor with a text, in order, and recorded on the complaint's case as a
`complaint_<stage>` event; the complaint row only mirrors the stage for the figures (audit verify checks it).
Reply deadlines and the overdue list are part of the supervision figures (engine.services.supervision).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.bootstrap import OneWindow
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.history import append_event, case_state_hash
from engine.services.actors import resolve_actor
from engine.services.audit import audit_reader, log_read
from engine.services.complaint_stages import STAGES, event_type, next_stage
from engine.services.reasons import required_text
from engine.services.supervision import complaint_rows
from engine.store.models import Case, Complaint
from engine.store.uow import reading, writing

HANDLERS = ("supervisor",)


def advance_complaint(ow: OneWindow, complaint_id: int, username: str, to: str, text: str) -> dict[str, Any]:
    """Move a complaint to its next stage with the supervisor's text; any other stage is refused."""
    to = (to or "").strip()
    if to not in STAGES[1:]:
        raise InvalidInput(f"a complaint moves to one of {', '.join(STAGES[1:])}, not '{to}'",
                           fields={"to": "unknown stage"})
    text = required_text(text, "text", high=2000)
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group(*HANDLERS)
        complaint = session.get(Complaint, complaint_id)
        if complaint is None:
            raise NotFound(f"no complaint {complaint_id}")
        case = session.get(Case, complaint.case_id)
        if not actor.covers_department(case.department_id):
            raise Forbidden(f"{username} supervises another department than the one handling case {case.case_no}")
        current = complaint.status
        expected = next_stage(current) if current in STAGES else None
        if expected is None:
            raise Conflict(f"complaint {complaint_id} is {current}: it has no further stage")
        if to != expected:
            raise Conflict(f"complaint {complaint_id} is {current}: its next stage is {expected}, not {to}")
        now = ow.clock.now()
        complaint.status = to
        # The payload says `to`, never `status`: a case event's `status` is read as the case's own status.
        append_event(session, case, event_type(to), username,
                     {"complaint_id": complaint_id, "from": current, "to": to, "text": text}, now,
                     case_state_hash(case))
        return {"complaint_id": complaint_id, "case_no": case.case_no, "from": current, "to": to,
                "at": now.isoformat()}


def complaint_queue(ow: OneWindow, username: str, include_archived: bool = False) -> list[dict[str, Any]]:
    """The complaints a supervisor works through (not yet archived unless asked), oldest first; the look is logged."""
    now = ow.clock.now()
    with reading(ow.db) as session:
        audit_reader(session, username)
        query = select(Complaint, Case).join(Case, Case.id == Complaint.case_id).order_by(Complaint.at, Complaint.id)
        if not include_archived:
            query = query.where(Complaint.status != STAGES[-1])
        rows = complaint_rows(session, list(session.execute(query).tuples()), now)
    log_read(ow, username, "complaints", None, rows=len(rows), archived=include_archived)
    return rows
