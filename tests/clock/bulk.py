"""Bulk fixtures for sweeper tests and the benchmark: cloned cases and due deadline rows, inserted directly."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from engine.bootstrap import OneWindow
from engine.services.casework import find_case
from engine.store.models import Case, Deadline
from engine.store.uow import writing

FAR = datetime(2099, 12, 31, 15, 59, 59)


def clone_cases(ow: OneWindow, template_case_no: str, count: int, prefix: str = "B") -> list[int]:
    """Insert `count` copies of a case (same state, fresh history); returns their ids in order."""
    with writing(ow.db) as session:
        template = find_case(session, template_case_no)
        base = {c.key: getattr(template, c.key) for c in Case.__table__.columns if c.key != "id"}
        rows = [{**base, "case_no": f"{prefix}{i:09d}", "last_seq": 0, "last_hash": "", "row_version": 1}
                for i in range(count)]
        session.execute(insert(Case), rows)
        return list(session.scalars(select(Case.id).where(Case.case_no.like(f"{prefix}%")).order_by(Case.id)))


def add_due_warnings(ow: OneWindow, case_ids: list[int], per_case: int, fire_from: datetime) -> int:
    """Add `per_case` promised clocks to each case whose warning is due (one microsecond apart, case by case)."""
    due_at = FAR.replace(tzinfo=fire_from.tzinfo)
    rows, k = [], 0
    for case_id in case_ids:
        for _ in range(per_case):
            rows.append({"case_id": case_id, "kind": "promised", "ladder": "default", "budget_days": 10,
                         "budget_unit": "wd", "extended_days": 0, "paused_days": 0, "started_on": date(2026, 3, 10),
                         "due_at": due_at, "next_fire_at": fire_from + timedelta(microseconds=k), "stage": "running",
                         "provisional": False, "calendar_version": 1, "is_open": True})
            k += 1
    with writing(ow.db) as session:
        session.execute(insert(Deadline), rows)
    return len(rows)
