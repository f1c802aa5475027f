"""Proxy handling (代办): an applicant's mandate to a village or town proxy agent, and the agent acting under it."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.catalog import latest_version
from engine.clock.ladder import local_day
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.history import append_event, case_state_hash
from engine.services.actors import Actor, resolve_actor
from engine.services.casework import find_case
from engine.store.models import Case, Department, ProxyMandate, ProxyMandateEvent, User
from engine.store.uow import reading, writing

# Proxy points sit at the bottom of the organisation: village points and town convenience centres.
AGENT_LEVELS = frozenset({"village", "town"})
CONSENT_METHODS = frozenset({"signed_form", "in_person", "online"})


def grant_mandate(ow: OneWindow, username: str, applicant: str, agent: str, item_code: str, valid_from: date,
                  valid_until: date, consent: dict[str, Any]) -> dict[str, Any]:
    """Record an applicant's mandate for a proxy agent on one item, with how the applicant consented.

    Recorded by the agent it stays pending until the applicant or a window clerk confirms it; recorded by the
    applicant or a window clerk over the agent's point it is confirmed at once.
    """
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        principal, proxy = resolve_actor(session, applicant), resolve_actor(session, agent)
        _check_parties(session, actor, principal, proxy)
        # The agent's own record proves nothing about consent; anyone else must be entitled to confirm it.
        via = None if actor.user_id == proxy.user_id else _confirmed_via(actor, principal.user_id, proxy.user_id,
                                                                          proxy.department_id)
        latest_version(session, item_code)
        now = ow.clock.now()
        _check_terms(valid_from, valid_until, consent, local_day(now))
        mandate = ProxyMandate(applicant_user_id=principal.user_id, agent_user_id=proxy.user_id, item_code=item_code,
                               valid_from=valid_from, valid_until=valid_until,
                               consent={"method": consent["method"], "reference": str(consent["reference"]).strip()},
                               granted_by=username, granted_at=now, status="pending")
        session.add(mandate)
        session.flush()
        _record(session, mandate, "granted", username, now,
                {"item_code": item_code, "valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat(),
                 "consent": mandate.consent})
        if via is not None:
            _confirm(session, mandate, username, now, {"via": via, "at_grant": True})
        return _views(session, [mandate])[0]


def confirm_mandate(ow: OneWindow, username: str, mandate_id: int, note: str = "") -> dict[str, Any]:
    """Confirm a pending mandate's consent: its applicant online, or a window clerk who verified the signed form."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        mandate = _mandate(session, mandate_id)
        agent_department = _department_of(session, mandate.agent_user_id)
        via = _confirmed_via(actor, mandate.applicant_user_id, mandate.agent_user_id, agent_department)
        _require_pending(mandate)
        now = ow.clock.now()
        if mandate.valid_until < local_day(now):
            raise Conflict(f"mandate {mandate_id} ended on {mandate.valid_until.isoformat()}: record a new one")
        detail = {"via": via, **({"note": note.strip()} if note.strip() else {})}
        _confirm(session, mandate, username, now, detail)
        return _views(session, [mandate])[0]


def decline_mandate(ow: OneWindow, username: str, mandate_id: int, reason: str = "") -> dict[str, Any]:
    """The applicant refuses a pending mandate recorded in their name: it never lets the agent act."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        mandate = _mandate(session, mandate_id)
        if actor.user_id != mandate.applicant_user_id:
            raise Forbidden(f"only the applicant of mandate {mandate_id} may decline it")
        _require_pending(mandate)
        mandate.status = "declined"
        _record(session, mandate, "declined", username, ow.clock.now(),
                {"reason": reason.strip()} if reason.strip() else {})
        return _views(session, [mandate])[0]


def revoke_mandate(ow: OneWindow, username: str, mandate_id: int) -> dict[str, Any]:
    """End a pending or confirmed mandate early: by its applicant, its agent or a window clerk."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        mandate = _mandate(session, mandate_id)
        if actor.user_id not in (mandate.applicant_user_id, mandate.agent_user_id) and not (
                "window" in actor.groups and actor.covers_department(_department_of(session, mandate.agent_user_id))):
            raise Forbidden(f"{username} may not revoke mandate {mandate_id}: only its applicant, its agent or a "
                            "window clerk whose centre covers the agent's point")
        if mandate.status not in ("pending", "confirmed"):
            raise Conflict(f"mandate {mandate_id} was already {mandate.status}")
        now = ow.clock.now()
        previous, mandate.status = mandate.status, "revoked"
        mandate.revoked_at, mandate.revoked_by = now, username
        _record(session, mandate, "revoked", username, now, {"was": previous})
        return _views(session, [mandate])[0]


def list_mandates(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """The mandates a user gave (as applicant) or holds (as agent), or for a window clerk those at the points their
    centre covers; newest first, each with its trail."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        mine = or_(ProxyMandate.applicant_user_id == actor.user_id, ProxyMandate.agent_user_id == actor.user_id)
        if "window" in actor.groups:
            at_points = select(User.id).where(User.department_id.in_(actor.departments_governed))
            mine = or_(mine, ProxyMandate.agent_user_id.in_(at_points))
        rows = session.scalars(select(ProxyMandate).where(mine).order_by(ProxyMandate.id.desc())).all()
        return _views(session, rows)


def mandated_applicant(session: Session, agent: Actor, applicant: str, item_code: str, today: date) -> User:
    """The applicant a proxy agent acts for, refused unless a confirmed, unrevoked mandate covers this item today."""
    if "proxy_agent" not in agent.groups:
        raise Forbidden(f"{agent.username} is not a proxy agent and may not act for {applicant}")
    principal = session.scalar(select(User).where(User.username == applicant, User.active.is_(True)))
    if principal is None:
        raise NotFound(f"no active user '{applicant}'")
    mandates = session.scalars(select(ProxyMandate).where(ProxyMandate.agent_user_id == agent.user_id,
                                                          ProxyMandate.applicant_user_id == principal.id,
                                                          ProxyMandate.status.in_(("pending", "confirmed")))).all()
    if not mandates:
        raise Forbidden(f"{applicant} has given {agent.username} no mandate")
    for_item = [m for m in mandates if m.item_code == item_code]
    if not for_item:
        raise Forbidden(f"the mandate from {applicant} to {agent.username} does not cover item '{item_code}'")
    confirmed = [m for m in for_item if m.status == "confirmed"]
    if not confirmed:
        raise Forbidden(f"the mandate from {applicant} to {agent.username} for '{item_code}' is not confirmed yet: "
                        f"{applicant} confirms it, or a window clerk verifies the signed form")
    if not any(m.valid_from <= today <= m.valid_until for m in confirmed):
        ends = max(m.valid_until for m in confirmed)
        raise Forbidden(f"the mandate from {applicant} to {agent.username} for '{item_code}' is not valid on "
                        f"{today.isoformat()} (valid until {ends.isoformat()})")
    return principal


def acting_for_case(session: Session, actor: Actor, case: Case, today: date) -> str | None:
    """Whom an actor acts for on a case: nobody for its applicant or a window clerk, the applicant for its mandated
    proxy agent; anyone else is refused."""
    if case.applicant_user_id is not None and case.applicant_user_id == actor.user_id:
        return None
    if "proxy_agent" in actor.groups:
        if case.proxy_agent_id != actor.user_id or case.applicant_user_id is None:
            raise Forbidden(f"{actor.username} is not the proxy agent of case {case.case_no}")
        applicant = session.scalar(select(User.username).where(User.id == case.applicant_user_id))
        mandated_applicant(session, actor, applicant, case.item_code, today)
        return applicant
    if "window" in actor.groups:
        return None
    raise Forbidden(f"{actor.username} may not act on case {case.case_no}")


def proxy_cases(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """The cases a proxy agent handles, to track them for the applicants."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("proxy_agent")
        rows = session.scalars(select(Case).where(Case.proxy_agent_id == actor.user_id).order_by(Case.id)).all()
        return [{"case_no": c.case_no, "item_code": c.item_code, "applicant": c.applicant.get("name"),
                 "status": c.status, "result": c.result, "received_at": c.received_at.isoformat()} for c in rows]


def receive_result(ow: OneWindow, case_no: str, username: str) -> str:
    """The proxy agent takes delivery of a decided case's result for the applicant (送达 via the proxy point)."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = find_case(session, case_no)
        now = ow.clock.now()
        acting_for = acting_for_case(session, actor, case, local_day(now))
        if acting_for is None:
            raise Forbidden(f"{username} is not the proxy agent of case {case_no}")
        if case.status != "DECIDED":
            raise Conflict(f"case {case_no} is {case.status}: only a decided case has a result to receive")
        case.status = "DELIVERED"
        append_event(session, case, "delivered", username,
                     {"method": "proxy_point", "received_by": username, "result": case.result, "status": case.status},
                     now, case_state_hash(case), acting_for)
        return case.status


def _check_parties(session: Session, actor: Actor, principal: Actor, proxy: Actor) -> None:
    """Refuse a mandate recorded by a third party other than a window clerk, or between the wrong kinds of user."""
    if actor.user_id not in (principal.user_id, proxy.user_id) and "window" not in actor.groups:
        raise Forbidden(f"{actor.username} may not record a mandate between {principal.username} and {proxy.username}")
    if "applicant" not in principal.groups:
        raise InvalidInput(f"{principal.username} is not an applicant", fields={"applicant": "not an applicant"})
    level = session.scalar(select(Department.level).where(Department.id == proxy.department_id))
    if "proxy_agent" not in proxy.groups or level not in AGENT_LEVELS:
        raise InvalidInput(f"{proxy.username} is not a proxy agent at a village or town point",
                           fields={"agent": "not a proxy agent"})


def _check_terms(valid_from: date, valid_until: date, consent: dict[str, Any], today: date) -> None:
    """Refuse (InvalidInput, every problem at once) a validity period or a consent record that does not hold."""
    fields = {}
    if valid_until < valid_from:
        fields["valid_until"] = "ends before it starts"
    elif valid_until < today:
        fields["valid_until"] = "already over"
    if consent.get("method") not in CONSENT_METHODS:
        fields["consent.method"] = f"one of {', '.join(sorted(CONSENT_METHODS))}"
    if not str(consent.get("reference", "")).strip():
        fields["consent.reference"] = "required: the signed form's number or the record of consent"
    if fields:
        raise InvalidInput("the mandate is not valid: " + "; ".join(f"{k}: {v}" for k, v in fields.items()),
                           fields=fields)


def _confirmed_via(actor: Actor, applicant_id: int, agent_id: int, agent_department_id: int | None) -> str:
    """How the actor can vouch for a mandate's consent: as its applicant, or as a window clerk over the agent's
    point (who checks the signed form); the agent never can."""
    if actor.user_id == agent_id:
        raise Forbidden(f"{actor.username} cannot confirm their own mandate: its applicant or a window clerk must")
    if actor.user_id == applicant_id:
        return "applicant"
    if "window" in actor.groups and actor.covers_department(agent_department_id):
        return "window"
    raise Forbidden(f"{actor.username} may not confirm this mandate: only its applicant or a window clerk whose "
                    "centre covers the agent's point")


def _department_of(session: Session, user_id: int) -> int | None:
    return session.scalar(select(User.department_id).where(User.id == user_id))


def _mandate(session: Session, mandate_id: int) -> ProxyMandate:
    """The mandate about to change, locked so a racing confirm and decline cannot both succeed."""
    mandate = session.get(ProxyMandate, mandate_id, with_for_update=True)
    if mandate is None:
        raise NotFound(f"no mandate {mandate_id}")
    return mandate


def _require_pending(mandate: ProxyMandate) -> None:
    if mandate.status != "pending":
        raise Conflict(f"mandate {mandate.id} is {mandate.status}, not pending")


def _confirm(session: Session, mandate: ProxyMandate, username: str, now: datetime, detail: dict[str, Any]) -> None:
    mandate.status, mandate.confirmed_at, mandate.confirmed_by = "confirmed", now, username
    _record(session, mandate, "confirmed", username, now, detail)


def _record(session: Session, mandate: ProxyMandate, action: str, actor: str, now: datetime,
            detail: dict[str, Any]) -> None:
    """Append one row to the mandate's trail, in the transaction of the change it records."""
    session.add(ProxyMandateEvent(mandate_id=mandate.id, action=action, actor=actor, at=now, detail=detail))


def _views(session: Session, mandates: Sequence[ProxyMandate]) -> list[dict[str, Any]]:
    """Mandates as shown to people and scripts, each with its trail oldest first (two queries for any number)."""
    if not mandates:
        return []
    user_ids = {m.applicant_user_id for m in mandates} | {m.agent_user_id for m in mandates}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())
    trails: dict[int, list[dict[str, Any]]] = {m.id: [] for m in mandates}
    for e in session.scalars(select(ProxyMandateEvent).where(ProxyMandateEvent.mandate_id.in_(list(trails)))
                             .order_by(ProxyMandateEvent.id)):
        trails[e.mandate_id].append({"action": e.action, "actor": e.actor, "at": e.at.isoformat(), "detail": e.detail})
    return [{"id": m.id, "applicant": names[m.applicant_user_id], "agent": names[m.agent_user_id],
             "item_code": m.item_code, "valid_from": m.valid_from.isoformat(), "valid_until": m.valid_until.isoformat(),
             "consent": m.consent, "status": m.status, "granted_by": m.granted_by,
             "granted_at": m.granted_at.isoformat(), "confirmed_by": m.confirmed_by,
             "confirmed_at": m.confirmed_at.isoformat() if m.confirmed_at else None,
             "revoked": m.status == "revoked", "events": trails[m.id]} for m in mandates]
