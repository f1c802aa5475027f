"""Administrative edits: an admin or the department's head corrects an applicant's contact details, with a reason.

Only how the centre reaches the applicant may change (phone, address, contact person). The applicant's name and
ID, and the application form the decision was based on, are never edited: a wrong one is a new application.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.bootstrap import OneWindow
from engine.errors import InvalidInput
from engine.history import append_event, case_state_hash
from engine.services.actors import resolve_actor
from engine.services.casefile import authorise_case
from engine.services.casework import find_case
from engine.services.reasons import required_text
from engine.store.models import CaseEvent
from engine.store.uow import writing

EDITABLE = ("phone", "address", "contact_name")
EDIT_EVENT = "administrative_edit"
EDITORS = ("admin", "dept_head")
CONTACT_NAME_MAX = 100


def edit_contact(ow: OneWindow, case_no: str, username: str, changes: Mapping[str, str | None],
                 reason: str) -> dict[str, Any]:
    """Change some of a case's contact details (an empty value removes one); the event keeps before and after."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"only the contact details ({', '.join(EDITABLE)}) may be edited, not {', '.join(unknown)}",
                           fields={name: "not editable" for name in unknown})
    reason = required_text(reason, "reason")
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group(*EDITORS)
        case = find_case(session, case_no)
        # A head edits the cases of the departments they head; other staff of the centre only see them.
        authorise_case(session, actor, case)
        current = dict(case.applicant)
        updated = _with_changes(current, changes)
        _check(ow, updated)
        changed = [name for name in EDITABLE if current.get(name) != updated.get(name)]
        if not changed:
            raise InvalidInput("nothing changes: the case already has these contact details",
                               fields={name: "unchanged" for name in changes})
        before = {name: current.get(name) for name in changed}
        after = {name: updated.get(name) for name in changed}
        case.applicant = updated
        append_event(session, case, EDIT_EVENT, username, {"before": before, "after": after, "reason": reason},
                     ow.clock.now(), case_state_hash(case))
        return {"case_no": case_no, "before": before, "after": after}


def _with_changes(applicant: dict[str, Any], changes: Mapping[str, str | None]) -> dict[str, Any]:
    updated = dict(applicant)
    for name, value in changes.items():
        value = (value or "").strip()
        if value:
            updated[name] = value
        else:
            updated.pop(name, None)
    return updated


def _check(ow: OneWindow, applicant: dict[str, Any]) -> None:
    """Phone and address by the applicant form's own rules; the contact person by length (the form has none)."""
    declared = ow.forms.schema("applicant").get("properties", {})
    ow.forms.clean("applicant", {k: v for k, v in applicant.items() if k in declared})
    if len(applicant.get("contact_name", "")) > CONTACT_NAME_MAX:
        raise InvalidInput(f"the contact person's name is at most {CONTACT_NAME_MAX} characters",
                           fields={"contact_name": f"at most {CONTACT_NAME_MAX} characters"})


def applicant_from_history(events: Iterable[CaseEvent]) -> dict[str, Any] | None:
    """The applicant details the history gives a case: the application's, with every administrative edit applied."""
    applicant = None
    for e in events:
        payload = e.payload or {}
        if e.type == "applied" and "applicant" in payload:
            applicant = dict(payload["applicant"])
        elif e.type == EDIT_EVENT and applicant is not None:
            applicant = _with_changes(applicant, payload.get("after") or {})
    return applicant
