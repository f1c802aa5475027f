"""Intake use cases: apply, accept, reject at intake, withdraw."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.catalog import latest_version
from engine.clock.deadlines import sync_case_clocks
from engine.clock.ladder import local_day
from engine.clock.timers import arm_timers
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.history import append_event, case_state_hash
from engine.runtime import (
    CANONICAL_JSON,
    ENVIRONMENT_VERSION,
    dump_state,
    engine_environment,
    ready_user_tasks,
    start_workflow,
)
from engine.services.actors import Actor, resolve_actor
from engine.services.casefile import authorise_case
from engine.services.casework import (
    CaseChange,
    department_of,
    find_case,
    keep_live,
    project_work_items,
    spec_bundle,
    task_meta,
)
from engine.services.proxy import mandated_applicant
from engine.services.reasons import required_text
from engine.services.workflow_steps import FINAL_STATUSES, complete_case_task
from engine.store.models import Case, CaseEvent, Notification
from engine.store.uow import writing
from engine.store.writes import insert_row, write_through

CHANNELS = {"online", "window", "proxy"}
# A refusal at intake is a decision the applicant may challenge (行政许可法 art. 32: reasons given; art. 38 and
# 行政复议法 art. 20 / 行政诉讼法 art. 46: the notice tells the remedy and its time limits).
REFUSAL_BASIS = "《中华人民共和国行政许可法》第三十二条"
REFUSAL_REMEDY = {
    "zh": "申请人如对本决定不服，可以自收到本决定之日起六十日内依法申请行政复议，"
          "或者自收到本决定之日起六个月内依法向人民法院提起行政诉讼。",
    "en": "If you disagree with this decision, you may apply for administrative reconsideration within 60 days "
          "of receiving it, or bring an administrative lawsuit before the people's court within six months.",
}
REFUSAL_EVENT = "refusal_notice_issued"
# How new cases store their workflow state (engine.runtime); cases stored before keep the format they have.
NEW_CASES_STATE_FORMAT = CANONICAL_JSON


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
    department_id = department_of(session, version.manifest["department"])
    case = Case(case_no=f"pending-{secrets.token_hex(8)}", lookup_code=f"{secrets.randbelow(10**6):06d}",
                item_code=item_code, process_version_id=version.id, department_id=department_id,
                applicant=applicant, applicant_user_id=applicant_user_id, proxy_agent_id=proxy_agent_id,
                first_contact_id=actor.user_id if channel == "window" else None,
                channel=channel, status="RECEIVED", form_data=cleaned, received_at=now, state_json="",
                serializer_version=version.serializer_version, state_format=NEW_CASES_STATE_FORMAT)
    insert_row(session, case)
    # The number shows the day of receipt and a running id, the way centres print them on receipts.
    case.case_no = f"{now:%Y%m%d}{case.id:06d}"
    # The workflow starts once the case has its number: the application event's environment derives from it.
    with engine_environment(case.case_no, 1, now):
        bundle = spec_bundle(ow, session, version.id)
        wf = start_workflow(bundle, {**start, "item_code": item_code})
    arm_timers(wf)
    case.state_json = state = dump_state(wf, case.state_format)
    append_event(session, case, "applied", actor.username,
                 {"item_code": item_code, "version": version.version, "channel": channel, "applicant": applicant,
                  "data": start, "environment": ENVIRONMENT_VERSION, "state_format": case.state_format},
                 now, case_state_hash(case), on_behalf_of)
    write_through(session, case)
    # The case was inserted above: there are no work items or clocks of it to read back.
    project_work_items(session, case, wf, now, closed_by=None, new_case=True)
    sync_case_clocks(session, case, wf, now, new_case=True)
    keep_live(ow, session, case.id, bundle, state, wf)
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


def reject_at_intake(ow: OneWindow, case_no: str, username: str, reason: str, basis: str = "") -> str:
    """Refuse an application at intake (不予受理) with the reason and legal basis the applicant will read in the
    refusal notice, which also tells them how to challenge it."""
    return _intake(ow, case_no, username, {"intake_decision": "reject", "reject_reason": reason}, basis)


def _intake(ow: OneWindow, case_no: str, username: str, data: dict[str, Any], basis: str = "") -> str:
    with writing(ow.db) as session:
        return intake_case(ow, session, resolve_actor(session, username), find_case(session, case_no), data, basis)


def intake_case(ow: OneWindow, session: Session, actor: Actor, case: Case, data: dict[str, Any],
                basis: str = "") -> str:
    """Complete a RECEIVED case's intake task with `data` in the caller's transaction; returns the new status."""
    if case.status != "RECEIVED":
        raise Conflict(f"case {case.case_no} is {case.status}: only a RECEIVED case can be accepted or rejected")
    task_id, change = intake_task(ow, session, case)
    complete_case_task(ow, session, case, task_id, actor, data, change=change)
    after_intake(session, case, "RECEIVED", actor, data, basis)
    return case.status


def after_intake(session: Session, case: Case, before: str, actor: Actor, data: dict[str, Any], basis: str) -> None:
    """Issue the refusal notice when this change rejected the case at intake (reason required)."""
    # Checked after the engine step, which alone knows that the task rejected the case; raising rolls it all back.
    if before != "REJECTED_AT_INTAKE" and case.status == "REJECTED_AT_INTAKE":
        issue_refusal_notice(session, case, actor.username, data.get("reject_reason"), basis, case.concluded_at)


def issue_refusal_notice(session: Session, case: Case, username: str, reason: str | None, basis: str | None,
                         now: datetime) -> dict[str, str]:
    """Record the refusal notice (不予受理告知) of a case rejected at intake and send it to the applicant:
    the reason (required), the legal basis, and the remedy with its time limits."""
    # Imported here: materials imports this module to accept cases.
    from engine.services.materials import applicant_recipient

    notice = {"reason": required_text(reason, "reject_reason", high=2000),
              "basis": (basis or "").strip()[:500] or REFUSAL_BASIS,
              "remedy_zh": REFUSAL_REMEDY["zh"], "remedy_en": REFUSAL_REMEDY["en"]}
    session.add(Notification(case_id=case.id, kind="refusal_notice", recipient=applicant_recipient(session, case),
                             created_at=now, body={
                                 "zh": f"您的申请 {case.case_no} 不予受理。理由：{notice['reason']}。"
                                       f"依据：{notice['basis']}。{notice['remedy_zh']}",
                                 "en": f"Application {case.case_no} was not accepted. Reason: {notice['reason']}. "
                                       f"Basis: {notice['basis']}. {notice['remedy_en']}", **notice}))
    append_event(session, case, REFUSAL_EVENT, username, notice, now, case_state_hash(case))
    return notice


def refusal_notice(session: Session, case: Case) -> dict[str, str] | None:
    """The refusal notice a case rejected at intake carries (reason, basis, remedy), as it was issued."""
    if case.status != "REJECTED_AT_INTAKE":
        return None
    return session.scalar(select(CaseEvent.payload).where(CaseEvent.case_id == case.id, CaseEvent.type == REFUSAL_EVENT)
                          .order_by(CaseEvent.seq.desc()).limit(1))


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
        now = ow.clock.now()
        with change.stepping(now):
            change.wf.cancel()
        case.status, case.result, case.concluded_at = "WITHDRAWN", "withdrawn", now
        change.record("withdrawn", username, {"reason": reason}, now)
        return case.status
