"""Audit benchmarks on SQLite: the as-of view of a 200-event case, and `audit verify` over many cases.

1. One outdoor-advertising case driven through review ⇄ rework loops until it has ~200 events; the as-of view
   at its last and middle event (re-executed from the log, as the page and `history --at` do) beside the
   target of 100 ms, and what storing a state snapshot per event instead would cost in bytes.
2. N cases driven through the use-case layer (apply, accept, claim, review, survey, decide: 6 events each),
   then the whole history verified twice: hash chains only, and chains + re-execution. Reports cases/s
   and the ratio between the two.
Usage: python bench/audit.py [--cases 1000] [--events 200]   (--cases 10000: ~6 minutes of generation, 42 s of verification)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_database  # noqa: E402
from engine import services  # noqa: E402
from engine.history import CHECKPOINT_EVERY  # noqa: E402
from engine.replay import Replay, recorded_state_format  # noqa: E402
from engine.runtime import dump_state  # noqa: E402
from engine.services import audit  # noqa: E402
from engine.services.casework import find_case, spec_bundle  # noqa: E402
from engine.store.models import CaseCheckpoint, CaseEvent  # noqa: E402
from engine.store.uow import reading  # noqa: E402
from tests.integration.helpers import AD_APPLICATION  # noqa: E402

TARGET_MS = 100.0


def _task(ow, username: str, bpmn_id: str, case_no: str) -> str:
    return next(t["task_id"] for t in services.inbox(ow, username, limit=200)
                if t["bpmn_id"] == bpmn_id and t["case_no"] == case_no)


def long_case(ow, events: int) -> str:
    """A case looping review → rework (claim, complete) until it has about `events` events, then approved."""
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1")
    count = 2
    while count < events - 4:
        review = _task(ow, "reviewer1", "review", case_no)
        services.claim(ow, review, "reviewer1")
        services.complete(ow, review, "reviewer1", {"decision": "return", "opinion": f"第{count}次补正"})
        rework = _task(ow, "window1", "rework", case_no)
        services.complete(ow, rework, "window1", {"supplemented": ["材料"]})
        count += 3
    services.complete(ow, _task(ow, "reviewer1", "review", case_no), "reviewer1", {"decision": "pass", "opinion": "可"})
    services.complete(ow, _task(ow, "inspector1", "survey", case_no), "inspector1",
                      {"survey_result": "conforms", "survey_date": "2026-03-11"})
    services.complete(ow, _task(ow, "chief1", "decide", case_no), "chief1",
                      {"decision": "approve", "opinion": "准予", "certificate_no": "B-1"})
    return case_no


def best_ms(action, repeat: int = 7) -> float:
    """Best wall time of `repeat` runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def snapshot_bytes(ow, case_no: str) -> tuple[int, int]:
    """Bytes a snapshot per event would add, beside the bytes the event rows hold now."""
    with reading(ow.db) as session:
        case = find_case(session, case_no)
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
        replay = Replay(spec_bundle(ow, session, case.process_version_id), ow.forms, case.case_no,
                        recorded_state_format(events))
        snapshots = 0
        for event in events:
            replay.apply(event, check=False)
            snapshots += len(dump_state(replay.workflow, replay.state_format).encode())
        stored = sum(len(str(e.payload).encode()) + 64 * 3 + 64 for e in events)
        return snapshots, stored


def many_cases(ow, n: int) -> float:
    """Drive `n` cases to approval; returns cases/s of the generation."""
    start = time.perf_counter()
    for i in range(n):
        case_no = services.apply(ow, "outdoor-ad", "zhangsan", {**AD_APPLICATION, "site_address": f"解放路{i}号"})["case_no"]
        services.accept(ow, case_no, "window1")
        review = services.inbox(ow, "reviewer1", scope="groups", limit=1)[0]["task_id"]
        services.claim(ow, review, "reviewer1")
        services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "可"})
        survey = services.inbox(ow, "inspector1", scope="groups", limit=1)[0]["task_id"]
        services.complete(ow, survey, "inspector1", {"survey_result": "conforms", "survey_date": "2026-03-11"})
        decide = services.inbox(ow, "chief1", scope="groups", limit=1)[0]["task_id"]
        services.complete(ow, decide, "chief1", {"decision": "approve", "opinion": "准予", "certificate_no": f"B{i}"})
    return n / (time.perf_counter() - start)


def main() -> None:
    """Run both measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    console = Console()
    with bench_database("sqlite") as ow:
        services.seed_calendar(ow)
        services.deploy_catalogue(ow, "admin")
        case_no = long_case(ow, args.events)
        last = services.history(ow, case_no)[-1]["seq"]
        table = Table(title=f"as-of view of one case with {last} events (SQLite, best of 7)")
        for col in ("view", "ms", "target", "verified"):
            table.add_column(col, justify="right")
        for label, seq, diagram in (("last event", last, False), ("middle event", last // 2, False),
                                    ("last event + SVG diagram", last, True)):
            view = audit.case_as_of(ow, case_no, seq, diagram=diagram)
            ms = best_ms(lambda s=seq, d=diagram: audit.case_as_of(ow, case_no, s, diagram=d))
            table.add_row(label, f"{ms:.1f}", f"< {TARGET_MS:.0f}", str(view["verified"]))
        console.print(table)
        snapshots, stored = snapshot_bytes(ow, case_no)
        with reading(ow.db) as session:
            kept = session.scalar(select(func.sum(func.length(CaseCheckpoint.state_json)))) or 0
        console.print(f"a state snapshot per event would store {snapshots:,} bytes for this case "
                      f"({snapshots / last:,.0f} per event, {snapshots / stored:.0f}× the ~{stored:,} bytes of its "
                      f"event rows); the checkpoints kept every {CHECKPOINT_EVERY} events hold {kept:,} bytes "
                      f"({kept / snapshots:.1%} of that)")
        ow.db.dispose()
    with bench_database("sqlite") as ow:
        services.seed_calendar(ow)
        services.deploy_catalogue(ow, "admin")
        gen = many_cases(ow, args.cases)
        with reading(ow.db) as session:
            events = session.scalar(select(func.count(CaseEvent.id)))
        chain_times, full_times = [], []
        for _ in range(2):
            start = time.perf_counter()
            chained = audit.verify_history(ow, reexecute=False)
            chain_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            full = audit.verify_history(ow)
            full_times.append(time.perf_counter() - start)
        assert chained["problems"] == [] and full["problems"] == [], "the benchmark history must verify"
        cases = full["cases_checked"]
        chain_rate, full_rate = cases / statistics.median(chain_times), cases / statistics.median(full_times)
        table = Table(title=f"audit verify over {cases:,} cases / {events:,} events (SQLite, median of 2)")
        for col in ("check", "cases/s", "seconds", "ratio to chain-only"):
            table.add_column(col, justify="right")
        table.add_row("hash chains only", f"{chain_rate:,.0f}", f"{statistics.median(chain_times):.1f}", "1.00")
        table.add_row("chains + re-execution", f"{full_rate:,.0f}", f"{statistics.median(full_times):.1f}",
                      f"{full_rate / chain_rate:.2f}")
        console.print(table)
        console.print(f"(generating the cases through the use-case layer ran at {gen:,.0f} cases/s)")
        ow.db.dispose()


if __name__ == "__main__":
    main()
