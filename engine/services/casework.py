"""One case change in one transaction: load the workflow, change it, then save state, history and inbox together."""
from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.clock.deadlines import sync_case_clocks
from engine.clock.timers import arm_timers
from engine.errors import InvalidInput, NotFound
from engine.history import append_event, case_state_hash
from engine.runtime import (
    EngineEnvironment,
    SpecBundle,
    dump_state,
    engine_environment,
    load_state,
    ready_user_tasks,
)
from engine.store.models import Case, Department, ProcessVersion, WorkItem, WorkItemGroup
from engine.store.prepared import Prepared
from engine.store.uow import after_commit
from engine.store.writes import adopt, loaded_columns, stored_in_session, write_through


def spec_bundle(ow: OneWindow, session: Session, version_id: int) -> SpecBundle:
    """The cached spec of a process version (read from the database on a cache miss)."""
    return ow.specs.get(version_id, lambda: session.scalar(
        select(ProcessVersion.spec_json).where(ProcessVersion.id == version_id)))


def find_case(session: Session, case_no: str) -> Case:
    """Load a case by its number or refuse with NotFound."""
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    if case is None:
        raise NotFound(f"no case {case_no}")
    return case


# A prepared statement and `adopt`: the ORM's loading machinery cost more than the query (engine/store/writes.py).
# The row holds the case's columns, then the work item's.
_CASE_COLUMNS, _ITEM_COLUMNS = loaded_columns(Case), loaded_columns(WorkItem)
_CASE_KEYS, _ITEM_KEYS = [c.key for c in _CASE_COLUMNS], [c.key for c in _ITEM_COLUMNS]
_CASE_AND_ITEM = Prepared(
    select(*(c.label(f"c_{c.key}") for c in _CASE_COLUMNS), *(c.label(f"w_{c.key}") for c in _ITEM_COLUMNS))
    .join_from(Case.__table__, WorkItem.__table__, WorkItem.__table__.c.case_id == Case.__table__.c.id)
    .where(WorkItem.__table__.c.task_id == bindparam("task_id")))


def case_of_task(session: Session, task_id: str) -> Case:
    """Load the case that owns a work item."""
    return case_and_item(session, task_id)[0]


def case_and_item(session: Session, task_id: str) -> tuple[Case, WorkItem]:
    """Load a work item and its case in one query."""
    row = _CASE_AND_ITEM.first(session, {"task_id": task_id})
    if row is None:
        raise NotFound(f"no task {task_id}")
    split = len(_CASE_KEYS)
    return (adopt(session, Case, dict(zip(_CASE_KEYS, row[:split], strict=True))),
            adopt(session, WorkItem, dict(zip(_ITEM_KEYS, row[split:], strict=True))))


class CaseChange:
    """A case opened for change; `commit` writes state, the event and the inbox projection as one unit."""

    def __init__(self, ow: OneWindow, session: Session, case: Case, wf: BpmnWorkflow | None = None):
        self.ow, self.session, self.case = ow, session, case
        self.bundle = spec_bundle(ow, session, case.process_version_id)
        self.wf = wf or ow.workflows.take(case.id, self.bundle, case.state_json) or load_state(
            self.bundle, case.state_json, case.state_format)

    def stepping(self, now: datetime) -> AbstractContextManager[EngineEnvironment]:
        """Run engine steps as the case's next event at `now`: the ids and times a re-execution will reproduce."""
        return engine_environment(self.case.case_no, self.case.last_seq + 1, now, self.wf)

    def record(self, type_: str, actor: str, payload: dict[str, Any], now: datetime,
               acting_for: str | None = None) -> None:
        """Save the workflow state, append the event and re-project the case's work items and clocks."""
        arm_timers(self.wf)
        state = dump_state(self.wf, self.case.state_format)
        self.case.state_json = state
        append_event(self.session, self.case, type_, actor, payload, now, case_state_hash(self.case), acting_for)
        write_through(self.session, self.case)
        project_work_items(self.session, self.case, self.wf, now, closed_by=actor)
        sync_case_clocks(self.session, self.case, self.wf, now)
        if self.bundle.clock_steps:
            # Imported here: the clock use cases are built on this module.
            from engine.services.clock import follow_clock_steps

            follow_clock_steps(self.session, self.case, self.wf, self.bundle.clock_steps, actor, now)
        keep_live(self.ow, self.session, self.case.id, self.bundle, state, self.wf)


def keep_live(ow: OneWindow, session: Session, case_id: int, bundle: SpecBundle, state: str, wf: BpmnWorkflow) -> None:
    """Offer the case's workflow to the next change once this transaction has stored `state`."""
    after_commit(session, ("live-workflow", case_id), lambda: ow.workflows.put(case_id, bundle, state, wf))


def task_meta(task: Task) -> dict[str, Any]:
    """Assignment, properties, form key and names of a user task."""
    spec = task.task_spec
    ext = getattr(spec, "extensions", {}) or {}
    assignment = ext.get("assignment", {}) or {}
    groups = assignment.get("candidate_groups") or ([spec.lane] if getattr(spec, "lane", None) else [])
    return {
        "groups": groups,
        "assignee": assignment.get("assignee"),
        "form_key": assignment.get("form_key"),
        "properties": ext.get("properties", {}) or {},
        "bpmn_id": spec.bpmn_id,
        "name": spec.bpmn_name or spec.bpmn_id,
    }


_WI = WorkItem.__table__
_INSERT_ITEM = Prepared(insert(_WI).returning(_WI.c.id))
_INSERT_GROUP = Prepared(insert(WorkItemGroup.__table__))
_OPEN_ITEMS = Prepared(select(_WI.c.id, _WI.c.task_id, _WI.c.assignee).where(_WI.c.case_id == bindparam("case_id"),
                                                                             _WI.c.is_open.is_(True)))
_CLOSE_ITEM = Prepared(update(_WI).where(_WI.c.id == bindparam("_id"))
                       .values(is_open=False, closed_at=bindparam("at"), closed_by=bindparam("by")))


def project_work_items(session: Session, case: Case, wf: BpmnWorkflow, now: datetime, closed_by: str | None,
                       new_case: bool = False) -> None:
    """Make the case's open work items match the workflow's READY manual tasks (`new_case`: none exist yet)."""
    # Prepared statements throughout: work items are rows to open and close, and the unit of work's bookkeeping
    # for them cost more than the statements (see engine/store/writes.py and engine/store/prepared.py).
    open_items = {} if new_case else {row.task_id: row for row in _OPEN_ITEMS.rows(session, {"case_id": case.id})}
    ready = {str(t.id): t for t in ready_user_tasks(wf)}
    gone = [row for tid, row in open_items.items() if tid not in ready]
    if gone:
        _CLOSE_ITEM.run_many(session, [{"_id": row.id, "at": now, "by": closed_by} for row in gone])
        for row in gone:
            # A work item already loaded in this transaction (the one being completed) must read as closed too.
            stored_in_session(session, WorkItem, row.id, is_open=False, closed_at=now, closed_by=closed_by)
        # Claimed items have no group rows (claim removed them), so only unclaimed ones need the delete.
        unclaimed = [row.id for row in gone if not row.assignee]
        if unclaimed:
            drop_group_rows(session, unclaimed)
    for tid, task in ready.items():
        if tid not in open_items:
            _insert_item(session, case, tid, task, now)


def _insert_item(session: Session, case: Case, task_id: str, task: Task, now: datetime) -> None:
    # New rows go straight in as Core inserts: a later query in this transaction loads them like any other row,
    # and the unit of work's insert machinery cost more than the inserts themselves.
    meta = task_meta(task)
    department_id = task_department(session, case, task, meta)
    item_id = _INSERT_ITEM.rows(session, {
        "case_id": case.id, "task_id": task_id, "bpmn_id": meta["bpmn_id"], "name": meta["name"],
        "form_key": meta["form_key"], "candidate_groups": ",".join(meta["groups"]), "assignee": meta["assignee"],
        "department_id": department_id, "is_open": True, "created_at": now, "due_at": None, "card_level": "none",
    })[0].id
    if not meta["assignee"]:
        _INSERT_GROUP.run_many(session, [{"work_item_id": item_id, "group_code": group,
                                          "department_id": department_id or 0, "due_key": due_key(None)}
                                         for group in filter(None, meta["groups"])])


_DEPARTMENT_ID = Prepared(select(Department.__table__.c.id).where(Department.__table__.c.code == bindparam("code")))


def department_of(session: Session, code: str) -> int | None:
    """The id of the department with `code`, if there is one."""
    row = _DEPARTMENT_ID.first(session, {"code": code})
    return row.id if row else None


def task_department(session: Session, case: Case, task: Task, meta: dict[str, Any]) -> int | None:
    """Whose inbox a task lands in: its `department` property, the department code held in the task data named
    by `department_from` (a joint review's multi-instance child), else the case's department."""
    props = meta["properties"]
    code = props.get("department") or (task.data.get(props["department_from"]) if props.get("department_from") else None)
    if not code:
        return case.department_id
    department_id = department_of(session, code)
    if department_id is None:
        raise InvalidInput(f"task '{meta['name']}' of case {case.case_no} belongs to department '{code}', "
                           "which does not exist")
    return department_id


def add_group_rows(item: WorkItem) -> None:
    """List an unclaimed work item in each of its candidate groups' inboxes."""
    item.groups.extend(WorkItemGroup(group_code=group, department_id=item.department_id or 0,
                                     due_key=due_key(item.due_at))
                       for group in filter(None, item.candidate_groups.split(",")))


_WIG = WorkItemGroup.__table__
_DROP_GROUPS = Prepared(delete(_WIG).where(_WIG.c.work_item_id == bindparam("_id")))


def drop_group_rows(session: Session, work_item_ids: list[int]) -> None:
    """Take work items out of the group inboxes (claimed or closed)."""
    # A prepared statement: the ORM's bulk-delete machinery cost more than the delete.
    _DROP_GROUPS.run_many(session, [{"_id": item_id} for item_id in work_item_ids])


def due_key(due_at: datetime | None) -> str:
    """Sortable text for a due time; undated work sorts after everything dated."""
    return due_at.strftime("%Y%m%d%H%M%S") if due_at else "z"
