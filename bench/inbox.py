"""Inbox first page at scale: 100,000 open and 1,000,000 closed work items, with and without the projection's indexes.

Rows are bulk-inserted directly (cases, work items, the group rows of unclaimed items). The measured call is the
use case itself, `services.inbox(ow, clerk, "groups", 20)`: the first page of a reviewer's group inbox, sorted by
due time. Then the projection's indexes are dropped and the same call is timed again.
Usage: python bench/inbox.py [--databases sqlite,postgres] [--open N] [--closed N] [--runs N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_database  # noqa: E402
from engine import services  # noqa: E402
from engine.services.casework import due_key  # noqa: E402
from engine.store.models import Case, Department, ProcessVersion, WorkItem, WorkItemGroup  # noqa: E402
from engine.store.uow import writing  # noqa: E402

GROUPS = ("window", "reviewer", "inspector", "chief")
PROJECTION_INDEXES = ("ix_work_item_group_inbox", "ix_work_item_assignee_open_due", "ix_work_item_case_open")
ITEMS_PER_CASE = 11
BATCH = 20_000
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def fill(ow, open_items: int, closed_items: int) -> None:
    """Bulk-insert cases and work items: open ones spread over four groups and two departments, closed ones aged."""
    services.deploy_catalogue(ow, "bench")
    with writing(ow.db) as session:
        version_id = session.scalar(select(ProcessVersion.id).where(ProcessVersion.item_code == "outdoor-ad"))
        departments = [session.scalar(select(Department.id).where(Department.code == c))
                       for c in ("city-urban", "city-market")]
        total = open_items + closed_items
        cases = total // ITEMS_PER_CASE + 1
        rows = [{"id": i + 1, "case_no": f"B{i + 1:010d}", "lookup_code": "000000", "item_code": "outdoor-ad",
                 "process_version_id": version_id, "department_id": departments[i % 2],
                 "applicant": {"name": f"申请人{i % 997}"}, "channel": "online", "status": "IN_REVIEW",
                 "form_data": {}, "received_at": T0, "state_json": "{}", "serializer_version": "bench",
                 "last_seq": 0, "last_hash": "", "row_version": 1} for i in range(cases)]
        for start in range(0, len(rows), BATCH):
            session.execute(insert(Case), rows[start:start + BATCH])
        for start in range(0, total, BATCH):
            items, groups = [], []
            for n in range(start, min(start + BATCH, total)):
                is_open = n < open_items
                group = GROUPS[n % len(GROUPS)]
                due = T0 + timedelta(minutes=(n * 7919) % 200_000)
                department = departments[(n // ITEMS_PER_CASE) % 2]
                items.append({"id": n + 1, "case_id": n // ITEMS_PER_CASE + 1, "task_id": f"{n:036d}",
                              "bpmn_id": "review", "name": "部门审查", "form_key": "review",
                              "candidate_groups": group, "assignee": None, "department_id": department,
                              "is_open": is_open, "created_at": T0, "due_at": due, "card_level": "none",
                              "closed_at": None if is_open else due, "closed_by": None if is_open else "bench"})
                if is_open:
                    groups.append({"work_item_id": n + 1, "group_code": group, "department_id": department,
                                   "due_key": due_key(due)})
            session.execute(insert(WorkItem), items)
            if groups:
                session.execute(insert(WorkItemGroup), groups)
    # Fresh statistics, and on PostgreSQL a finished vacuum, so no background maintenance runs while timing.
    if ow.db.is_sqlite:
        with writing(ow.db) as session:
            session.execute(text("ANALYZE"))
    else:
        with ow.db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def p95_ms(ow, runs: int) -> tuple[float, int]:
    """p95 server time of the first page of reviewer1's group inbox, and the page's size."""
    services.inbox(ow, "reviewer1", "groups", 20)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        page = services.inbox(ow, "reviewer1", "groups", 20)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(times, n=20)[-1], len(page)


def measure(kind: str, open_items: int, closed_items: int, runs: int) -> tuple[float, float, int]:
    """(p95 with indexes, p95 without, page size) on one database kind."""
    with bench_database(kind) as ow:
        started = time.perf_counter()
        fill(ow, open_items, closed_items)
        print(f"{kind}: inserted {open_items:,} open + {closed_items:,} closed items in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        with_indexes, size = p95_ms(ow, runs)
        with writing(ow.db) as session:
            for name in PROJECTION_INDEXES:
                session.execute(text(f"DROP INDEX {name}"))
        without, _ = p95_ms(ow, max(5, runs // 10))
        ow.db.dispose()
        return with_indexes, without, size


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--closed", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    table = Table(title=f"inbox first page (20 rows) — {args.open:,} open, {args.closed:,} closed work items")
    for column in ("database", "p95 with indexes", "p95 without", "ratio", "target < 100 ms"):
        table.add_column(column)
    for kind in args.databases.split(","):
        with_indexes, without, size = measure(kind, args.open, args.closed, args.runs)
        assert size == 20, f"the first page has {size} rows"
        table.add_row(kind, f"{with_indexes:.2f} ms", f"{without:.1f} ms", f"{without / with_indexes:.1f}×",
                      "met" if with_indexes < 100 else "MISSED")
    Console().print(table)


if __name__ == "__main__":
    main()
