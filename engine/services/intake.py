"""Intake use cases: apply, accept, reject at intake, withdraw."""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.catalog import latest_version
from engine.clock.deadlines import sync_case_clocks
from engine.clock.ladder import local_day
from engine.clock.timers import arm_timers
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.history import append_event
from engine.runtime import dump_state, ready_user_tasks, start_workflow, state_hash
from engine.services.actors import Actor, resolve_actor
from engine.services.casefile import authorise_case
from engine.services.casework import CaseChange, find_case, project_work_items, spec_bundle, task_meta
from engine.services.proxy import mandated_applicant
from engine.services.workflow_steps import FINAL_STATUSES, complete_case_task
from engine.store.models import Case, Department
from engine.store.uow import writing

CHANNELS = {"online", "window", "proxy"}


def apply(ow: OneWindow, item_code: str, username: str, data: dict[str, Any],
          applicant: dict[str, Any] | None = None, on_behalf_of: str | None = None) -> dict[str, str]:
    """Submit an application for an item (a proxy agent names the applicant in `on_behalf_of`); returns the
    case number and lookup code."""
    with writing(ow.db) as session:
        case = open_case(ow, session, resolve_actor(session, username), item_code, data, applicant, on_behalf_of)
        return {"case_no": case.case_no, "lookup_code": case.lookup_code, "status": case.status}


def open_case(ow: OneWindow, session: Session, actor: Actor, item_code: str, data: dict[str, Any],
              applicant: dict[str, Any] | None = None, on_behalf_of: str | None = None) -> Case:
    """Create a RECEIVED case in the caller's transaction: channel from the actor, workflow started, event recorded."""
    now = ow.clock.now()
    proxy_agent_id = None
    if on_behalf_of is not None:
        principal = mandated_applicant(session, actor, on_behalf_of, item_code, local_day(now))
        channel, applicant_user_id, proxy_agent_id = "proxy", principal.id, actor.user_id
        # The name is the mandating applicant's account name, never one the agent types (applied last).
        applicant = {"kind": "person", **(applicant or {}), "name": principal.display_name}
    elif "applicant" in actor.groups:
        channel, applicant_user_id = "online", actor.user_id
        # Online, the applicant is the signed-in account: a name in the form cannot file under someone else's.
        applicant = {"kind": "person", **(applicant or {}), "name": actor.display_name}
    elif "window" in actor.groups:
        channel, applicant_user_id = "window", None
        if not applicant:
            raise InvalidInput("a window application needs the applicant's details", fields={"applicant": "required"})
    else:
        raise Forbidden(f"{actor.username} may not submit applications (needs the applicant or window group)")
    applicant = ow.forms.clean("applicant", applicant)
    version = latest_version(session, item_code)
    cleaned = ow.forms.clean(version.manifest["application_form"], data)
    # A joint item's departments drive its parallel review; they start with the case (and are in the event).
    start = {**cleaned, **({"departments": version.manifest["departments"]} if "departments" in version.manifest else {})}
    department_id = session.scalar(select(Department.id).where(Department.code == version.manifest["department"]))
    wf = start_workflow(spec_bundle(ow, session, version.id), {**start, "item_code": item_code})
    arm_timers(wf)
    state = dump_state(wf)
    case = Case(case_no=f"pending-{secrets.token_hex(8)}", lookup_code=f"{secrets.randbelow(10**6):06d}",
                item_code=item_code, process_version_id=version.id, department_id=department_id,
                applicant=applicant, applicant_user_id=applicant_user_id, proxy_agent_id=proxy_agent_id,
                first_contact_id=actor.user_id if channel == "window" else None,
                channel=channel, status="RECEIVED", form_data=cleaned, received_at=now, state_json=state,
                serializer_version=version.serializer_version)
    session.add(case)
    session.flush()
    # The number shows the day of receipt and a running id, the way centres print them on receipts.
    case.case_no = f"{now:%Y%m%d}{case.id:06d}"
    append_event(session, case, "applied", actor.username,
                 {"item_code": item_code, "version": version.version, "channel": channel,
                  "applicant": applicant, "data": start}, now, state_hash(state), on_behalf_of)
    project_work_items(session, case, wf, now, closed_by=None)
    sync_case_clocks(session, case, wf, now)
    return case


def intake_task(ow: OneWindow, session: Session, case: Case) -> tuple[str, CaseChange]:
    """The READY intake task (property phase=intake) of a case, or Conflict if the case is past intake."""
    change = CaseChange(ow, session, case)
    for task in ready_user_tasks(change.wf):
        if task_meta(task)["properties"].get("phase") == "intake":
            return str(task.id), change
    raise Conflict(f"case {case.case_no} is {case.status}: it is not waiting for intake")


def accept(ow: OneWindow, case_no: str, username: str, opinion: str = "") -> str:
    """Accept an application at the window (受理); returns the new status."""
    return _intake(ow, case_no, username, {"intake_decision": "accept", "intake_opinion": opinion})


def reject_at_intake(ow: OneWindow, case_no: str, username: str, reason: str) -> str:
    """Refuse an application at intake (不予受理) with the reason the applicant will read."""
    if not reason.strip():
        raise InvalidInput("a rejection at intake needs a reason", fields={"reject_reason": "required"})
    return _intake(ow, case_no, username, {"intake_decision": "reject", "reject_reason": reason})


def _intake(ow: OneWindow, case_no: str, username: str, data: dict[str, Any]) -> str:
    with writing(ow.db) as session:
        return intake_case(ow, session, resolve_actor(session, username), find_case(session, case_no), data)


def intake_case(ow: OneWindow, session: Session, actor: Actor, case: Case, data: dict[str, Any]) -> str:
    """Complete a RECEIVED case's intake task with `data` in the caller's transaction; returns the new status."""
    if case.status != "RECEIVED":
        raise Conflict(f"case {case.case_no} is {case.status}: only a RECEIVED case can be accepted or rejected")
    task_id, change = intake_task(ow, session, case)
    complete_case_task(ow, session, case, task_id, actor, data, change=change)
    return case.status


def withdraw(ow: OneWindow, case_no: str, username: str, reason: str = "") -> str:
    """Withdraw an application before it is decided (撤回): the applicant, or a window clerk for them."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = find_case(session, case_no)
        if case.applicant_user_id != actor.user_id and "window" not in actor.groups:
            raise Forbidden(f"{username} may not withdraw case {case_no}")
        authorise_case(session, actor, case)
        if case.status in FINAL_STATUSES:
            raise Conflict(f"case {case_no} is {case.status}: it can no longer be withdrawn")
        change = CaseChange(ow, session, case)
        change.wf.cancel()
        now = ow.clock.now()
        case.status, case.result, case.concluded_at = "WITHDRAWN", "withdrawn", now
        change.record("withdrawn", username, {"reason": reason}, now)
        return case.status
