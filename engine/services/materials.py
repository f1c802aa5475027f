"""The materials checklist of a case: one-time notice (一次性告知), supplements (补正), accept with deficiency (容缺受理).

Only materials on the item's published checklist may be asked for (行政许可法 art. 31); every name is checked
against it. A one-time notice lists everything missing or defective at once and sends the case back to the
applicant (CORRECTION_REQUESTED) until all of it arrives. Accepting with deficiency defers waivable materials
to a date; a `deficiency` deadline (rule deficiency-expired) terminates the case if they do not arrive.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.clock.deadlines import close_clock, open_clock
from engine.clock.ladder import end_of_day, local_day
from engine.clock.limits import Budget, case_limits
from engine.clock.settings import load_settings
from engine.clock.store import load_calendar
from engine.errors import Conflict, InvalidInput
from engine.history import append_event, case_state_hash
from engine.services.actors import resolve_actor
from engine.services.casefile import authorise_case
from engine.services.casework import CaseChange, find_case
from engine.services.intake import intake_case
from engine.services.proxy import acting_for_case
from engine.store.models import Case, CaseMaterial, Deadline, Notification, ProcessVersion, User
from engine.store.uow import reading, writing

OUTSTANDING = ("missing", "defective", "deferred")
WAITING_FOR = {"CORRECTION_REQUESTED": ("missing", "defective"), "ACCEPTED": ("deferred",),
               "IN_REVIEW": ("deferred",), "SUSPENDED": ("deferred",)}
DEFICIENCY_RULE = "deficiency-expired"
_OUTSTANDING_ROWS = select(CaseMaterial).where(CaseMaterial.case_id == bindparam("case_id"),
                                               CaseMaterial.status.in_(OUTSTANDING))
_OPEN_ROWS = select(Deadline).where(Deadline.case_id == bindparam("case_id"), Deadline.kind == bindparam("kind"),
                                    Deadline.is_open.is_(True))


def checklist(ow: OneWindow, case_no: str) -> list[dict[str, Any]]:
    """The item's materials checklist for a case, each with its state (received, missing, defective, deferred …)."""
    with reading(ow.db) as session:
        case = find_case(session, case_no)
        latest = {m.name: m for m in session.scalars(select(CaseMaterial).where(CaseMaterial.case_id == case.id)
                                                      .order_by(CaseMaterial.id))}
        return [{**material, "state": latest[material["name"]].status if material["name"] in latest else "received",
                 "due_on": _iso(latest[material["name"]].due_on) if material["name"] in latest else None}
                for material in _materials(session, case)]


def one_time_notice(ow: OneWindow, case_no: str, username: str, received: list[str],
                    defective: dict[str, str] | None = None) -> dict[str, Any]:
    """Tell the applicant at once everything missing or defective (art. 32); the case waits for the supplement."""
    defective = defective or {}
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("window")
        case = find_case(session, case_no)
        authorise_case(session, actor, case)
        if case.status != "RECEIVED":
            raise Conflict(f"case {case_no} is {case.status}: a one-time notice is given at intake only")
        materials = _materials(session, case)
        _refuse_unlisted(materials, [*received, *defective])
        empty = [name for name, why in defective.items() if not str(why).strip()]
        if empty:
            raise InvalidInput("say what is wrong with each defective material", fields={n: "reason required" for n in empty})
        notice = [{"name": m["name"], "problem": "missing"} for m in materials
                  if m["required"] and m["name"] not in received and m["name"] not in defective]
        notice += [{"name": name, "problem": "defective", "reason": str(why).strip()} for name, why in defective.items()]
        if not notice:
            raise InvalidInput("every required material is here and in order: accept the application instead")
        now = ow.clock.now()
        session.add_all(CaseMaterial(case_id=case.id, name=n["name"], status=n["problem"], reason=n.get("reason", ""),
                                     requested_by=username, requested_at=now) for n in notice)
        case.status = "CORRECTION_REQUESTED"
        reply = case_limits(_manifest(session, case)).correction_reply
        reply_due = None
        if reply is not None:
            # Without a reply by then the clock's sweeper withdraws the case (rule correction-expired).
            reply_due = open_clock(session, case, "correction", reply, local_day(now), now, load_calendar(session),
                                   load_settings(), rule="correction-expired", ladder="none").due_at
        reply_by = reply_due.isoformat() if reply_due else None
        names = "、".join(n["name"] + (f"（{n['reason']}）" if n.get("reason") else "") for n in notice)
        session.add(Notification(case_id=case.id, kind="one_time_notice", recipient=applicant_recipient(session, case),
                                 created_at=now, respond_by=reply_due,
                                 body={"zh": f"办件 {case.case_no} 一次性告知：请补正以下材料：{names}",
                                       "en": f"Case {case.case_no}: please supply or correct: "
                                             + ", ".join(n["name"] for n in notice),
                                       "materials": notice}))
        payload = {"phase": "intake", "missing": [n["name"] for n in notice], "notice": notice, "reply_by": reply_by,
                   "status": case.status}
        CaseChange(ow, session, case).record("correction_requested", username, payload, now)
        return {"case_no": case_no, "status": case.status, "notice": notice, "reply_by": reply_by}


def supplement(ow: OneWindow, case_no: str, username: str, materials: list[str]) -> dict[str, Any]:
    """Hand in outstanding materials (the applicant, a window clerk, or the mandated proxy agent for the applicant).

    When the last material of a one-time notice arrives the case returns to intake (RECEIVED); when the last
    deferred material arrives the deficiency deadline closes.
    """
    if not materials:
        raise InvalidInput("name the materials handed in", fields={"materials": "required"})
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = find_case(session, case_no)
        now = ow.clock.now()
        acting_for = acting_for_case(session, actor, case, local_day(now))
        # acting_for_case admits any window clerk; only one whose centre covers the case may hand in for it.
        authorise_case(session, actor, case)
        _refuse_unlisted(_materials(session, case), materials)
        # A case in correction waits for what its notice listed; an accepted one for what it deferred.
        wanted = WAITING_FOR.get(case.status, ())
        outstanding = {m.name: m for m in session.scalars(_OUTSTANDING_ROWS, {"case_id": case.id}) if m.status in wanted}
        if not outstanding:
            raise Conflict(f"case {case_no} is {case.status}: it is not waiting for any material")
        not_asked = [name for name in materials if name not in outstanding]
        if not_asked:
            raise InvalidInput(f"not asked for in case {case_no}: {', '.join(not_asked)}",
                               fields={name: "not outstanding" for name in not_asked})
        for name in materials:
            row = outstanding.pop(name)
            row.status, row.supplied_by, row.supplied_at = "supplied", username, now
        if not outstanding:
            kind = "correction" if case.status == "CORRECTION_REQUESTED" else "deficiency"
            for row in session.scalars(_OPEN_ROWS, {"case_id": case.id, "kind": kind}):
                close_clock(row, now)
            if case.status == "CORRECTION_REQUESTED":
                case.status = "RECEIVED"  # intake starts again; the record below re-opens the intake clock
        payload = {"materials": list(materials), "outstanding": sorted(outstanding), "status": case.status}
        CaseChange(ow, session, case).record("supplemented", username, payload, now, acting_for)
        return {"case_no": case_no, "status": case.status, "outstanding": sorted(outstanding)}


def accept_with_deficiency(ow: OneWindow, case_no: str, username: str, deferred: list[str], due_on: date,
                           opinion: str = "") -> dict[str, Any]:
    """Accept although waivable materials are missing (容缺受理), if they arrive by `due_on`; else the case ends."""
    if not deferred:
        raise InvalidInput("name the materials accepted with deficiency", fields={"deferred": "required"})
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = find_case(session, case_no)
        now = ow.clock.now()
        materials = _materials(session, case)
        _refuse_unlisted(materials, deferred)
        fixed = [m["name"] for m in materials if m["name"] in deferred and not m.get("waivable")]
        if fixed:
            raise InvalidInput(f"not waivable, so it cannot be deferred: {', '.join(fixed)}",
                               fields={name: "not waivable" for name in fixed})
        if due_on <= local_day(now):
            raise InvalidInput("the deferred materials need a date after today", fields={"due_on": "must be later"})
        status = intake_case(ow, session, actor, case, {"intake_decision": "accept", "intake_opinion": opinion})
        session.add_all(CaseMaterial(case_id=case.id, name=name, status="deferred", reason="容缺受理", due_on=due_on,
                                     requested_by=username, requested_at=now) for name in deferred)
        row = open_clock(session, case, "deficiency", Budget(0, "at"), local_day(now), now, load_calendar(session),
                         load_settings(), rule=DEFICIENCY_RULE, ladder="none", due_at=end_of_day(due_on))
        session.flush()
        append_event(session, case, "accepted_with_deficiency", username,
                     {"deferred": list(deferred), "due_on": due_on.isoformat(), "deadline_id": row.id, "status": status},
                     now, case_state_hash(case))
        return {"case_no": case_no, "status": status, "deferred": list(deferred), "due_on": due_on.isoformat()}


def expire_deficiency(ow: OneWindow, session: Session, case: Case, row: Deadline, now: datetime) -> dict[str, Any] | None:
    """Terminate a case whose deferred materials did not arrive by their date (called by the sweeper for a
    `deficiency` deadline, rule deficiency-expired); nothing happens if they all arrived or the case ended."""
    close_clock(row, now)
    late = [m.name for m in session.scalars(_OUTSTANDING_ROWS, {"case_id": case.id}) if m.status == "deferred"]
    if not late or "deferred" not in WAITING_FOR.get(case.status, ()):
        return None
    change = CaseChange(ow, session, case)
    with change.stepping(now):
        change.wf.cancel()
    case.status, case.result, case.concluded_at = "TERMINATED", "terminated", now
    payload = {"deadline_id": row.id, "rule": DEFICIENCY_RULE, "materials": late, "due_at": row.due_at.isoformat(),
               "status": case.status}
    change.record("terminated", "system", payload, now)
    return {"case_no": case.case_no, "event": "terminated", **payload}


def _manifest(session: Session, case: Case) -> dict[str, Any]:
    return session.scalar(select(ProcessVersion.manifest).where(ProcessVersion.id == case.process_version_id))


def _materials(session: Session, case: Case) -> list[dict[str, Any]]:
    return list(_manifest(session, case)["materials"])


def _refuse_unlisted(materials: list[dict[str, Any]], names: list[str]) -> None:
    listed = {m["name"] for m in materials}
    unlisted = [name for name in names if name not in listed]
    if unlisted:
        # Art. 31: the organ may not demand materials beyond its published checklist.
        raise InvalidInput(f"not on the item's materials checklist: {', '.join(unlisted)}",
                           fields={name: "not on the checklist" for name in unlisted})


def applicant_recipient(session: Session, case: Case) -> str:
    """Who receives the applicant's notices of a case."""
    # Notices go where the applicant reads them: their proxy agent when one handles the case, else their account.
    if case.proxy_agent_id is not None:
        return session.scalar(select(User.username).where(User.id == case.proxy_agent_id))
    if case.applicant_user_id is not None:
        return session.scalar(select(User.username).where(User.id == case.applicant_user_id))
    return f"applicant:{case.case_no}"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
