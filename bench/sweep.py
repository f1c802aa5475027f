"""Sweeper benchmark: empty sweep vs a full scan at 10k → 1M pending deadlines, firing 1,000 stages, lateness.

Run: .venv/bin/python bench/sweep.py [--max 1000000] (PostgreSQL at ONEWINDOW_BENCH_PG, default the test server).
Prints one table per database. Targets: empty sweep < 5 ms and flat from 10k to 1M; 1,000 stages < 2 s;
timer lateness p99 <= heartbeat interval + 1 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import services  # noqa: E402
from engine.bootstrap import OneWindow  # noqa: E402
from engine.clock.timesource import ManualClock, SystemClock  # noqa: E402
from engine.scheduler import start_heartbeat  # noqa: E402
from engine.store.db import open_database, upgrade_schema  # noqa: E402
from engine.store.models import CaseEvent, Deadline  # noqa: E402
from engine.store.uow import reading, writing  # noqa: E402
from tests.clock.bulk import clone_cases  # noqa: E402
from tests.integration.helpers import accepted_ad_case  # noqa: E402

PG = os.environ.get("ONEWINDOW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 12, 2, 0, tzinfo=UTC)
CASES = 1000
HEARTBEAT = 1.0
COLUMNS = ("case_id, kind, ladder, budget_days, budget_unit, extended_days, paused_days, started_on, due_at, "
           "next_fire_at, stage, provisional, calendar_version, is_open")
# Pending rows wait for 2030 and later: never due at NOW, so every sweep below is an empty one.
BULK_SQL = {
    "postgresql": f"INSERT INTO deadline ({COLUMNS}) SELECT :c0 + (g % :nc), 'promised', 'default', 10, 'wd', 0, 0, "
                  "DATE '2026-03-10', TIMESTAMPTZ '2099-12-31 00:00+00', "
                  "TIMESTAMPTZ '2030-01-01 00:00+00' + (g + :off) * INTERVAL '1 second', 'running', false, 1, true "
                  "FROM generate_series(1, :n) g",
    "sqlite": f"INSERT INTO deadline ({COLUMNS}) WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq "
              "WHERE g < :n) SELECT :c0 + (g % :nc), 'promised', 'default', 10, 'wd', 0, 0, '2026-03-10', "
              "'2099-12-31 00:00:00.000000', datetime('2030-01-01', '+' || (g + :off) || ' seconds') || '.000000', "
              "'running', 0, 1, 1 FROM seq",
}
BASELINE = text("SELECT count(*) FROM deadline WHERE is_open = :t AND due_at <= :now")


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _prepare(url: str) -> OneWindow:
    from engine.services import deploy_catalogue, load_organisation, organisation, seed_calendar

    db = open_database(url)
    upgrade_schema(db)
    ow = OneWindow(db=db, clock=ManualClock(datetime(2026, 3, 10, 2, tzinfo=UTC)))
    load_organisation(ow, organisation.DEMO_ORGANISATION, "bench-pass")
    deploy_catalogue(ow, "admin")
    seed_calendar(ow)
    return ow


def _bulk(ow: OneWindow, first_case: int, n: int, offset: int) -> None:
    with ow.db.write_engine.begin() as conn:
        conn.execute(text(BULK_SQL[ow.db.write_engine.dialect.name]),
                     {"c0": first_case, "nc": CASES, "n": n, "off": offset})
    # Measure the steady state, not the aftermath of a bulk load: vacuum, statistics and a checkpoint first.
    if ow.db.is_sqlite:
        raw = ow.db.write_engine.raw_connection()  # outside any transaction, which a checkpoint needs
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    else:
        with ow.db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE deadline"))
            conn.execute(text("CHECKPOINT"))


def _lateness(ow: OneWindow, case_ids: list[int], count: int = 200, spread: float = 8.0) -> list[float]:
    """Deadlines due over the next seconds on the real clock, swept by the APScheduler heartbeat."""
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    due = [start + timedelta(seconds=spread * i / count) for i in range(count)]
    with writing(ow.db) as s:
        rows = s.scalars(select(Deadline).where(Deadline.stage == "running", Deadline.is_open.is_(True),
                                                Deadline.next_fire_at >= datetime(2030, 1, 1, tzinfo=UTC))
                         .order_by(Deadline.id).limit(count)).all()
        for row, at in zip(rows, due, strict=True):
            row.next_fire_at = at
        ids = {r.id: at for r, at in zip(rows, due, strict=True)}
    live = OneWindow(db=ow.db, clock=SystemClock(), forms=ow.forms, specs=ow.specs)
    heartbeat = start_heartbeat(live, HEARTBEAT)
    time.sleep(spread + HEARTBEAT + 2.5)
    heartbeat.shutdown(wait=True)
    with reading(ow.db) as s:
        events = s.execute(select(CaseEvent.payload, CaseEvent.at).where(CaseEvent.type == "warning_issued",
                                                                          CaseEvent.at >= start - timedelta(days=1))).all()
    # `at` is the sweep's "now" (when the heartbeat woke); the commit follows within the batch time.
    return [(at - ids[p["deadline_id"]]).total_seconds() for p, at in events if p["deadline_id"] in ids]


def run(name: str, url: str, sizes: list[int]) -> list[tuple[str, str, str]]:
    ow = _prepare(url)
    template = accepted_ad_case(ow)
    case_ids = clone_cases(ow, template, CASES)
    rows: list[tuple[str, str, str]] = []
    have = 0
    for size in sizes:
        t0 = time.perf_counter()
        _bulk(ow, case_ids[0], size - have, have)
        load = time.perf_counter() - t0
        have = size
        services.sweep(ow, NOW)  # warm the connection and the statement cache
        empty = _time(lambda: services.sweep(ow, NOW), 50)

        def scan():
            with reading(ow.db) as s:
                s.execute(BASELINE, {"t": True, "now": NOW}).scalar()

        base = _time(scan, 5)
        rows.append((f"{size:>9,} pending: empty sweep", f"{_ms(empty):8.2f} ms",
                     f"full scan {_ms(base):8.2f} ms  ({_ms(base) / _ms(empty):6.0f}× slower)  [load {load:.1f} s]"))
    with writing(ow.db) as s:
        ids = select(Deadline.id).order_by(Deadline.id).limit(1000).scalar_subquery()
        s.execute(update(Deadline).where(Deadline.id.in_(ids)).values(next_fire_at=NOW - timedelta(hours=1)),
                  execution_options={"synchronize_session": False})
    t0 = time.perf_counter()
    fired = services.sweep(ow, NOW)
    took = time.perf_counter() - t0
    rows.append(("fire 1,000 due stages", f"{took:8.2f} s", f"{len(fired)} fired, {took / max(len(fired), 1) * 1000:.2f} "
                 f"ms/stage (target < 2 s)"))
    late = sorted(_lateness(ow, case_ids))
    if late:
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
        rows.append(("timer lateness (heartbeat 1 s)", f"p99 {p99:5.2f} s",
                     f"p50 {statistics.median(late):.2f} s, max {late[-1]:.2f} s over {len(late)} timers "
                     f"(target p99 <= {HEARTBEAT + 1:.0f} s)"))
    with reading(ow.db) as s:
        total = s.scalar(select(func.count(Deadline.id)))
    rows.append(("deadline rows at the end", f"{total:,}", name))
    ow.db.dispose()
    return rows


def main() -> None:
    """Run the benchmark on SQLite and PostgreSQL and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [s for s in (10_000, 100_000, 1_000_000) if s <= args.max] or [args.max]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run("SQLite", f"sqlite:///{tmp}/bench.db", sizes)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        results["PostgreSQL"] = run("PostgreSQL", f"{PG}?options=-csearch_path%3D{schema}", sizes)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    for name, rows in results.items():
        print(f"\n{name}")
        for label, value, note in rows:
            print(f"  {label:<36} {value:>12}   {note}")


if __name__ == "__main__":
    main()
