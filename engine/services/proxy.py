"""Proxy handling (代办): an applicant's mandate to a village or town proxy agent, and the agent acting under it."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.catalog import latest_version
from engine.clock.ladder import local_day
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.history import append_event
from engine.runtime import state_hash
from engine.services.actors import Actor, resolve_actor
from engine.services.casework import find_case
from engine.store.models import Case, Department, ProxyMandate, User
from engine.store.uow import reading, writing

# Proxy points sit at the bottom of the organisation: village points and town convenience centres.
AGENT_LEVELS = frozenset({"village", "town"})
CONSENT_METHODS = frozenset({"signed_form", "in_person", "online"})


def grant_mandate(ow: OneWindow, username: str, applicant: str, agent: str, item_code: str, valid_from: date,
                  valid_until: date, consent: dict[str, Any]) -> dict[str, Any]:
    """Record an applicant's mandate for a proxy agent on one item, with how the applicant consented."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        principal, proxy = resolve_actor(session, applicant), resolve_actor(session, agent)
        if username not in (applicant, agent) and "window" not in actor.groups:
            raise Forbidden(f"{username} may not record a mandate between {applicant} and {agent}")
        if "applicant" not in principal.groups:
            raise InvalidInput(f"{applicant} is not an applicant", fields={"applicant": "not an applicant"})
        level = session.scalar(select(Department.level).where(Department.id == proxy.department_id))
        if "proxy_agent" not in proxy.groups or level not in AGENT_LEVELS:
            raise InvalidInput(f"{agent} is not a proxy agent at a village or town point",
                               fields={"agent": "not a proxy agent"})
        latest_version(session, item_code)
        today = local_day(ow.clock.now())
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
        mandate = ProxyMandate(applicant_user_id=principal.user_id, agent_user_id=proxy.user_id, item_code=item_code,
                               valid_from=valid_from, valid_until=valid_until,
                               consent={"method": consent["method"], "reference": str(consent["reference"]).strip()},
                               granted_by=username, granted_at=ow.clock.now())
        session.add(mandate)
        session.flush()
        return _view(mandate, applicant, agent)


def revoke_mandate(ow: OneWindow, username: str, mandate_id: int) -> dict[str, Any]:
    """End a mandate early: by its applicant, its agent or a window clerk."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        mandate = session.get(ProxyMandate, mandate_id)
        if mandate is None:
            raise NotFound(f"no mandate {mandate_id}")
        if actor.user_id not in (mandate.applicant_user_id, mandate.agent_user_id) and "window" not in actor.groups:
            raise Forbidden(f"{username} may not revoke mandate {mandate_id}")
        if mandate.revoked_at is not None:
            raise Conflict(f"mandate {mandate_id} was already revoked")
        mandate.revoked_at, mandate.revoked_by = ow.clock.now(), username
        return _view(mandate, *_usernames(session, mandate))


def list_mandates(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """The mandates a user gave (as applicant) or holds (as agent), newest first."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        rows = session.scalars(select(ProxyMandate).where(or_(ProxyMandate.applicant_user_id == actor.user_id,
                                                               ProxyMandate.agent_user_id == actor.user_id))
                               .order_by(ProxyMandate.id.desc())).all()
        return [_view(m, *_usernames(session, m)) for m in rows]


def mandated_applicant(session: Session, agent: Actor, applicant: str, item_code: str, today: date) -> User:
    """The applicant a proxy agent acts for, refused unless an unrevoked mandate covers this item today."""
    if "proxy_agent" not in agent.groups:
        raise Forbidden(f"{agent.username} is not a proxy agent and may not act for {applicant}")
    principal = session.scalar(select(User).where(User.username == applicant, User.active.is_(True)))
    if principal is None:
        raise NotFound(f"no active user '{applicant}'")
    mandates = session.scalars(select(ProxyMandate).where(ProxyMandate.agent_user_id == agent.user_id,
                                                          ProxyMandate.applicant_user_id == principal.id,
                                                          ProxyMandate.revoked_at.is_(None))).all()
    if not mandates:
        raise Forbidden(f"{applicant} has given {agent.username} no mandate")
    for_item = [m for m in mandates if m.item_code == item_code]
    if not for_item:
        raise Forbidden(f"the mandate from {applicant} to {agent.username} does not cover item '{item_code}'")
    if not any(m.valid_from <= today <= m.valid_until for m in for_item):
        ends = max(m.valid_until for m in for_item)
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
                     now, state_hash(case.state_json), acting_for)
        return case.status


def _usernames(session: Session, mandate: ProxyMandate) -> tuple[str, str]:
    names = dict(session.execute(select(User.id, User.username).where(
        User.id.in_([mandate.applicant_user_id, mandate.agent_user_id]))).all())
    return names[mandate.applicant_user_id], names[mandate.agent_user_id]


def _view(m: ProxyMandate, applicant: str, agent: str) -> dict[str, Any]:
    return {"id": m.id, "applicant": applicant, "agent": agent, "item_code": m.item_code,
            "valid_from": m.valid_from.isoformat(), "valid_until": m.valid_until.isoformat(), "consent": m.consent,
            "granted_by": m.granted_by, "revoked": m.revoked_at is not None}
