"""Read-side use cases: the catalogue, inboxes, a case with its tasks and history."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, Text, bindparam, cast, false, or_, select

from engine.bootstrap import OneWindow
from engine.clock.calendar import SHANGHAI, WorkingCalendar
from engine.clock.store import load_calendar
from engine.errors import InvalidInput
from engine.services.actors import resolve_actor
from engine.services.casework import find_case
from engine.services.clock import case_clocks
from engine.store.models import Case, CaseEvent, ProcessVersion, WorkItem, WorkItemGroup
from engine.store.prepared import Prepared
from engine.store.uow import reading


def list_items(ow: OneWindow) -> list[dict[str, Any]]:
    """Every item in the catalogue with its newest version and limits."""
    with reading(ow.db) as session:
        rows = session.scalars(select(ProcessVersion).order_by(ProcessVersion.item_code, ProcessVersion.version))
        newest: dict[str, ProcessVersion] = {}
        for row in rows:
            newest[row.item_code] = row
        return [{"code": v.item_code, "version": v.version, "name": v.manifest["name"],
                 "name_en": v.manifest["name_en"], "department": v.manifest["department"],
                 "case_type": v.manifest["case_type"], "statutory_limit": v.manifest["statutory_limit"],
                 "promised_limit": v.manifest["promised_limit"]} for v in newest.values()]


def inbox(ow: OneWindow, username: str, scope: str = "all", limit: int = 50, offset: int = 0,
          filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A clerk's open work: `mine` (held, incl. absent holders' whose backup they are), `groups` or `all`."""
    if scope not in ("mine", "groups", "all"):
        raise InvalidInput(f"inbox scope must be mine, groups or all, not '{scope}'")
    limit = max(1, min(limit, 200))
    # Nobody pages past the first hundred thousand rows; the bound also keeps the number within SQL integers.
    offset = max(0, min(offset, 100_000))
    now = ow.clock.now()
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        holders = [username, *actor.covers_for]
        departments = [0, *actor.departments_governed]
        # Plain rows of the columns shown: loading whole cases (their workflow state included) for a list of titles
        # was most of an inbox read.
        if filters:
            # Built per request, so SQLAlchemy's cache of compiled statements serves it, not a prepared one.
            ids = _filtered_inbox(actor, scope, holders, departments, _inbox_filters(filters), now)
            found = list(session.connection().execute(_INBOX_ROWS.where(_WI.c.id.in_(ids.limit(limit + offset)))))
        else:
            found = []
            if scope in ("mine", "all"):
                found += _MINE.rows(session, {"holders": holders, "n": limit + offset})
            if scope in ("groups", "all") and actor.groups:
                found += _GROUPS.rows(session, {"groups": list(actor.groups), "departments": departments,
                                                "n": limit + offset})
        unique = {w.id: w for w in found}.values()
        ordered = sorted(unique, key=lambda w: (w.due_at is None, w.due_at or w.created_at, w.id))[offset:offset + limit]
        cal = load_calendar(session) if any(w.due_at for w in ordered) else None
        return [{**_work_item_view(w, w.case_no, w.item_code, w.applicant), **_badge(w, now, actor.covers_for, cal)}
                for w in ordered]


_WI, _WIG, _CASE = WorkItem.__table__, WorkItemGroup.__table__, Case.__table__
_INBOX_ROWS = select(_WI, _CASE.c.case_no, _CASE.c.item_code, _CASE.c.applicant).join(_CASE, _CASE.c.id == _WI.c.case_id)
# The unfiltered inboxes, prepared once (engine/store/prepared.py): an index seek for the ids, then the rows shown.
_MINE = Prepared(_INBOX_ROWS.where(_WI.c.id.in_(
    select(_WI.c.id).where(_WI.c.assignee.in_(bindparam("holders", expanding=True)), _WI.c.is_open.is_(True))
    .order_by(_WI.c.due_at, _WI.c.id).limit(bindparam("n")))))
_GROUPS = Prepared(_INBOX_ROWS.where(_WI.c.id.in_(
    select(_WIG.c.work_item_id).where(_WIG.c.group_code.in_(bindparam("groups", expanding=True)),
                                      _WIG.c.department_id.in_(bindparam("departments", expanding=True)))
    .order_by(_WIG.c.due_key, _WIG.c.work_item_id).limit(bindparam("n")))))


STAGES = ("none", "warning", "yellow", "red")


def _inbox_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Check inbox filters: item code, supervision stage, overdue, applicant name, case number."""
    known = {"item", "stage", "overdue", "applicant", "case_no"}
    errors = {k: "unknown filter" for k in filters if k not in known}
    clean = {k: str(v).strip() for k, v in filters.items() if k in known and v not in (None, "", False)}
    if clean.get("stage") and clean["stage"] not in STAGES:
        errors["stage"] = f"must be one of {', '.join(STAGES)}"
    for key in ("item", "applicant", "case_no"):
        if len(clean.get(key, "")) > 64:
            errors[key] = "at most 64 characters"
    if "overdue" in clean:
        clean["overdue"] = clean["overdue"].lower() in ("1", "true", "yes", "on")
    if errors:
        raise InvalidInput("inbox filters are not valid", fields=errors)
    return clean


def _like(text: str) -> str:
    """A LIKE pattern for `text` as stored inside JSON (json.dumps escapes non-ASCII, on both databases)."""
    inner = json.dumps(text)[1:-1]
    return "%" + inner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filtered_inbox(actor, scope: str, holders: list[str], departments: list[int], f: dict[str, Any], now) -> Select:
    """The ids of the filtered inbox, in order, as one query over work items joined to their cases."""
    visible = []
    if scope in ("mine", "all"):
        visible.append(WorkItem.assignee.in_(holders))
    if scope in ("groups", "all") and actor.groups:
        visible.append(WorkItem.id.in_(select(WorkItemGroup.work_item_id).where(
            WorkItemGroup.group_code.in_(actor.groups), WorkItemGroup.department_id.in_(departments))))
    query = select(WorkItem.id).join(Case, Case.id == WorkItem.case_id).where(
        WorkItem.is_open.is_(True), or_(*visible) if visible else false())
    if f.get("item"):
        query = query.where(Case.item_code == f["item"])
    if f.get("stage"):
        query = query.where(WorkItem.card_level == f["stage"])
    if f.get("overdue"):
        query = query.where(WorkItem.due_at < now)
    if f.get("case_no"):
        query = query.where(Case.case_no.startswith(f["case_no"], autoescape=True))
    if f.get("applicant"):
        query = query.where(cast(Case.applicant, Text).like(_like(f["applicant"]), escape="\\"))
    return query.order_by(WorkItem.due_at.is_(None), WorkItem.due_at, WorkItem.id)


def _badge(w: WorkItem, now, covers_for: frozenset[str], cal: WorkingCalendar | None) -> dict[str, Any]:
    """Remaining working days until the item is due (negative when overdue) and whom the clerk acts for."""
    remaining = None
    if w.due_at is not None and cal is not None:
        today, due = now.astimezone(SHANGHAI).date(), w.due_at.astimezone(SHANGHAI).date()
        remaining = cal.working_days_between(today, due).days
    return {"remaining_days": remaining, "overdue": bool(w.due_at and w.due_at < now),
            "acting_for": w.assignee if w.assignee in covers_for else None}


def _work_item_view(w: WorkItem, case_no: str, item_code: str, applicant: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": w.task_id, "name": w.name, "bpmn_id": w.bpmn_id, "case_no": case_no,
            "item_code": item_code, "applicant": applicant.get("name"), "assignee": w.assignee,
            "groups": w.candidate_groups.split(",") if w.candidate_groups else [], "form_key": w.form_key,
            "created_at": w.created_at.isoformat(), "due_at": w.due_at.isoformat() if w.due_at else None,
            "card_level": w.card_level}


def case_detail(ow: OneWindow, case_no: str) -> dict[str, Any]:
    """A case's status, applicant, open tasks and event list."""
    with reading(ow.db) as session:
        case = find_case(session, case_no)
        items = session.scalars(select(WorkItem).where(WorkItem.case_id == case.id, WorkItem.is_open.is_(True))).all()
        return {
            "case_no": case.case_no, "item_code": case.item_code, "status": case.status, "result": case.result,
            "channel": case.channel, "applicant": case.applicant, "form_data": case.form_data,
            "received_at": case.received_at.isoformat(),
            "accepted_at": case.accepted_at.isoformat() if case.accepted_at else None,
            "concluded_at": case.concluded_at.isoformat() if case.concluded_at else None,
            "open_tasks": [_work_item_view(w, case.case_no, case.item_code, case.applicant) for w in items],
            "clocks": case_clocks(session, case, ow.clock.now()),
            "events": _events(session, case),
        }


def history(ow: OneWindow, case_no: str) -> list[dict[str, Any]]:
    """Every event of a case in order, with its hashes."""
    with reading(ow.db) as session:
        return _events(session, find_case(session, case_no))


def _events(session, case: Case) -> list[dict[str, Any]]:
    rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    return [{"seq": e.seq, "type": e.type, "actor": e.actor, "acting_for": e.acting_for, "at": e.at.isoformat(),
             "payload": e.payload, "state_hash": e.state_hash, "prev_hash": e.prev_hash, "hash": e.hash} for e in rows]
